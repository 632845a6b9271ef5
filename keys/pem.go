package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// MarshalEd25519PEM returns k as a PKCS #8 "PRIVATE KEY" PEM block, the
// standard encoding pouch uses for every Ed25519 private key it keeps: a
// principal's signing key (inside its key file), a house registrar's key,
// the server's operator key.
//
// SPEC: spec/keys.md#key-file
func MarshalEd25519PEM(k ed25519.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic("keys: encoding an Ed25519 key cannot fail: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ParseEd25519PEM parses exactly one PKCS #8 "PRIVATE KEY" PEM block
// holding an Ed25519 key, as MarshalEd25519PEM writes it.
func ParseEd25519PEM(b []byte) (ed25519.PrivateKey, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("no valid PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	sk, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want Ed25519", k)
	}
	return sk, nil
}
