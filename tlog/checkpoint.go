package tlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"golang.org/x/mod/sumdb/note"

	"pouch.dev/internal/atomicfile"
	"pouch.dev/record"
)

// A Checkpoint is a parsed C2SP tlog-checkpoint: the log's origin, its size
// and its root hash, with the signed note it came in.
//
// SPEC: spec/log.md#checkpoints
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte // RFC 6962 root hash, 32 bytes
	Note   []byte // the signed note, as received
	// Cosigners names the witnesses whose cosignatures verified (their
	// names in the policy), in the policy's order.
	Cosigners []string
	// Cosignatures are those cosignatures, with their timestamps.
	Cosignatures []Cosignature
	// Witnessed tells whether the verifier required a witness quorum. If
	// not, the checkpoint proves nothing against a split view and nothing
	// about its freshness, and FreshAsOf and SequencedBy are zero.
	Witnessed bool
	// FreshAsOf is the latest time t such that the quorum is met by
	// cosignatures dated t or later: as of FreshAsOf, the quorum had seen
	// no other view of the log. Zero if the quorum is not met.
	//
	// SPEC: spec/log.md#freshness
	FreshAsOf time.Time
	// SequencedBy is the earliest time t such that the quorum is met by
	// cosignatures dated t or earlier: every leaf in this tree was
	// sequenced by then. Zero if the quorum is not met.
	//
	// SPEC: spec/log.md#sequencing-time
	SequencedBy time.Time
}

// CheckpointBody returns the text of a checkpoint: origin, size and the
// base64 root hash, each on its own line.
func CheckpointBody(origin string, size uint64, hash []byte) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(hash))
}

// ErrMalformedCheckpoint is returned for a checkpoint that does not parse.
var ErrMalformedCheckpoint = errors.New("malformed checkpoint")

// ParseCheckpointBody parses the text of a checkpoint. Extension lines
// after the root hash are allowed and ignored.
func ParseCheckpointBody(text string) (origin string, size uint64, hash []byte, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return "", 0, nil, fmt.Errorf("%w: fewer than three lines", ErrMalformedCheckpoint)
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, nil, fmt.Errorf("%w: empty origin", ErrMalformedCheckpoint)
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return "", 0, nil, fmt.Errorf("%w: size %q", ErrMalformedCheckpoint, lines[1])
	}
	hash, err = base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(hash) != 32 {
		return "", 0, nil, fmt.Errorf("%w: root hash %q", ErrMalformedCheckpoint, lines[2])
	}
	return origin, size, hash, nil
}

// GenerateKey returns a new Ed25519 signed-note key pair named name: the
// private key (PRIVATE+KEY+...) and the verifier key (name+hash+key).
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// VerifierKey returns the verifier key of the private note key skey.
func VerifierKey(skey string) (string, error) {
	name, seed, err := noteSeed(skey)
	if err != nil {
		return "", err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(name, pub)
}

// noteSeed returns the name and the Ed25519 seed of the signed-note
// private key skey (PRIVATE+KEY+name+keyid+base64 of the algorithm byte 1
// and the seed).
func noteSeed(skey string) (name string, seed []byte, err error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", nil, errors.New("not a signed-note private key (PRIVATE+KEY+...)")
	}
	k, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(k) != 1+ed25519.SeedSize || k[0] != 1 {
		return "", nil, errors.New("signed-note private key: not an Ed25519 key")
	}
	return parts[2], k[1:], nil
}

// NewNoteSigner returns the signer of the Ed25519 signed-note private key
// skey, as note.NewSigner does, except that it signs with curve25519-voi:
// about half of crypto/ed25519's time on this project's machines
// (BenchmarkSignCheckpoint), and the log signs a checkpoint at every
// round, which under load comes with nearly every commit of appends
// (spec/log.md#sequencing). Ed25519 signing is deterministic (RFC 8032),
// so the signatures are crypto/ed25519's, byte for byte (TestNoteSigner).
func NewNoteSigner(skey string) (note.Signer, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	_, seed, err := noteSeed(skey)
	if err != nil {
		return nil, err
	}
	return &noteSigner{Signer: s, key: voi.NewKeyFromSeed(seed)}, nil
}

type noteSigner struct {
	note.Signer
	key voi.PrivateKey
}

func (s *noteSigner) Sign(msg []byte) ([]byte, error) { return voi.Sign(s.key, msg), nil }

// NewNoteVerifier returns the verifier of the Ed25519 signed-note verifier
// key vkey (name+keyid+key), as note.NewVerifier does, except that it
// verifies through record.VerifyEd25519, like every Ed25519 verification
// pouch makes (spec/records.md#signature-verification). Witness
// cosignatures (cosignature/v1) are verified inside
// github.com/transparency-dev/formats, with crypto/ed25519, whose verdicts
// VerifyEd25519 reaches.
func NewNoteVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	pub, typ := vkeyPublic(vkey)
	if typ != sigTypeEd25519 || len(pub) != ed25519.PublicKeySize {
		// note.NewVerifier knows only Ed25519 keys; this cannot happen.
		return nil, fmt.Errorf("key %q: not an Ed25519 signed-note key", vkey)
	}
	return &noteVerifier{Verifier: v, pub: []byte(pub)}, nil
}

type noteVerifier struct {
	note.Verifier
	pub []byte
}

func (v *noteVerifier) Verify(msg, sig []byte) bool { return record.VerifyEd25519(v.pub, msg, sig) }

// LoadOrCreateKey reads the log's private note key from path, or creates
// one there (mode 0600) if the file does not exist, and returns it with the
// log's origin, the key's name. A new key is named origin, or, if origin is
// empty, a fresh origin unique to this log (NewOrigin), so that two
// deployments, or a development server started afresh, never share one. An
// existing key is refused if origin is set and is not its name: a log's key
// names its origin.
func LoadOrCreateKey(path, origin string) (skey, name string, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if origin == "" {
			origin = NewOrigin()
		}
		skey, _, err := GenerateKey(origin)
		if err != nil {
			return "", "", err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", "", err
		}
		if err := atomicfile.WriteNew(path, []byte(skey+"\n"), 0o600); err != nil {
			return "", "", fmt.Errorf("saving the log key: %w", err)
		}
		return skey, origin, nil
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the log key: %w", err)
	}
	skey = strings.TrimSpace(string(b))
	if _, err := note.NewSigner(skey); err != nil {
		return "", "", fmt.Errorf("log key %s: %w", path, err)
	}
	name = strings.SplitN(skey, "+", 4)[2]
	if origin != "" && name != origin {
		return "", "", fmt.Errorf("log key %s is for origin %q, not %q (each log origin has its own key: use another data directory or the origin %q)", path, name, origin, name)
	}
	return skey, name, nil
}

// OriginPrefix starts the origins NewOrigin makes.
const OriginPrefix = "pouch.localhost/log-"

// NewOrigin returns a fresh log origin, "pouch.localhost/log-" and 16
// random hex digits: what a log gets at first start when its operator
// names none.
func NewOrigin() string {
	var b [8]byte
	rand.Read(b[:])
	return OriginPrefix + hex.EncodeToString(b[:])
}

// signCheckpoint returns the signed note of a checkpoint.
func signCheckpoint(s note.Signer, origin string, size uint64, hash []byte) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(CheckpointBody(origin, size, hash))}, s)
}

// addSignatures returns signed note msg with the signature lines in sigs
// appended, skipping lines msg already has.
func addSignatures(msg []byte, sigs []byte) []byte {
	out := bytes.Clone(msg)
	for _, line := range bytes.SplitAfter(sigs, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !bytes.HasSuffix(line, []byte("\n")) {
			line = append(line, '\n')
		}
		if bytes.Contains(out, line) {
			continue
		}
		out = append(out, line...)
	}
	return out
}
