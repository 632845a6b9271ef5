// Command pouch is sealed, verifiable correspondence between principals,
// carried by envoys.
//
// Each verb lives in its own file in this folder and registers itself with
// register in an init function, so adding a verb never touches this file.
// A verb with subcommands ("key export") lists them in its subs. The
// conventions every verb keeps are in spec/cli.md:
//
//   - errors go to stderr as "pouch: <what is wrong>", then
//     "pouch: hint: <how to fix>" where there is a fix;
//   - exit status 0 on success, 1 when a check or the operation failed (a
//     signature, a proof, a refusal), 2 on usage errors;
//   - with --json, every line of standard output is one envelope
//     {"v":1,"verb":...,"ok":...,"result"|"error":...} (output.go);
//   - a verb that makes a record prints its ID alone on standard output,
//     and says what it did on standard error;
//   - every flag that scripts need has a POUCH_* environment variable;
//   - every verb's --help shows its flags and an example from the
//     reference scenario (docs/scenario.md).
//   - work that takes more than a second (sealing, sending, submitting,
//     fetching, opening or verifying a large letter) shows one progress
//     line on stderr when stderr is a terminal, cleared when it ends, and
//     nothing when it is piped (progress.go).
package main

import (
	"context"
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
	name  string // "seal"; a subcommand's is its verb's and its own: "key export"
	args  string // "[flags] LETTER.md"
	short string // one line for the verb list
	long  string // the rest of the help text, with an example from the scenario
	// run executes the verb. args are the arguments after the verb name
	// (and the subcommand's). For a verb with subcommands, run, if set,
	// takes the command lines whose first argument names none ("pouch
	// house ir").
	run func(ctx *cmdContext, args []string) error
	// subs are the verb's subcommands, in the order help lists them.
	subs []*verb
}

// sub returns v's subcommand named name ("export"), or nil.
func (v *verb) sub(name string) *verb {
	for _, s := range v.subs {
		if s.name == v.name+" "+name {
			return s
		}
	}
	return nil
}

// subNames lists v's subcommands: "export, import or list".
func (v *verb) subNames() string {
	var ns []string
	for _, s := range v.subs {
		ns = append(ns, strings.TrimPrefix(s.name, v.name+" "))
	}
	if len(ns) < 2 {
		return strings.Join(ns, "")
	}
	return strings.Join(ns[:len(ns)-1], ", ") + " or " + ns[len(ns)-1]
}

// verbNamed returns the verb or subcommand named name ("key export").
func verbNamed(name string) *verb {
	top, rest, _ := strings.Cut(name, " ")
	v := verbs[top]
	if v == nil || rest == "" {
		return v
	}
	return v.sub(rest)
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

	// verb is the verb being run, with its subcommand ("key export"), as
	// the JSON envelope names it.
	verb string
	// json is set when the command line asks for --json: standard output
	// then carries envelopes only, failures included.
	json bool
	// flagsOnly makes --help print the flags alone, for the help of a
	// verb with subcommands, which lists each one's.
	flagsOnly bool
	// base, if set, ends the verbs that run until interrupted (serve,
	// inbox --follow, line, ui) when it is done, as SIGINT does; tests
	// set it.
	base context.Context
}

// context returns the context a verb runs under.
func (ctx *cmdContext) context() context.Context {
	if ctx.base != nil {
		return ctx.base
	}
	return context.Background()
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
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) > 1 {
			if _, ok := verbs[args[1]]; ok {
				// "pouch help VERB [SUB]" is "pouch VERB [SUB] --help".
				return runMain(ctx, append(append([]string{}, args[1:]...), "--help"))
			}
		}
		printUsage(ctx.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		if jsonRequested(args[1:]) {
			ctx.verb = "version"
			writeEnvelope(ctx.stdout, &envelope{V: JSONVersion, Verb: "version", OK: true, Result: map[string]string{"version": version()}})
			return 0
		}
		fmt.Fprintln(ctx.stdout, "pouch", version())
		return 0
	}
	ctx.json = jsonRequested(args[1:])
	v, ok := verbs[args[0]]
	if !ok {
		ctx.verb = args[0]
		hint := "run \"pouch help\" for the list of verbs"
		if s := suggest(args[0]); s != "" {
			hint = fmt.Sprintf("did you mean \"pouch %s\"?", s)
		}
		return report(ctx, nil, usagef(hint, "unknown verb %q", args[0]))
	}
	rest := args[1:]
	for len(v.subs) > 0 {
		if len(rest) > 0 && isHelp(rest[0]) {
			printVerbHelp(ctx.stdout, v)
			printSubFlags(ctx, v)
			return 0
		}
		if len(rest) > 0 {
			if s := v.sub(rest[0]); s != nil {
				v, rest = s, rest[1:]
				continue
			}
		}
		if v.run == nil {
			ctx.verb = v.name
			if len(rest) == 0 {
				return report(ctx, v, usagef("", "%s: want a subcommand: %s", v.name, v.subNames()))
			}
			return report(ctx, v, usagef("", "%s: unknown subcommand %q (want %s)", v.name, rest[0], v.subNames()))
		}
		break
	}
	ctx.verb = v.name
	err := v.run(ctx, rest)
	return report(ctx, v, err)
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// printSubFlags prints the flags of each of v's subcommands (and of v
// itself, if it runs without one), by running each with --help in
// flags-only mode: every verb parses its flags before it does anything.
func printSubFlags(ctx *cmdContext, v *verb) {
	quiet := *ctx
	quiet.flagsOnly = true
	if v.run != nil {
		quiet.verb = v.name
		v.run(&quiet, []string{"--help"})
	}
	for _, s := range v.subs {
		quiet.verb = s.name
		s.run(&quiet, []string{"--help"})
	}
}

// report prints err in the CLI's convention and returns the exit status:
// "pouch: ..." and "pouch: hint: ..." on standard error, and with --json
// the error's envelope on standard output.
func report(ctx *cmdContext, v *verb, err error) int {
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
	hint := ""
	var h *hinted
	switch {
	case ue != nil && ue.hint != "":
		hint = ue.hint
	case errors.As(err, &h):
		hint = h.hint
	case ue != nil && v != nil:
		hint = fmt.Sprintf("run \"pouch %s --help\"", v.name)
	}
	fmt.Fprintf(ctx.stderr, "pouch: %s\n", err)
	if hint != "" {
		fmt.Fprintf(ctx.stderr, "pouch: hint: %s\n", hint)
	}
	if ctx.json {
		e := &envelope{V: JSONVersion, Verb: ctx.verb, Error: &jsonError{Code: errorCode(err), Message: err.Error(), Hint: hint, Exit: status}}
		var re *resultError
		if errors.As(err, &re) {
			e.Result = re.result
		}
		writeEnvelope(ctx.stdout, e)
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
	usage := "Usage:"
	if v.run != nil || len(v.subs) == 0 {
		fmt.Fprintf(w, "%s pouch %s %s\n", usage, v.name, v.args)
		usage = "      "
	}
	for _, s := range v.subs {
		fmt.Fprintf(w, "%s pouch %s %s\n", usage, s.name, s.args)
		usage = "      "
	}
	fmt.Fprintf(w, "\n%s\n", v.short)
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
				printFlags(ctx, v, fs)
				return nil, flag.ErrHelp
			}
			return nil, usagef("", "%s: %v", v.name, err)
		}
		if f := fs.Lookup("json"); f != nil && f.Value.String() == "true" {
			ctx.json = true
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

// printFlags prints v's help and its flags, or with ctx.flagsOnly the
// flags alone, under the subcommand's name.
func printFlags(ctx *cmdContext, v *verb, fs *flag.FlagSet) {
	fs.SetOutput(ctx.stdout)
	if ctx.flagsOnly {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			fmt.Fprintf(ctx.stdout, "\nFlags of pouch %s: none\n", v.name)
			return
		}
		fmt.Fprintf(ctx.stdout, "\nFlags of pouch %s:\n", v.name)
		fs.PrintDefaults()
		return
	}
	printVerbHelp(ctx.stdout, v)
	fmt.Fprintln(ctx.stdout, "\nFlags:")
	fs.PrintDefaults()
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
