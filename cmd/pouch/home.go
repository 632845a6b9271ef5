package main

// Helpers shared by the verbs that use keys: the home folder, passphrases,
// picking the principal to act as, resolving handles to public keys, and
// output conventions (JSON, binary output never to a terminal).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

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
	if !stdinIsTerminal(ctx) {
		return "", withHint(errors.New("a passphrase is needed and there is no terminal to ask for it"),
			"set POUCH_PASSPHRASE for scripts, or run pouch from a terminal")
	}
	f := ctx.stdin.(*os.File)
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
// the home) and returns it without decrypting anything: its private keys
// are the agent's if the agent holds them ("pouch unlock"), and otherwise
// its key file is decrypted with the passphrase when a private key is
// first used. A command that fails before it signs or opens, or never
// needs to, asks for no passphrase and pays no scrypt.
func loadPrincipal(ctx *cmdContext, h *keys.Home, as string) (*keys.Principal, error) {
	hd, err := pickPrincipal(h, as)
	if err != nil {
		return nil, err
	}
	pub, err := h.Public(hd)
	if err != nil {
		return nil, err
	}
	if p := agentPrincipal(ctx, h, pub); p != nil {
		return p, nil
	}
	return keys.Lazy(pub, func() (*keys.Principal, error) { return decryptPrincipal(ctx, h, hd, true) })
}

// loadPrincipalInMemory picks the principal and decrypts its key file
// now, for the commands that need the private keys themselves ("pouch key
// export --age"), which the agent never gives out.
func loadPrincipalInMemory(ctx *cmdContext, h *keys.Home, as string) (*keys.Principal, error) {
	hd, err := pickPrincipal(h, as)
	if err != nil {
		return nil, err
	}
	return decryptPrincipal(ctx, h, hd, false)
}

// pickPrincipal chooses the principal to act as: --as, or the only one in
// the home.
func pickPrincipal(h *keys.Home, as string) (record.Handle, error) {
	if as == "" {
		hs, err := h.List()
		if err != nil {
			return "", err
		}
		switch len(hs) {
		case 0:
			return "", withHint(fmt.Errorf("no principal in %s: %w", h.Dir, keys.ErrNotFound),
				"create one with \"pouch init HOUSE/OFFICE\", or set POUCH_HOME to the folder that holds it")
		case 1:
			return hs[0], nil
		}
		return "", usagef("say which one with --as HANDLE (or POUCH_AS)", "%s holds %d principals (%s)", h.Dir, len(hs), strings.Join(handleStrings(hs), ", "))
	}
	if _, err := record.ParseHandle(as); err != nil {
		return "", usagef("a handle is HOUSE/OFFICE, such as ru/president", "--as: %v", err)
	}
	hd, err := h.Pick(as)
	if errors.Is(err, keys.ErrNotFound) {
		return "", withHint(err, "create it with \"pouch init %s\", or set POUCH_HOME to the folder that holds it (\"pouch key list\" shows what this one holds)", as)
	}
	return hd, err
}

// errLocked is wrapped by the error of a command that needs a private
// key it cannot unlock: no agent holds it, and no passphrase can be had.
var errLocked = errors.New("the key is locked")

// lockedError is errLocked for one principal.
type lockedError struct{ hd record.Handle }

func (e *lockedError) Error() string {
	return fmt.Sprintf("the key of %s is locked: no agent holds it, and there is no terminal to ask for its passphrase", e.hd)
}

func (e *lockedError) Unwrap() error { return errLocked }

// decryptPrincipal asks for hd's passphrase (POUCH_PASSPHRASE, or the
// terminal) and decrypts its key file. With agentHint, the prompt says
// that "pouch unlock" spares it.
func decryptPrincipal(ctx *cmdContext, h *keys.Home, hd record.Handle, agentHint bool) (*keys.Principal, error) {
	pass := ctx.getenv("POUCH_PASSPHRASE")
	if pass == "" {
		if !stdinIsTerminal(ctx) {
			return nil, withHint(&lockedError{hd},
				"run \"pouch unlock --as %s\" once (with \"pouch agent\" running), or set POUCH_PASSPHRASE for scripts", hd)
		}
		if agentHint {
			fmt.Fprintf(ctx.stderr, "pouch: hint: \"pouch unlock --as %s\" keeps this key unlocked in the agent, to type its passphrase once per session\n", hd)
		}
		var err error
		if pass, err = passphrase(ctx, fmt.Sprintf("Passphrase for %s: ", hd), false); err != nil {
			return nil, err
		}
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

// fileError is a file that could not be read, said for people: its path,
// what is wrong, and what it should have been.
type fileError struct {
	path, what string
	err        error
}

func (e *fileError) Error() string {
	if errors.Is(e.err, os.ErrNotExist) {
		return e.path + ": no such file"
	}
	if errors.Is(e.err, os.ErrPermission) {
		return e.path + ": permission denied"
	}
	var pe *os.PathError
	if errors.As(e.err, &pe) {
		return e.path + ": " + pe.Err.Error()
	}
	return e.path + ": " + e.err.Error()
}

func (e *fileError) Unwrap() error { return e.err }

// readInput reads the file at path, which is to hold what ("a Markdown
// letter"); an error names the file and says what it should be.
func readInput(path, what string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, inputError(path, what, err)
	}
	return b, nil
}

// openInput opens the file at path, as readInput reads it.
func openInput(path, what string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, inputError(path, what, err)
	}
	return f, nil
}

func inputError(path, what string, err error) error {
	fe := &fileError{path: path, what: what, err: err}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return withHint(fe, "check the path: it should name %s", what)
	case errors.Is(err, os.ErrPermission):
		return withHint(fe, "check the file's permissions: pouch reads %s from it", what)
	}
	if errors.Is(err, syscall.EISDIR) {
		return withHint(fe, "give a file, not a folder: %s", what)
	}
	return fe
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
