package main

// Helpers shared by the verbs that use keys: the home folder, passphrases,
// picking the principal to act as, resolving handles to public keys, and
// output conventions (JSON, binary output never to a terminal).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"

	"pouch.dev/keys"
	"pouch.dev/record"
)

// openHome returns the home folder: $POUCH_HOME, or pouch/ in the user's
// configuration directory. POUCH_SCRYPT_LOG_N lowers the scrypt work
// factor of new keys; it exists for tests, which create many principals,
// and must not be used for real keys.
func openHome(ctx *cmdContext) (*keys.Home, error) {
	dir, err := keys.DefaultDir(ctx.getenv)
	if err != nil {
		return nil, withHint(err, "set POUCH_HOME to the folder for your keys")
	}
	h := &keys.Home{Dir: dir}
	if s := ctx.getenv("POUCH_SCRYPT_LOG_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 22 {
			return nil, usagef("unset it, or use a number from 1 to 22 (for tests only)", "POUCH_SCRYPT_LOG_N=%q is not a work factor", s)
		}
		h.ScryptLogN = n
	}
	return h, nil
}

// passphrase returns POUCH_PASSPHRASE, or asks for one on the terminal.
// With confirm, it asks twice and requires the same answer.
func passphrase(ctx *cmdContext, prompt string, confirm bool) (string, error) {
	if p := ctx.getenv("POUCH_PASSPHRASE"); p != "" {
		return p, nil
	}
	f, ok := ctx.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", withHint(errors.New("a passphrase is needed and there is no terminal to ask for it"),
			"set POUCH_PASSPHRASE for scripts, or run pouch from a terminal")
	}
	read := func(p string) (string, error) {
		fmt.Fprint(ctx.stderr, p)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(ctx.stderr)
		return string(b), err
	}
	p, err := read(prompt)
	if err != nil {
		return "", fmt.Errorf("reading the passphrase: %w", err)
	}
	if p == "" {
		return "", errors.New("the passphrase is empty")
	}
	if confirm {
		again, err := read("Repeat it: ")
		if err != nil {
			return "", fmt.Errorf("reading the passphrase: %w", err)
		}
		if again != p {
			return "", errors.New("the passphrases differ; nothing was created")
		}
	}
	return p, nil
}

// asFlag is the value of --as, or POUCH_AS.
func asFlag(ctx *cmdContext) string { return ctx.getenv("POUCH_AS") }

// loadPrincipal picks the principal to act as (--as, or the only one in
// the home) and decrypts its keys.
func loadPrincipal(ctx *cmdContext, h *keys.Home, as string) (*keys.Principal, error) {
	hd, err := h.Pick(as)
	if err != nil {
		switch {
		case errors.Is(err, keys.ErrNotFound) || strings.HasPrefix(err.Error(), "no principal"):
			return nil, withHint(err, "create one with \"pouch init HOUSE/OFFICE\", or set POUCH_HOME to the folder that holds it")
		}
		return nil, err
	}
	pass, err := passphrase(ctx, fmt.Sprintf("Passphrase for %s: ", hd), false)
	if err != nil {
		return nil, err
	}
	p, err := h.Load(hd, pass)
	if errors.Is(err, keys.ErrWrongPassphrase) {
		return nil, withHint(err, "check POUCH_PASSPHRASE, or type the passphrase given at \"pouch init %s\"", hd)
	}
	return p, err
}

// lookup resolves a handle to public keys from the home's principals and
// contacts.
func lookup(h *keys.Home, s, flag string) (*keys.Public, error) {
	hd, err := record.ParseHandle(s)
	if err != nil {
		return nil, usagef("", "%s: %v", flag, err)
	}
	p, err := h.Lookup(hd)
	if errors.Is(err, keys.ErrNotFound) {
		return nil, withHint(err, "ask %s for its public keys (\"pouch key export --public\") and run \"pouch key import FILE\"", hd)
	}
	return p, err
}

// handles is a repeatable flag of handles; each use may also hold a
// comma-separated list.
type handles []string

func (l *handles) String() string { return strings.Join(*l, ",") }
func (l *handles) Set(s string) error {
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

// strs is a repeatable string flag.
type strs []string

func (l *strs) String() string     { return strings.Join(*l, " ") }
func (l *strs) Set(s string) error { *l = append(*l, s); return nil }

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// binaryOut returns where to write binary output: the file named by -o
// (created only by commit, so that nothing half-written is left), or
// stdout if it is not a terminal.
func binaryOut(ctx *cmdContext, path, what string) (*output, error) {
	if path == "" || path == "-" {
		if isTerminal(ctx.stdout) {
			return nil, usagef("redirect it to a file (> X.pouch) or pass -o FILE", "refusing to write %s to a terminal", what)
		}
		return &output{w: ctx.stdout}, nil
	}
	f, err := os.CreateTemp(dirOf(path), ".pouch-out-*")
	if err != nil {
		return nil, err
	}
	return &output{w: f, f: f, path: path}, nil
}

func dirOf(path string) string {
	if i := strings.LastIndexAny(path, "/"+string(os.PathSeparator)); i >= 0 {
		return path[:i+1]
	}
	return "."
}

// output is a destination that, for a file, appears only when committed.
type output struct {
	w    io.Writer
	f    *os.File
	path string
}

func (o *output) Write(p []byte) (int, error) { return o.w.Write(p) }

// commit makes the output file appear at its path.
func (o *output) commit() error {
	if o.f == nil {
		return nil
	}
	if err := o.f.Sync(); err != nil {
		return err
	}
	if err := o.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(o.f.Name(), o.path); err != nil {
		return err
	}
	o.f = nil
	return nil
}

// discard removes an uncommitted output file.
func (o *output) discard() {
	if o.f != nil {
		o.f.Close()
		os.Remove(o.f.Name())
		o.f = nil
	}
}
