// Command pouch is sealed, verifiable correspondence between principals,
// carried by envoys.
//
// Each verb lives in its own file in this folder and registers itself with
// register in an init function, so adding a verb never touches this file.
// Conventions (see ../../../shared/CLI.md and spec/cli.md):
//
//   - errors go to stderr as "pouch: <what is wrong>", then
//     "pouch: hint: <how to fix>" where there is a fix;
//   - exit status 0 on success, 1 when a check failed (a signature, a proof),
//     2 on usage errors;
//   - every flag that scripts need has a POUCH_* environment variable;
//   - work that takes more than a second (sealing, sending, submitting,
//     fetching, opening or verifying a large letter) shows one progress
//     line on stderr when stderr is a terminal, cleared when it ends, and
//     nothing when it is piped (progress.go).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// A verb is one pouch subcommand.
type verb struct {
	name  string // "seal"
	args  string // "[flags] LETTER.md"
	short string // one line for the verb list
	long  string // the rest of the help text, with an example from the scenario
	// run executes the verb. args are the arguments after the verb name.
	run func(ctx *cmdContext, args []string) error
}

var verbs = map[string]*verb{}

func register(v *verb) {
	if _, dup := verbs[v.name]; dup {
		panic("pouch: verb registered twice: " + v.name)
	}
	verbs[v.name] = v
}

// cmdContext is what a verb needs from the outside world; tests replace it.
type cmdContext struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError is a misuse of the command line: exit status 2.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

// checkError is a failed check (signature, proof, commitment): exit status 1.
type checkError struct{ err error }

func (e *checkError) Error() string { return e.err.Error() }
func (e *checkError) Unwrap() error { return e.err }

// hinted is an error with a fix to suggest.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() }
func (e *hinted) Unwrap() error { return e.err }

// withHint attaches a hint to err.
func withHint(err error, format string, a ...any) error {
	return &hinted{err: err, hint: fmt.Sprintf(format, a...)}
}

func usagef(hint, format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), hint: hint}
}

func main() {
	ctx := &cmdContext{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	hardenAgent = true
	os.Exit(runMain(ctx, os.Args[1:]))
}

// runMain runs one command line and returns the exit status.
func runMain(ctx *cmdContext, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if v, ok := verbs[args[1]]; ok {
				printVerbHelp(ctx.stdout, v)
				return 0
			}
		}
		printUsage(ctx.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(ctx.stdout, "pouch", version())
		return 0
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(ctx.stderr, "pouch: unknown verb %q\n", args[0])
		if s := suggest(args[0]); s != "" {
			fmt.Fprintf(ctx.stderr, "pouch: hint: did you mean \"pouch %s\"?\n", s)
		} else {
			fmt.Fprintln(ctx.stderr, "pouch: hint: run \"pouch help\" for the list of verbs")
		}
		return 2
	}
	err := v.run(ctx, args[1:])
	return report(ctx.stderr, v, err)
}

// report prints err in the CLI's convention and returns the exit status.
func report(w io.Writer, v *verb, err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	status := 1
	var ue *usageError
	if errors.As(err, &ue) {
		status = 2
	}
	fmt.Fprintf(w, "pouch: %s\n", err)
	var h *hinted
	switch {
	case ue != nil && ue.hint != "":
		fmt.Fprintf(w, "pouch: hint: %s\n", ue.hint)
	case errors.As(err, &h):
		fmt.Fprintf(w, "pouch: hint: %s\n", h.hint)
	case ue != nil && v != nil:
		fmt.Fprintf(w, "pouch: hint: run \"pouch %s --help\"\n", v.name)
	}
	return status
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "pouch: sealed, verifiable correspondence between principals, carried by envoys.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: pouch VERB [flags] [args]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, verbs[n].short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "pouch VERB --help" for a verb's flags and an example.`)
}

func printVerbHelp(w io.Writer, v *verb) {
	fmt.Fprintf(w, "Usage: pouch %s %s\n\n%s\n", v.name, v.args, v.short)
	if v.long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(v.long))
	}
}

// newFlags returns a FlagSet for v whose -h prints the verb's help.
func newFlags(ctx *cmdContext, v *verb) *flag.FlagSet {
	fs := flag.NewFlagSet("pouch "+v.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs, printing the help on -h and turning flag
// errors into usage errors. Flags may follow positional arguments.
func parseFlags(ctx *cmdContext, v *verb, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printVerbHelp(ctx.stdout, v)
				fmt.Fprintln(ctx.stdout, "\nFlags:")
				fs.SetOutput(ctx.stdout)
				fs.PrintDefaults()
				return nil, flag.ErrHelp
			}
			return nil, usagef("", "%s: %v", v.name, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func suggest(name string) string {
	best, bestD := "", 3
	for n := range verbs {
		if d := editDistance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}
