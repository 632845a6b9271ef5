package main

// Verifying a .pouch file offline: its proofs against a log key and
// policy the user holds, and every signer's key known — imported into the
// home, or proven in the log (spec/letter.md#known-keys).

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"pouch.dev/client"
	"pouch.dev/keys"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// logVerifier returns the verifier of the checkpoints of the log named
// origin that the user holds: from --policy, from --log-key, or from the
// key the home pinned for it (or keeps a View under), in that order; nil
// if the user holds none. how says which, for people.
func (f *clientFlags) logVerifier(origin string) (v *tlog.Verifier, how string, err error) {
	t, err := f.trust()
	if err != nil {
		return nil, "", err
	}
	switch {
	case t.Policy != nil:
		for _, l := range t.Policy.Logs {
			if l.Origin == origin {
				v, err := t.Policy.Verifier(l.Key)
				return v, "the policy " + *f.policy, err
			}
		}
		return nil, "", withHint(fmt.Errorf("the witness policy %s names no log %s, whose proofs the file carries", *f.policy, origin),
			"give the policy of that log (--policy, POUCH_POLICY)")
	case t.LogKey != "":
		if name, _, _ := strings.Cut(t.LogKey, "+"); name != origin {
			return nil, "", withHint(fmt.Errorf("the log key given is for %s; the file's proofs are from %s", name, origin),
				"give that log's key (--log-key, POUCH_LOG_KEY)")
		}
		v, err := tlog.NewVerifier(t.LogKey, nil, 0)
		return v, "the key given (--log-key)", err
	}
	ks, err := client.KeptLogKeys(t.Dir, origin)
	if err != nil {
		return nil, "", err
	}
	switch len(ks) {
	case 0:
		return nil, "", nil
	case 1:
		v, err := tlog.NewVerifier(ks[0], nil, 0)
		return v, "the key this home holds for it (" + filepath.Join(t.Dir, origin) + ")", err
	}
	return nil, "", withHint(fmt.Errorf("this home holds %d keys for the log %s", len(ks), origin),
		"say which with --log-key (POUCH_LOG_KEY) or --policy")
}

// fileCheck is what verifying a .pouch file found.
type fileCheck struct {
	d *pouchJSON
	keyCheck
	// proven is what the file's proofs proved; nil without proofs or a
	// key to check them with.
	proven *client.VerifiedFile
}

// keyCheck collects what is known of the keys that signed something.
type keyCheck struct {
	notes *[]string
	// unknown names the signers whose keys are neither imported nor
	// proven, with what they signed: "ir/leader (the tag and the letter's header)".
	unknown []string
	// unknownBy holds the same signers' handles.
	unknownBy map[record.Handle]bool
	// unchecked is the origin of the log whose proofs a file carries and
	// for which the user holds no key; "" if none.
	unchecked string
}

// errUnknownSigner is wrapped by the error for a pouch signed by a key
// the home neither imported nor can prove.
var errUnknownSigner = errors.New("signed by a key this home neither imported nor can prove")

// unknownError is the error for fc's unknown signers, with its hint.
func (fc *keyCheck) unknownError(path string) error {
	err := fmt.Errorf("%s: %w: %s", path, errUnknownSigner, strings.Join(fc.unknown, ", "))
	if fc.unchecked != "" {
		return withHint(err, "the file carries proofs from the log %s: give its key (--log-key, POUCH_LOG_KEY) or its witness policy (--policy) to check them, "+
			"or import the signer's public key (\"pouch key import FILE\"); \"pouch open --unverified\" shows it anyway", fc.unchecked)
	}
	return withHint(err, "import the signer's public key (\"pouch key import FILE\", from its owner), "+
		"or verify against the server (\"pouch verify ID\"), or fetch the pouch with its proofs (\"pouch fetch ID -o X.pouch\"); "+
		"\"pouch open --unverified\" shows it anyway")
}

// checkPouchFile checks a .pouch file as "pouch verify" describes: the
// tag's and custody records' signatures, the custody chain, the payload's
// recipients and digest (if payload: "pouch open" leaves them to
// letter.OpenPouch, which checks both as it decrypts, so that the payload
// is read once), the file's proofs against the log (if the user holds its
// key), and which signers' keys are known. h may be nil; pr shows the
// payload's reading.
func checkPouchFile(h *keys.Home, path string, cf *clientFlags, pr *progress, payload bool) (*fileCheck, error) {
	f, done, err := openPouchFile(path)
	if err != nil {
		return nil, err
	}
	defer done()
	fc := &fileCheck{d: describePouch(f)}
	d := fc.d
	fc.notes = &d.Notes
	fail := func(err error) (*fileCheck, error) {
		return nil, &checkError{fmt.Errorf("%s: %w", path, err)}
	}

	// The proofs, if the user holds the log's key.
	var vf *client.VerifiedFile
	if origin := proofsOrigin(f); origin != "" {
		v, how, err := cf.logVerifier(origin)
		if err != nil {
			return nil, err
		}
		if v == nil {
			fc.unchecked = origin
			d.Notes = append(d.Notes, fmt.Sprintf("the file carries proofs from the log %s, but this home holds no key for it: pass --log-key or --policy to check them", origin))
		} else {
			if vf, err = client.VerifyFile(f, v); err != nil {
				return fail(err)
			}
			fc.proven = vf
			cp := vf.Checkpoint
			w := "no witness was required (split views undetectable)"
			if cp.Witnessed {
				w = fmt.Sprintf("cosigned by %v", cp.Cosigners)
			}
			d.Log = &logJSON{Origin: cp.Origin, Size: cp.Size, Anchor: how, Witnessed: cp.Witnessed, Cosigners: cp.Cosigners}
			d.Notes = append(d.Notes, fmt.Sprintf("proofs checked against the log %s (checkpoint of %d, %s; its key from %s)", cp.Origin, cp.Size, w, how))
			d.Notes = append(d.Notes, vf.Notes...)
		}
	}

	// Every signer's key: proven, or imported.
	tagProven := vf != nil && vf.TagKey
	if err := fc.known(h, f.Tag.Tag.From, f.Tag.Sender(), "the tag and the letter's header", tagProven); err != nil {
		return fail(err)
	}
	if vf != nil {
		for i, st := range vf.Steps {
			if err := fc.known(h, st.Custody.Holder(), st.Custody.Signed.KeyOf(0), fmt.Sprintf("custody record %d", i+1), st.Key); err != nil {
				return fail(err)
			}
			if st.Unproven != "" {
				d.Notes = append(d.Notes, fmt.Sprintf("custody record %d: not proven: %s", i+1, st.Unproven))
			}
			if st.At != nil {
				d.Custody[i].Index = &st.At.Index
			}
		}
		p := vf.Pouch
		d.Delivered, d.Holder = p.Delivered(), p.Holder()
		d.Next, _ = p.Next()
		if vf.Tag != nil {
			d.Index = &vf.Tag.Index
		}
	} else {
		// The route alone (package ledger), and every signer's key known.
		p, err := ledger.RouteChain(f.Tag, f.Custody)
		if err != nil {
			return fail(err)
		}
		for i, st := range p.Custody {
			if err := fc.known(h, st.Hop.By, f.Custody[i].Signed.KeyOf(0), "a custody record", false); err != nil {
				return fail(err)
			}
			if st.Hop.By != st.Hop.As {
				d.Notes = append(d.Notes, fmt.Sprintf("%s signed on behalf of %s: the grant is not checked offline (verify against the server's log, or fetch the pouch with its proofs)", st.Hop.By, st.Hop.As))
			}
		}
		d.Delivered, d.Holder = p.Delivered(), p.Holder()
		d.Next, _ = p.Next()
	}

	d.Verified = len(fc.unknown) == 0
	if !payload {
		return fc, nil
	}
	// The payload's recipients, then its digest: a changed byte is
	// reported as such, even in the age header.
	pr.phase("checking the payload", int64(f.Tag.Tag.Size))
	f.Payload = pr.reader(f.Payload)
	rerr := f.CheckRecipients()
	if err := f.Finish(); err != nil {
		return nil, pouchFileError(path, err, true)
	}
	if rerr != nil {
		return fail(pqHint(rerr))
	}
	return fc, nil
}

// known checks the key that signed what (by hd): proven in the log, or the
// key imported for hd. An imported key that differs fails unless the log
// proves the one used; a key neither imported nor proven is added to
// fc.unknown.
func (fc *keyCheck) known(h *keys.Home, hd record.Handle, key ed25519.PublicKey, what string, proven bool) error {
	var imported *keys.Public
	if h != nil {
		p, err := h.Lookup(hd)
		if err != nil && !errors.Is(err, keys.ErrNotFound) && !os.IsNotExist(err) {
			return err
		}
		imported = p
	}
	switch {
	case imported != nil && imported.Ed25519.Equal(key):
		return nil
	case imported != nil && proven:
		*fc.notes = append(*fc.notes, fmt.Sprintf("the key of %s that signed %s is proven in the log, and is not the key imported for %s (a new holder of the office?)", hd, what, hd))
		return nil
	case imported != nil:
		return fmt.Errorf("%s of %s: %w (forged, or %s changed keys)", what, hd, errKeyMismatch, hd)
	case proven:
		return nil
	}
	for i, u := range fc.unknown {
		if strings.HasPrefix(u, string(hd)+" (") {
			fc.unknown[i] = strings.TrimSuffix(u, ")") + ", " + what + ")"
			return nil
		}
	}
	fc.unknown = append(fc.unknown, fmt.Sprintf("%s (%s)", hd, what))
	if fc.unknownBy == nil {
		fc.unknownBy = map[record.Handle]bool{}
	}
	fc.unknownBy[hd] = true
	return nil
}

// proofsOrigin returns the origin of the log a file's proofs are from, or
// "" if it carries none.
func proofsOrigin(f *letter.File) string {
	for _, p := range f.Proofs {
		origin, _, _, err := tlog.ParseCheckpointBody(string(p.Checkpoint))
		if err == nil {
			return origin
		}
	}
	return ""
}
