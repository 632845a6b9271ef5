package agent

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/record"
)

// A Client talks to the agent listening at Path. Each call is one
// connection: dial, one request, one response.
type Client struct {
	Path string
	// Timeout bounds each call, dial included; 0 means 30 seconds.
	Timeout time.Duration

	// skipPeerCheck is for the tests of the agent's own refusal.
	skipPeerCheck bool
}

// roundTrip sends req and reads the agent's response. It checks that the
// agent runs as the calling user before sending anything: a key sent to
// "add" or a message to sign goes to no one else.
func (c *Client) roundTrip(req *Request) (*Response, error) {
	req.V = Version
	timeout := c.Timeout
	if timeout == 0 {
		timeout = ioTimeout
	}
	if len(c.Path) > MaxPathLen {
		return nil, fmt.Errorf("%w: %s is too long for a socket", ErrNotRunning, c.Path)
	}
	nc, err := net.DialTimeout("unix", c.Path, timeout)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w at %s", ErrNotRunning, c.Path)
		}
		return nil, fmt.Errorf("reaching the agent at %s: %w", c.Path, err)
	}
	defer nc.Close()
	conn := nc.(*net.UnixConn)
	conn.SetDeadline(time.Now().Add(timeout))
	if !c.skipPeerCheck {
		cred, err := peerCred(conn)
		if err != nil {
			return nil, err
		}
		if err := checkPeer(cred, os.Getuid()); err != nil {
			return nil, fmt.Errorf("the agent at %s: %w", c.Path, err)
		}
	}
	werr := writeMsg(conn, req)
	// Read even if the write failed: an agent that refuses says why and
	// hangs up without reading.
	var resp Response
	if err := readMsg(conn, &resp); err != nil {
		if werr != nil {
			return nil, fmt.Errorf("talking to the agent at %s: %w", c.Path, werr)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the agent at %s hung up", ErrProtocol, c.Path)
		}
		return nil, fmt.Errorf("talking to the agent at %s: %w", c.Path, err)
	}
	if resp.V != Version {
		return nil, fmt.Errorf("%w: the agent at %s speaks version %d, not %d", ErrVersion, c.Path, resp.V, Version)
	}
	if resp.Err != nil {
		return nil, &Error{Code: resp.Err.Code, Msg: resp.Err.Msg}
	}
	return &resp, nil
}

// List returns the agent's status and the principals it holds.
func (c *Client) List() (*Status, []Held, error) {
	resp, err := c.roundTrip(&Request{Op: OpList})
	if err != nil {
		return nil, nil, err
	}
	if resp.Agent == nil {
		return nil, nil, fmt.Errorf("%w: list: no status", ErrProtocol)
	}
	return resp.Agent, resp.Keys, nil
}

// Add gives the agent p's keys, which must be in memory. This is the one
// call that sends private keys, over the socket to the agent only.
func (c *Client) Add(p *keys.Principal) error {
	kf, err := p.MarshalKeyFile()
	if err != nil {
		return err
	}
	defer clear(kf)
	_, err = c.roundTrip(&Request{Op: OpAdd, Key: kf})
	return err
}

// Lock makes the agent forget h's keys, or every key if h is empty, and
// returns how many it forgot.
func (c *Client) Lock(h record.Handle) (int, error) {
	resp, err := c.roundTrip(&Request{Op: OpLock, Handle: h})
	if err != nil {
		return 0, err
	}
	return resp.Forgot, nil
}

// Stop makes the agent forget every key and exit.
func (c *Client) Stop() error {
	_, err := c.roundTrip(&Request{Op: OpStop})
	return err
}

// Sign asks the agent for h's pure Ed25519 signature of msg.
func (c *Client) Sign(h record.Handle, msg []byte) ([]byte, error) {
	resp, err := c.roundTrip(&Request{Op: OpSign, Handle: h, Msg: msg})
	if err != nil {
		return nil, err
	}
	return resp.Sig, nil
}

// Unwrap asks the agent to unwrap an age file key from stanzas as h. It
// returns an error wrapping age.ErrIncorrectIdentity if no stanza is
// sealed to h.
func (c *Client) Unwrap(h record.Handle, stanzas []*age.Stanza) ([]byte, error) {
	if len(stanzas) > MaxStanzas {
		return nil, fmt.Errorf("an age file with %d recipient stanzas (the agent takes at most %d)", len(stanzas), MaxStanzas)
	}
	req := &Request{Op: OpUnwrap, Handle: h}
	for _, s := range stanzas {
		req.Stanzas = append(req.Stanzas, Stanza{Type: s.Type, Args: s.Args, Body: s.Body})
	}
	resp, err := c.roundTrip(req)
	var e *Error
	if errors.As(err, &e) && e.Code == CodeIncorrectIdentity {
		return nil, age.ErrIncorrectIdentity
	}
	if err != nil {
		return nil, err
	}
	return resp.FileKey, nil
}

// Principal returns principal pub.Handle with its keys in the agent: its
// Signing and Sealing ask the agent to sign and unwrap. It fails with
// ErrNotRunning if no agent answers, ErrNotHeld if the agent does not hold
// the principal, and ErrKeyMismatch if it holds other keys under its
// handle.
func (c *Client) Principal(pub *keys.Public) (*keys.Principal, error) {
	r, err := pub.Recipient()
	if err != nil {
		return nil, err
	}
	_, held, err := c.List()
	if err != nil {
		return nil, err
	}
	for _, k := range held {
		if k.Handle != pub.Handle {
			continue
		}
		if !bytes.Equal(k.Ed25519, pub.Ed25519) || k.Age != pub.Age {
			return nil, fmt.Errorf("%s: %w (the home's public file differs from the keys unlocked)", pub.Handle, ErrKeyMismatch)
		}
		return &keys.Principal{
			Handle:  pub.Handle,
			Signing: &signer{c: c, h: pub.Handle, pub: pub.Ed25519},
			Sealing: &identity{c: c, h: pub.Handle, r: r},
		}, nil
	}
	return nil, fmt.Errorf("%w: %s is not unlocked", ErrNotHeld, pub.Handle)
}

// signer is a crypto.Signer whose key is in the agent.
type signer struct {
	c   *Client
	h   record.Handle
	pub ed25519.PublicKey
}

func (s *signer) Public() crypto.PublicKey { return s.pub }

// Sign signs msg with pure Ed25519 (opts must be crypto.Hash(0), as for
// ed25519.PrivateKey without options). The signature is checked against
// the principal's public key before it is returned: an agent that holds
// another key, or answers wrongly, is caught here.
func (s *signer) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("agent: only pure Ed25519 signatures (crypto.Hash(0))")
	}
	if o, ok := opts.(*ed25519.Options); ok && (o.Context != "" || o.Hash != crypto.Hash(0)) {
		return nil, errors.New("agent: only pure Ed25519 signatures, without a context")
	}
	sig, err := s.c.Sign(s.h, msg)
	if err != nil {
		return nil, err
	}
	if len(sig) != ed25519.SignatureSize || !record.VerifyEd25519(s.pub, msg, sig) {
		return nil, fmt.Errorf("%w: the agent's signature as %s does not verify with its public key", ErrProtocol, s.h)
	}
	return sig, nil
}

// identity is a keys.Identity whose age identity is in the agent.
type identity struct {
	c *Client
	h record.Handle
	r *age.HybridRecipient
}

func (i *identity) Recipient() *age.HybridRecipient { return i.r }

// fileKeySize is the size of an age file key.
const fileKeySize = 16

func (i *identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	fk, err := i.c.Unwrap(i.h, stanzas)
	if err != nil {
		return nil, err
	}
	if len(fk) != fileKeySize {
		return nil, fmt.Errorf("%w: a file key of %d bytes from the agent", ErrProtocol, len(fk))
	}
	// age checks the file key against the header's MAC.
	return fk, nil
}
