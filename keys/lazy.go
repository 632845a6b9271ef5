package keys

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"
)

// Lazy returns the principal whose public keys are pub and whose private
// keys load returns when they are first needed: the first signature or the
// first unwrapped file key calls load, once. A command that fails before it
// signs, or needs only the principal's handle and public keys, never pays
// for decrypting a key file (an scrypt of about a second) nor asks for a
// passphrase.
//
// load must return a principal with the keys of pub; one with other keys
// is refused, as is any later use after load failed (its error is kept).
func Lazy(pub *Public, load func() (*Principal, error)) (*Principal, error) {
	if err := pub.check(); err != nil {
		return nil, err
	}
	r, err := pub.Recipient()
	if err != nil {
		return nil, err
	}
	k := &lazyKeys{pub: pub, load: load}
	return &Principal{
		Handle:  pub.Handle,
		Signing: &lazySigner{k: k, pub: pub.Ed25519},
		Sealing: &lazyIdentity{k: k, r: r},
	}, nil
}

// Ready loads p's private keys now if they are loaded lazily (see Lazy),
// so that a passphrase is asked before, not in the middle of, work that
// must not wait for it. It does nothing for keys in memory or in an agent.
func (p *Principal) Ready() error {
	if l, ok := p.Signing.(*lazySigner); ok {
		_, err := l.k.get()
		return err
	}
	return nil
}

// lazyKeys loads a principal's private keys once.
type lazyKeys struct {
	pub  *Public
	load func() (*Principal, error)

	mu  sync.Mutex
	p   *Principal
	err error
}

func (k *lazyKeys) get() (*Principal, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.p == nil && k.err == nil {
		p, err := k.load()
		switch {
		case err != nil:
			k.err = err
		case p == nil || p.Handle != k.pub.Handle || !p.Public().Equal(k.pub):
			k.err = fmt.Errorf("%s: the private keys loaded are not those of its public file: %w", k.pub.Handle, ErrConflict)
		default:
			k.p = p
		}
		k.load = nil
	}
	return k.p, k.err
}

type lazySigner struct {
	k   *lazyKeys
	pub ed25519.PublicKey
}

func (s *lazySigner) Public() crypto.PublicKey { return s.pub }

func (s *lazySigner) Sign(rand io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	p, err := s.k.get()
	if err != nil {
		return nil, err
	}
	return p.Signing.Sign(rand, msg, opts)
}

type lazyIdentity struct {
	k *lazyKeys
	r *age.HybridRecipient
}

func (i *lazyIdentity) Recipient() *age.HybridRecipient { return i.r }

func (i *lazyIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	p, err := i.k.get()
	if err != nil {
		if errors.Is(err, age.ErrIncorrectIdentity) {
			// Not the caller's business: a failed load is fatal to
			// decryption, never "not sealed to you".
			return nil, fmt.Errorf("loading the key of %s: %v", i.k.pub.Handle, err)
		}
		return nil, err
	}
	return p.Sealing.Unwrap(stanzas)
}
