package line

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"pouch.dev/record"
)

// curves is the one key exchange of a line.
//
// SPEC: spec/line.md#tls
var curves = []tls.CurveID{tls.X25519MLKEM768}

// certificate returns a self-signed X.509 certificate for self whose key is
// key, the principal's Ed25519 signing key. Its subject common name is the
// handle; its validity is a day around now, and nobody checks it: the
// binding that matters is the key, checked against the directory.
//
// SPEC: spec/line.md#certificate
func certificate(self record.Handle, key crypto.Signer, now time.Time) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: string(self)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("line: making the certificate of %s: %w", self, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// hasEd25519 reports whether key is an Ed25519 signer, the only kind a
// line's certificate and signatures use.
func hasEd25519(key crypto.Signer) bool {
	if key == nil {
		return false
	}
	pub, ok := key.Public().(ed25519.PublicKey)
	return ok && len(pub) == ed25519.PublicKeySize
}

// isServer reports whether self is the TLS server of a line with peer: the
// handle that sorts first is.
//
// SPEC: spec/line.md#roles
func isServer(self, peer record.Handle) bool { return self < peer }

// tlsConfig returns the TLS configuration of self's end of a line to peer.
// peerKey receives the peer's verified key.
//
// SPEC: spec/line.md#tls
func tlsConfig(ctx context.Context, cfg *Config, peer record.Handle, cert tls.Certificate, peerKey *ed25519.PublicKey) *tls.Config {
	c := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		MaxVersion:       tls.VersionTLS13,
		CurvePreferences: curves,
		Certificates:     []tls.Certificate{cert},
		NextProtos:       []string{ALPN},
		// No resumption: every line is a full handshake with both
		// certificates checked against the directory.
		SessionTicketsDisabled: true,
		// Full-size records from the first byte: each record is one
		// WebSocket message through the relay, so small ones only cost.
		DynamicRecordSizingDisabled: true,
		// The peer's certificate is checked against the directory, below,
		// not against a CA: there is none.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			k, err := verifyPeer(ctx, cfg.Directory, peer, raw)
			if err != nil {
				return err
			}
			*peerKey = k
			return nil
		},
	}
	if cfg.curves != nil {
		c.CurvePreferences = cfg.curves // tests: a classical-only peer
	}
	if isServer(cfg.Self, peer) {
		c.ClientAuth = tls.RequireAnyClientCert
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if !slices.Contains(hello.SupportedCurves, tls.X25519MLKEM768) {
				return nil, &PeerError{Handle: peer, Err: ErrClassical}
			}
			return nil, nil
		}
	}
	return c
}

// verifyPeer checks the peer's certificate: one Ed25519 certificate naming
// peer, whose key is peer's current key in the directory.
//
// SPEC: spec/line.md#certificate
func verifyPeer(ctx context.Context, dir Directory, peer record.Handle, raw [][]byte) (ed25519.PublicKey, error) {
	if len(raw) != 1 {
		return nil, &PeerError{Handle: peer, Err: fmt.Errorf("presented %d certificates, want exactly one", len(raw))}
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return nil, &PeerError{Handle: peer, Err: fmt.Errorf("unreadable certificate: %v", err)}
	}
	key, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, &PeerError{Handle: peer, Err: errors.New("certificate key is not Ed25519")}
	}
	if cert.Subject.CommonName != string(peer) {
		return nil, &PeerError{Handle: peer, Key: key, Err: fmt.Errorf("%w: it says %q", ErrWrongPeer, cert.Subject.CommonName)}
	}
	if err := checkKey(ctx, dir, peer, key); err != nil {
		return nil, err
	}
	return key, nil
}

// handshakeError explains a failed handshake. Our own checks come back as
// a *PeerError; a bare alert from the peer means the peer refused us.
func handshakeError(peer record.Handle, err error) error {
	var pe *PeerError
	if errors.As(err, &pe) {
		return pe
	}
	return fmt.Errorf("line: TLS handshake with %s failed: %w (if %s refused us: our key may not be our office's current key in its directory, or it does not do the X25519MLKEM768 key exchange)", peer, err, peer)
}
