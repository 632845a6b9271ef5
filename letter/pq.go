package letter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"filippo.io/age"
)

// HybridStanza is the type of age's hybrid post-quantum recipient stanza
// (ML-KEM-768 + X25519): the only kind of stanza a payload's header may
// hold.
//
// SPEC: spec/letter.md#post-quantum-only
const HybridStanza = "mlkem768x25519"

// ErrNotPostQuantum is wrapped by the error for a payload whose age header
// wraps its file key to anything but hybrid post-quantum recipients: a
// classical X25519 recipient, a passphrase, an SSH key or a plugin.
var ErrNotPostQuantum = errors.New("payload not sealed to post-quantum recipients only")

// A StanzaError says that a payload's age header holds stanzas that are
// not hybrid post-quantum. It wraps ErrNotPostQuantum.
type StanzaError struct {
	Types []string // the type of every stanza in the header, in order
}

// classical names the stanza types of age's classical recipients.
var classical = map[string]string{
	"X25519":      "classical X25519",
	"scrypt":      "passphrase (scrypt)",
	"ssh-ed25519": "classical SSH Ed25519",
	"ssh-rsa":     "classical SSH RSA",
}

func (e *StanzaError) Error() string {
	counts := map[string]int{}
	var kinds []string
	hybrid := 0
	for _, t := range e.Types {
		if t == HybridStanza {
			hybrid++
			continue
		}
		k, ok := classical[t]
		if !ok {
			k = fmt.Sprintf("%q", t)
		}
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	var parts []string
	for _, k := range kinds {
		if counts[k] == 1 {
			parts = append(parts, "a "+k+" recipient")
		} else {
			parts = append(parts, fmt.Sprintf("%d %s recipients", counts[k], k))
		}
	}
	found := strings.Join(parts, " and ")
	if hybrid > 0 {
		return "the payload also wraps its file key to " + found +
			": a downgrade (breaking that one recipient opens the letter, so it is not safe against quantum computers); pouch seals to hybrid ML-KEM-768+X25519 recipients only"
	}
	return "the payload wraps its file key to " + found +
		", not to hybrid ML-KEM-768+X25519 recipients: pouch does not open it"
}

// Unwrap returns ErrNotPostQuantum.
func (e *StanzaError) Unwrap() error { return ErrNotPostQuantum }

func checkStanzas(ss []*age.Stanza) error {
	e := &StanzaError{Types: make([]string, len(ss))}
	ok := true
	for i, s := range ss {
		e.Types[i] = s.Type
		ok = ok && s.Type == HybridStanza
	}
	if !ok {
		return e
	}
	return nil
}

// pqOnly is the age identity a payload is opened with: it refuses a header
// with any stanza that is not hybrid, before id tries to unwrap the file
// key. With a nil id it only checks, and returns errHeaderChecked.
type pqOnly struct{ id age.Identity }

// errHeaderChecked ends a check-only pass over an age header. It is not
// age.ErrIncorrectIdentity, so age returns it as it is.
var errHeaderChecked = errors.New("letter: age header checked")

func (p pqOnly) Unwrap(ss []*age.Stanza) ([]byte, error) {
	if err := checkStanzas(ss); err != nil {
		return nil, err
	}
	if p.id == nil {
		return nil, errHeaderChecked
	}
	return p.id.Unwrap(ss)
}

// CheckRecipients reads the age header at the start of payload, with age's
// own parser, and returns a *StanzaError if any of its stanzas is not
// hybrid post-quantum (HybridStanza). It decrypts nothing, so it needs no
// key: carriers, verifiers and the server run it on payloads they cannot
// open. Open and OpenPouch check the same before they unwrap.
//
// CheckRecipients reads the header and, as age's parser buffers, a few
// KiB past it: payload cannot be decrypted afterwards.
//
// SPEC: spec/letter.md#post-quantum-only
func CheckRecipients(payload io.Reader) error {
	// age's parser reads through a bufio.Reader of 4 KiB, and takes the
	// one it is given as it is: a server that checks every pouch's header
	// reuses them rather than allocating one a pouch.
	br := headerReaders.Get().(*bufio.Reader)
	br.Reset(payload)
	defer func() {
		br.Reset(nil)
		headerReaders.Put(br)
	}()
	_, err := age.Decrypt(br, pqOnly{})
	switch {
	case errors.Is(err, errHeaderChecked):
		return nil
	case errors.Is(err, ErrNotPostQuantum):
		return err
	case err == nil:
		// pqOnly{} unwraps no file key, so age cannot have decrypted.
		return errors.New("letter: age decrypted a payload without a key")
	}
	return fmt.Errorf("%w: the payload is not an age file: %w", ErrMalformedLetter, err)
}

// headerReaders are CheckRecipients' buffers, of the size age's parser
// uses (bufio's default): age.Decrypt then reads through the one it is
// given rather than wrapping it in another.
var headerReaders = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// CheckRecipients checks the payload's age header as the package function
// does. It reads the start of f.Payload: use it to verify a pouch without
// opening it, then call Finish. OpenPouch checks the same on its own.
func (f *File) CheckRecipients() error {
	return CheckRecipients(f.Payload)
}
