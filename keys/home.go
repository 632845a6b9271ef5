package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"pouch.dev/internal/atomicfile"
	"pouch.dev/record"
)

// A Home is a folder of keys: own principals, encrypted at rest, and the
// public keys of contacts.
//
//	principals/HOUSE/OFFICE.key   the key file, age-encrypted to a passphrase
//	principals/HOUSE/OFFICE.pub   its public file
//	contacts/HOUSE/OFFICE.pub     public files of others
//
// SPEC: spec/keys.md#home
type Home struct {
	Dir string

	// ScryptLogN is the scrypt work factor (log2 of N) used by Save. Zero
	// means age's default (2^18, about a second), which is what people
	// should use. Lower values are for tests, which create dozens of
	// principals; never lower it for real keys.
	ScryptLogN int
}

// DefaultDir returns the home folder: $POUCH_HOME if set, otherwise pouch/
// under the user's configuration directory (os.UserConfigDir).
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv("POUCH_HOME"); d != "" {
		return d, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the pouch home folder: %w (set POUCH_HOME)", err)
	}
	return filepath.Join(cfg, "pouch"), nil
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("no such principal")
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("conflicting public keys")
)

func (h *Home) keyPath(hd record.Handle) string {
	return filepath.Join(h.Dir, "principals", hd.House(), hd.Office()+".key")
}

func (h *Home) pubPath(hd record.Handle) string {
	return filepath.Join(h.Dir, "principals", hd.House(), hd.Office()+".pub")
}

func (h *Home) contactPath(hd record.Handle) string {
	return filepath.Join(h.Dir, "contacts", hd.House(), hd.Office()+".pub")
}

// Save stores p in the home, its key file encrypted to passphrase. It
// refuses to replace an existing principal of the same handle, and leaves
// nothing behind when it fails.
func (h *Home) Save(p *Principal, passphrase string) error {
	if _, err := record.ParseHandle(string(p.Handle)); err != nil {
		return err
	}
	if c, err := h.contact(p.Handle); err == nil && !c.Equal(p.Public()) {
		return fmt.Errorf("%s: %w: a contact with other keys is stored under that handle (%s)", p.Handle, ErrConflict, h.contactPath(p.Handle))
	}
	enc, err := p.Encrypt(passphrase, h.ScryptLogN)
	if err != nil {
		return fmt.Errorf("encrypting the key of %s: %w", p.Handle, err)
	}
	kp, pp := h.keyPath(p.Handle), h.pubPath(p.Handle)
	if err := os.MkdirAll(filepath.Dir(kp), 0o700); err != nil {
		return err
	}
	if err := writeNew(pp, p.Public().Marshal(), 0o644); err != nil {
		return fmt.Errorf("principal %s: %w", p.Handle, err)
	}
	if err := writeNew(kp, enc, 0o600); err != nil {
		os.Remove(pp)
		return fmt.Errorf("principal %s: %w", p.Handle, err)
	}
	return nil
}

// writeNew writes b to a new file at path atomically: it never replaces an
// existing file and never leaves a partial one.
func writeNew(path string, b []byte, perm fs.FileMode) error {
	err := atomicfile.WriteNew(path, b, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s %w", path, ErrExists)
	}
	return err
}

// Load decrypts the principal hd with passphrase.
func (h *Home) Load(hd record.Handle, passphrase string) (*Principal, error) {
	b, err := os.ReadFile(h.keyPath(hd))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w in %s", hd, ErrNotFound, h.Dir)
	}
	if err != nil {
		return nil, err
	}
	p, err := Decrypt(b, passphrase)
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", hd, err)
	}
	if p.Handle != hd {
		return nil, fmt.Errorf("key file %s holds the key of %s, not %s", h.keyPath(hd), p.Handle, hd)
	}
	return p, nil
}

// Public returns the public keys of the home's own principal hd, from its
// public file: no passphrase, no decryption.
func (h *Home) Public(hd record.Handle) (*Public, error) {
	b, err := os.ReadFile(h.pubPath(hd))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w in %s", hd, ErrNotFound, h.Dir)
	}
	if err != nil {
		return nil, err
	}
	p, err := ParsePublic(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.pubPath(hd), err)
	}
	if p.Handle != hd {
		return nil, fmt.Errorf("%s names %s, not %s", h.pubPath(hd), p.Handle, hd)
	}
	return p, nil
}

// Lazy returns the home's principal hd with its public keys read now and
// its key file decrypted only when a private key is first used (see the
// function Lazy), with the passphrase that passphrase then returns.
func (h *Home) Lazy(hd record.Handle, passphrase func() (string, error)) (*Principal, error) {
	pub, err := h.Public(hd)
	if err != nil {
		return nil, err
	}
	return Lazy(pub, func() (*Principal, error) {
		pass, err := passphrase()
		if err != nil {
			return nil, err
		}
		return h.Load(hd, pass)
	})
}

// List returns the handles of the principals stored in the home, sorted.
func (h *Home) List() ([]record.Handle, error) {
	return h.scan("principals", ".key")
}

// Contacts returns the handles of the contacts stored in the home, sorted.
func (h *Home) Contacts() ([]record.Handle, error) {
	return h.scan("contacts", ".pub")
}

func (h *Home) scan(sub, ext string) ([]record.Handle, error) {
	root := filepath.Join(h.Dir, sub)
	houses, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hs []record.Handle
	for _, house := range houses {
		if !house.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, house.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			office, ok := strings.CutSuffix(f.Name(), ext)
			if !ok || f.IsDir() {
				continue
			}
			if hd, err := record.ParseHandle(house.Name() + "/" + office); err == nil {
				hs = append(hs, hd)
			}
		}
	}
	slices.Sort(hs)
	return hs, nil
}

// Pick chooses the principal to act as: as, if given (it must be in the
// home), or else the only principal of the home.
func (h *Home) Pick(as string) (record.Handle, error) {
	hs, err := h.List()
	if err != nil {
		return "", err
	}
	if as != "" {
		hd, err := record.ParseHandle(as)
		if err != nil {
			return "", err
		}
		if !slices.Contains(hs, hd) {
			return "", fmt.Errorf("%s: %w in %s", hd, ErrNotFound, h.Dir)
		}
		return hd, nil
	}
	switch len(hs) {
	case 0:
		return "", fmt.Errorf("no principal in %s", h.Dir)
	case 1:
		return hs[0], nil
	}
	names := make([]string, len(hs))
	for i, x := range hs {
		names[i] = string(x)
	}
	return "", fmt.Errorf("%s holds %d principals (%s); say which one with --as", h.Dir, len(hs), strings.Join(names, ", "))
}

// Lookup returns the public keys of hd: an own principal's, or else a
// contact's.
func (h *Home) Lookup(hd record.Handle) (*Public, error) {
	if b, err := os.ReadFile(h.pubPath(hd)); err == nil {
		p, err := ParsePublic(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.pubPath(hd), err)
		}
		if p.Handle != hd {
			return nil, fmt.Errorf("%s names %s, not %s", h.pubPath(hd), p.Handle, hd)
		}
		return p, nil
	}
	p, err := h.contact(hd)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: neither a principal of %s nor a contact", hd, ErrNotFound, h.Dir)
	}
	return p, err
}

func (h *Home) contact(hd record.Handle) (*Public, error) {
	b, err := os.ReadFile(h.contactPath(hd))
	if err != nil {
		return nil, err
	}
	p, err := ParsePublic(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.contactPath(hd), err)
	}
	if p.Handle != hd {
		return nil, fmt.Errorf("%s names %s, not %s", h.contactPath(hd), p.Handle, hd)
	}
	return p, nil
}

// Import stores p as a contact. Importing the same keys again does nothing;
// keys that differ from those already known under the handle (as a contact
// or an own principal) are refused with ErrConflict, and nothing changes.
// It reports whether a new contact was stored.
func (h *Home) Import(p *Public) (bool, error) {
	if err := p.check(); err != nil {
		return false, err
	}
	if own, err := h.Lookup(p.Handle); err == nil {
		if own.Equal(p) {
			return false, nil
		}
		return false, fmt.Errorf("%s: %w: %s already holds other keys for it", p.Handle, ErrConflict, h.Dir)
	}
	path := h.contactPath(p.Handle)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	if err := writeNew(path, p.Marshal(), 0o644); err != nil {
		return false, err
	}
	return true, nil
}
