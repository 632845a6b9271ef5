package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/term"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/atomicfile"
	"pouch.dev/keys"
	"pouch.dev/record"
)

func init() {
	register(&verb{
		name:  "house",
		args:  "[flags] HOUSE | [flags] HOUSE --request [-o FILE]",
		short: "found a house, with a registrar key that admits its offices",
		long: `
pouch house founds HOUSE on the server with a registrar key, kept in
$POUCH_HOME/registrars/HOUSE.key.age, encrypted with a passphrase (made on
first use; guard it: whoever holds it admits and revokes the house's
offices). On a server started with --open, the first claim of a name wins,
visibly in the log.

On a server in operator mode (the default), the operator countersigns
every house, and the operator's key never leaves the operator's machine.
The founder runs "pouch house HOUSE --request": it writes a founding
request (the house record signed by the new registrar key, naming
pouch/operator as second signer, in a PEM block to send by mail) and
prints the registrar key's fingerprint. The operator runs "pouch house
approve FILE": it checks the request (its signature, that it is for this
server's log, that the house is still free; --house HOUSE insists on
one), shows the house, its name and the registrar key's fingerprint to
compare with the founder's, asks for confirmation (--yes in scripts),
countersigns with the operator key (operator.key in the server's data
folder, --data DIR, or --operator-key FILE) and submits it.

Once approved, the founder admits the house's offices ("pouch admit") with
the registrar key in its own home. An operator founding a house on the
server's own machine may pass --operator-key to "pouch house HOUSE" instead.

Environment: POUCH_SERVER, POUCH_HOME, POUCH_DATA, POUCH_OPERATOR_KEY.

Example, scene 1: Iran's founder asks the operator to found house ir, the
operator approves, and the founder admits the Leader:

  pouch house ir --name "Islamic Republic of Iran" --request > ir.req
  pouch house approve ir.req                  # on the operator's machine
  pouch admit ir/leader --holder "Ali Khamenei"`,
		run: runHouse,
		subs: []*verb{{
			name:  "house approve",
			args:  "[flags] [--yes] [--house HOUSE] FILE",
			short: "countersign a founding request as the server's operator, and submit it",
			long: `
pouch house approve checks a founding request (the file "pouch house
HOUSE --request" wrote, or - for standard input): its signature, that it
is for this server's log, and that the house is still free (--house
HOUSE insists on one). It shows the house, its name and the registrar
key's fingerprint, to compare with what the founder tells you by a
channel you trust, asks for confirmation (--yes in scripts),
countersigns with the operator key (operator.key in the server's data
folder: --data DIR, or --operator-key FILE) and submits it. It prints
the house record's ID.

Environment: POUCH_SERVER, POUCH_HOME, POUCH_DATA, POUCH_OPERATOR_KEY.

Example, the operator founds Iran's house, on the server's machine, with
the request its founder sent:

  pouch house approve --house ir ir.req`,
			run: runHouseApprove,
		}},
	})
}

// registrarKey loads (or with create, makes) the registrar key of house:
// a PKCS #8 PEM Ed25519 key, encrypted at rest with a passphrase (age
// scrypt), in $POUCH_HOME/registrars/HOUSE.key.age.
func registrarKey(ctx *cmdContext, house string, create bool) (*client.Identity, error) {
	home, err := openHome(ctx)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(home.Dir, "registrars", house+".key.age")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		pass, err := passphrase(ctx, fmt.Sprintf("New passphrase for the registrar key of %s: ", house), true)
		if err != nil {
			return nil, err
		}
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		rcp, err := age.NewScryptRecipient(pass)
		if err != nil {
			return nil, err
		}
		if home.ScryptLogN > 0 {
			rcp.SetWorkFactor(home.ScryptLogN)
		}
		var buf bytes.Buffer
		aw, err := age.Encrypt(&buf, rcp)
		if err != nil {
			return nil, err
		}
		if _, err := aw.Write(keys.MarshalEd25519PEM(k)); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteNew(path, buf.Bytes(), 0o600); err != nil {
			return nil, err
		}
		return client.Registrar(house, k), nil
	}
	if err != nil {
		return nil, withHint(err, "the registrar key of %s is made by \"pouch house %s\" in $POUCH_HOME/registrars", house, house)
	}
	pass, err := passphrase(ctx, fmt.Sprintf("Passphrase for the registrar key of %s: ", house), false)
	if err != nil {
		return nil, err
	}
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(b), id)
	if err != nil {
		return nil, withHint(fmt.Errorf("opening the registrar key of %s: %w", house, err), "check POUCH_PASSPHRASE")
	}
	pb, err := io.ReadAll(io.LimitReader(r, 16<<10))
	if err != nil {
		return nil, err
	}
	ek, err := keys.ParseEd25519PEM(pb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return client.Registrar(house, ek), nil
}

func runHouse(ctx *cmdContext, args []string) error {
	v := verbs["house"]
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	name := fs.String("name", "", "the house's name for people")
	opKey := fs.String("operator-key", ctx.getenv("POUCH_OPERATOR_KEY"), "countersign with the operator key in `FILE` (on the server's machine)")
	request := fs.Bool("request", false, "write a founding request for the server's operator to approve, instead of founding")
	out := fs.String("o", "", "with --request, write the request to `FILE` instead of standard output")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "house takes one HOUSE name, such as ir (or: house approve FILE)")
	}
	house, err := record.ParseHouse(pos[0])
	if err != nil {
		return usagef("", "%v", err)
	}
	if *request && *opKey != "" {
		return usagef("with the operator key at hand, found the house directly: drop --request", "--request and --operator-key together")
	}
	if *out != "" && !*request {
		return usagef("", "-o is for --request")
	}
	c, err := cf.client(context.Background())
	if err != nil {
		return err
	}
	if *request {
		return houseRequest(ctx, c, cf, house, *name, *out)
	}
	reg, err := registrarKey(ctx, house, true)
	if err != nil {
		return err
	}
	var op *client.Identity
	if *opKey != "" {
		k, err := loadOrCreateEd25519(*opKey, false)
		if err != nil {
			return err
		}
		op = client.Operator(k)
	}
	a, err := c.FoundHouse(context.Background(), house, *name, reg, op)
	if err != nil {
		if op == nil {
			return withHint(err, "on a server in operator mode, ask its operator to approve a founding request: pouch house %s --request > %s.req", house, house)
		}
		return apiError(err)
	}
	fp := directory.KeyFingerprint(reg.SigningPublic())
	return recorded(ctx, a.ID, &houseJSON{Accepted: a, House: house, Registrar: fp},
		"founded house %s at log index %d (record %s); registrar key %s in $POUCH_HOME/registrars/%s.key.age", house, a.Index, a.ID.Short(), fp, house)
}

// houseJSON is the result of founding a house.
type houseJSON struct {
	*api.Accepted
	House     string `json:"house"`
	Registrar string `json:"registrar"` // the registrar key's fingerprint
}

type requestJSON struct {
	House     string `json:"house"`
	Name      string `json:"name,omitempty"`
	Registrar string `json:"registrar"` // the key's fingerprint
	Log       string `json:"log"`
	Request   string `json:"request"` // the request's text
}

// houseRequest writes a founding request for house, signed by its
// registrar key (made on first use).
func houseRequest(ctx *cmdContext, c *client.Client, cf *clientFlags, house, name, out string) error {
	reg, err := registrarKey(ctx, house, true)
	if err != nil {
		return err
	}
	q, err := c.RequestHouse(context.Background(), house, name, reg)
	if err != nil {
		if errors.Is(err, directory.ErrHouseTaken) {
			return withHint(err, "pick another name; a house is founded once")
		}
		return apiError(err)
	}
	text := q.Marshal()
	fp := directory.KeyFingerprint(q.House.Registrar)
	if out != "" {
		if err := atomicfile.WriteNew(out, text, 0o644); err != nil {
			return withHint(err, "pick another file name; nothing was overwritten")
		}
	}
	if ctx.json {
		return emit(ctx, &requestJSON{House: house, Name: name, Registrar: fp, Log: q.Record.Origin, Request: string(text)})
	}
	where := out
	if out == "" {
		if _, err := ctx.stdout.Write(text); err != nil {
			return err
		}
		where = "the file"
	}
	fmt.Fprintf(ctx.stderr, "pouch: founding request for house %s, registrar key %s (kept in $POUCH_HOME/registrars/%s.key.age)\n", house, fp, house)
	fmt.Fprintf(ctx.stderr, "pouch: send %s to the operator of %s, who approves it with \"pouch house approve FILE\"; then admit offices with \"pouch admit\"\n", where, c.URL)
	return nil
}

func runHouseApprove(ctx *cmdContext, args []string) error {
	v := verbNamed("house approve")
	fs := newFlags(ctx, v)
	cf := addClientFlags(ctx, fs)
	opKey := fs.String("operator-key", ctx.getenv("POUCH_OPERATOR_KEY"), "countersign with the operator key in `FILE` (default: operator.key in the server's data folder)")
	data := fs.String("data", ctx.getenv("POUCH_DATA"), "the server's data `DIR`, where its operator.key is (default $POUCH_HOME/server)")
	yes := fs.Bool("yes", false, "approve without asking (for scripts)")
	want := fs.String("house", "", "refuse a request that founds another house than `HOUSE`")
	pos, err := parseFlags(ctx, v, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("", "house approve takes one request FILE (- for standard input)")
	}
	if !*yes && (pos[0] == "-" || !stdinIsTerminal(ctx)) {
		return usagef("pass --yes to approve without a terminal (in scripts)", "approving needs a confirmation and there is no terminal to ask")
	}
	var b []byte
	if pos[0] == "-" {
		b, err = io.ReadAll(io.LimitReader(ctx.stdin, 1<<20))
	} else {
		b, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	q, err := directory.ParseFoundingRequest(b)
	if err != nil {
		switch {
		case errors.Is(err, directory.ErrNotFoundingRequest):
			return &checkError{withHint(fmt.Errorf("%s: %w", pos[0], err), "pass the file that \"pouch house HOUSE --request\" wrote")}
		case errors.Is(err, record.ErrBadSignature), errors.Is(err, directory.ErrNotAuthorised):
			return &checkError{withHint(fmt.Errorf("%s: %w", pos[0], err), "do not approve it: ask the founder for a new request, and compare the registrar key's fingerprint by a channel you trust")}
		}
		return &checkError{fmt.Errorf("%s: %w", pos[0], err)}
	}
	keyPath := *opKey
	if keyPath == "" {
		if *data == "" {
			if *data, err = defaultDataDir(ctx); err != nil {
				return err
			}
		}
		keyPath = filepath.Join(*data, "operator.key")
	}
	k, err := loadOrCreateEd25519(keyPath, false)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return withHint(fmt.Errorf("no operator key at %s", keyPath), "run this on the server's machine, where pouch serve made operator.key in its data folder (--data), or pass --operator-key FILE")
		}
		return fmt.Errorf("operator key: %w", err)
	}
	c, err := cf.client(context.Background())
	if err != nil {
		return err
	}
	if err := c.CheckHouseRequest(context.Background(), q, *want); err != nil {
		switch {
		case errors.Is(err, directory.ErrHouseTaken):
			return &checkError{withHint(err, "nothing to approve: the house exists; the founder may request another name")}
		case errors.Is(err, client.ErrWrongLog):
			return &checkError{withHint(err, "approve it on the server it was made for (--server), or ask the founder for a request made against this one")}
		case errors.Is(err, client.ErrWrongHouse):
			return &checkError{withHint(err, "check that you were sent the right file")}
		}
		return apiError(err)
	}
	opPub := k.Public().(ed25519.PublicKey)
	if !ctx.json {
		// What is about to be countersigned, for the operator to compare
		// with what the founder said: on standard error, beside the
		// question, so that standard output keeps the record's ID alone.
		w := ctx.stderr
		h := q.House
		fmt.Fprintf(w, "house      %s", h.House)
		if h.Name != "" {
			fmt.Fprintf(w, " (%q)", h.Name)
		}
		fmt.Fprintf(w, "\nregistrar  %s, key %s\n", directory.Registrar(h.House), directory.KeyFingerprint(h.Registrar))
		origin := q.Record.Origin
		if origin == "" {
			origin = "(none named)"
		}
		fmt.Fprintf(w, "log        %s on %s\n", origin, c.URL)
		fmt.Fprintf(w, "requested  %s (claimed)\n", q.Record.Claimed().Format(time.RFC3339))
		fmt.Fprintf(w, "operator   key %s from %s\n", directory.KeyFingerprint(opPub), keyPath)
	}
	if !*yes {
		if err := confirm(ctx, fmt.Sprintf("Countersign and found house %s with registrar key %s? [y/N] ", q.House.House, directory.KeyFingerprint(q.House.Registrar))); err != nil {
			return err
		}
	}
	a, err := c.ApproveHouse(context.Background(), q, client.Operator(k))
	if err != nil {
		if errors.Is(err, directory.ErrNotAuthorised) {
			return withHint(err, "is %s this server's operator key (%s)? pouch serve keeps it in its data folder; run approve on the server's machine", keyPath, directory.KeyFingerprint(opPub))
		}
		return apiError(err)
	}
	return recorded(ctx, a.ID, &houseJSON{Accepted: a, House: q.House.House, Registrar: directory.KeyFingerprint(q.House.Registrar)},
		"founded house %s at log index %d (record %s); its founder admits its offices with the registrar key: pouch admit %s/OFFICE", q.House.House, a.Index, a.ID.Short(), q.House.House)
}

// stdinIsTerminal reports whether standard input is a terminal.
func stdinIsTerminal(ctx *cmdContext) bool {
	f, ok := ctx.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks a yes-or-no question on the terminal; anything but yes is
// an error saying that nothing was done.
func confirm(ctx *cmdContext, question string) error {
	if !stdinIsTerminal(ctx) {
		return usagef("pass --yes to approve without a terminal (in scripts)", "approving needs a confirmation and there is no terminal to ask")
	}
	fmt.Fprint(ctx.stderr, question)
	line, err := bufio.NewReader(ctx.stdin).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not approved: nothing was signed")
}
