// Package witness is a C2SP tlog-witness: it cosigns a log's checkpoints
// (C2SP tlog-cosignature, cosignature/v1) after checking that each one is
// consistent with the last it cosigned for that log, and refuses any other.
// A log that shows one party a checkpoint and another party a different
// history cannot have both cosigned by the same honest witness.
//
// The witness keeps, per log origin, the last checkpoint it cosigned in a
// file, replaced atomically before the cosignature is returned, so a
// restart never makes it cosign a fork.
//
// SPEC: spec/log.md#witnesses
package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/mldsa"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"pouch.dev/internal/atomicfile"
	"pouch.dev/tlog"
)

// Config configures a Witness.
type Config struct {
	// Key is the witness's private signed-note key (PRIVATE+KEY+name+...):
	// Ed25519, cosigning as C2SP tlog-cosignature's cosignature/v1, or
	// ML-DSA-44 (GenerateMLDSAKey), cosigning post-quantum.
	Key string
	// Now, if set, is the witness's clock, the time it writes into each
	// cosignature; it needs an ML-DSA-44 key (the Ed25519 cosigner reads
	// the system clock itself). Demos whose clock moves use it, so that
	// the witness keeps their time.
	Now func() time.Time
	// Logs are the verifier keys of the logs it witnesses; each key's name
	// is the log's origin.
	Logs []string
	// Dir keeps the last cosigned checkpoint of each log.
	Dir string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// A Witness is the tlog-witness HTTP handler (POST /add-checkpoint).
type Witness struct {
	signer note.Signer
	vkey   string
	logs   map[string]note.Verifier
	dir    string
	lg     *slog.Logger
	mu     sync.Mutex // one add-checkpoint at a time
}

// New returns a Witness.
func New(cfg Config) (*Witness, error) {
	var signer note.Signer
	var vkey string
	if isMLDSA(cfg.Key) {
		s, err := fnote.NewMLDSASigner(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("witness key: %w", err)
		}
		if vkey, err = mldsaVerifierKey(cfg.Key); err != nil {
			return nil, fmt.Errorf("witness key: %w", err)
		}
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		signer = &timedSigner{s: s, now: now}
	} else {
		if cfg.Now != nil {
			return nil, errors.New("witness: a witness with its own clock (Config.Now) needs an ML-DSA-44 key (GenerateMLDSAKey)")
		}
		s, err := fnote.NewSignerForCosignatureV1(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("witness key: %w", err)
		}
		if vkey, err = tlog.VerifierKey(cfg.Key); err != nil {
			return nil, err
		}
		if vkey, err = fnote.VKeyToCosignatureV1(vkey); err != nil {
			return nil, err
		}
		signer = s
	}
	w := &Witness{signer: signer, vkey: vkey, logs: map[string]note.Verifier{}, dir: cfg.Dir, lg: cfg.Logger}
	if w.lg == nil {
		w.lg = slog.Default()
	}
	keys := map[string]string{}
	for _, k := range cfg.Logs {
		v, err := tlog.NewNoteVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("log key %q: %w", k, err)
		}
		if other, ok := keys[v.Name()]; ok && other != k {
			return nil, fmt.Errorf("%w: %s is the origin of two logs given, %s and %s: a witness keeps one history per origin, so each log needs its own origin (pouch serve --origin)", ErrOriginTaken, v.Name(), other, k)
		}
		keys[v.Name()] = k
		w.logs[v.Name()] = v
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	for origin, v := range w.logs {
		if err := w.checkState(origin, v, keys[origin]); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// ErrOriginTaken is returned by New for a log whose origin the witness
// already witnesses under another key.
var ErrOriginTaken = errors.New("the witness already witnesses a log with this origin under another key")

// checkState refuses a log whose origin the witness has cosigned under
// another key: the checkpoint it keeps for the origin must verify with
// the log's key.
//
// SPEC: spec/log.md#witnesses
func (w *Witness) checkState(origin string, v note.Verifier, key string) error {
	path := w.statePath(origin)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(b, note.VerifierList(v)); errors.As(err, &unverified) {
		return fmt.Errorf("%w: the last checkpoint of %s it cosigned (kept in %s) is not signed by %s. "+
			"A witness keeps one history per origin, so a second log needs its own origin (pouch serve --origin); "+
			"if this log's key really changed, move %s away to witness it afresh", ErrOriginTaken, origin, path, key, path)
	} else if err != nil {
		return fmt.Errorf("the last checkpoint of %s it cosigned (kept in %s): %w", origin, path, err)
	}
	return nil
}

// VerifierKey returns the witness's cosignature/v1 verifier key, which logs
// and clients configure.
func (w *Witness) VerifierKey() string { return w.vkey }

// Name returns the witness's name.
func (w *Witness) Name() string { return w.signer.Name() }

// An Error is a refusal, with the HTTP status C2SP tlog-witness assigns.
type Error struct {
	Status int
	Size   uint64 // for 409: the size last cosigned
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func refuse(status int, format string, a ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, a...)}
}

// ServeHTTP implements POST /add-checkpoint.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/add-checkpoint" {
		http.NotFound(rw, r)
		return
	}
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", "POST")
		http.Error(rw, "use POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, 64<<10))
	if err != nil {
		http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	sig, err := w.AddCheckpoint(body)
	var e *Error
	if errors.As(err, &e) {
		if e.Status == http.StatusConflict {
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", e.Size)
			return
		}
		w.lg.Warn("refused a checkpoint", "status", e.Status, "reason", e.Msg)
		http.Error(rw, e.Msg, e.Status)
		return
	}
	if err != nil {
		w.lg.Error("add-checkpoint", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(sig)
}

func (w *Witness) statePath(origin string) string {
	return filepath.Join(w.dir, url.PathEscape(origin)+".checkpoint")
}

// AddCheckpoint handles one add-checkpoint request body and returns the
// cosignature line, or an *Error.
//
// SPEC: spec/log.md#witnesses
func (w *Witness) AddCheckpoint(body []byte) ([]byte, error) {
	oldSize, proof, msg, err := tlog.ParseAddCheckpoint(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%v", err)
	}
	origin, _, _ := strings.Cut(string(msg), "\n")
	lv, ok := w.logs[origin]
	if !ok {
		return nil, refuse(http.StatusNotFound, "unknown log %q", origin)
	}
	v := &tlog.Verifier{Origin: origin, Log: lv}
	cp, err := v.Open(msg)
	if err != nil {
		return nil, refuse(http.StatusForbidden, "%v", err)
	}
	if oldSize > cp.Size {
		return nil, refuse(http.StatusBadRequest, "old size %d is beyond the checkpoint's size %d", oldSize, cp.Size)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var last *tlog.Checkpoint
	b, err := os.ReadFile(w.statePath(origin))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if last, err = v.Open(b); err != nil {
			return nil, fmt.Errorf("the stored checkpoint of %s: %w", origin, err)
		}
	}
	lastSize := uint64(0)
	if last != nil {
		lastSize = last.Size
	}
	if oldSize != lastSize {
		return nil, &Error{Status: http.StatusConflict, Size: lastSize, Msg: fmt.Sprintf("last cosigned size is %d", lastSize)}
	}
	if (oldSize == 0 || oldSize == cp.Size) && len(proof) != 0 {
		return nil, refuse(http.StatusUnprocessableEntity, "a consistency proof from size %d to size %d must be empty", oldSize, cp.Size)
	}
	if last != nil {
		if err := tlog.VerifyConsistency(last, cp, proof); err != nil {
			w.lg.Warn("refused an inconsistent checkpoint: split view evidence", "origin", origin,
				"held", string(last.Note), "got", string(cp.Note))
			if cp.Size == last.Size {
				// C2SP tlog-witness: the same size with another root
				// is a conflict.
				return nil, &Error{Status: http.StatusConflict, Size: lastSize, Msg: fmt.Sprintf("%v", err)}
			}
			return nil, refuse(http.StatusUnprocessableEntity, "%v", err)
		}
	}
	text := string(msg[:bytes.Index(msg, []byte("\n\n"))+1])
	signed, err := note.Sign(&note.Note{Text: text}, w.signer)
	if err != nil {
		return nil, err
	}
	if last == nil || cp.Size > last.Size {
		if err := atomicfile.WriteFile(w.statePath(origin), msg, 0o600); err != nil {
			return nil, fmt.Errorf("keeping the checkpoint: %w", err)
		}
	}
	return signed[len(text)+1:], nil
}

// GenerateMLDSAKey returns a new ML-DSA-44 witness key pair named name:
// the private key (PRIVATE+KEY+...) and the verifier key, whose
// cosignatures are post-quantum (C2SP tlog-cosignature, signature type
// 0x06).
func GenerateMLDSAKey(name string) (skey, vkey string, err error) {
	return fnote.GenerateMLDSAKey(name)
}

// isMLDSA reports whether skey is an ML-DSA-44 private note key.
func isMLDSA(skey string) bool {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return false
	}
	k, err := base64.StdEncoding.DecodeString(parts[4])
	return err == nil && len(k) > 0 && k[0] == sigTypeMLDSA44
}

// sigTypeMLDSA44 is the signed-note signature type of ML-DSA-44
// cosignatures.
const sigTypeMLDSA44 = 0x06

// mldsaVerifierKey returns the verifier key of an ML-DSA-44 private note
// key: name, key hash and the public key, as fnote.GenerateMLDSAKey
// writes them.
func mldsaVerifierKey(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	k, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(k) < 2 {
		return "", errors.New("not an ML-DSA-44 key")
	}
	priv, err := mldsa.NewPrivateKey(mldsa.MLDSA44(), k[1:])
	if err != nil {
		return "", err
	}
	pub := append([]byte{sigTypeMLDSA44}, priv.PublicKey().Bytes()...)
	vkey := fmt.Sprintf("%s+%s+%s", parts[2], parts[3], base64.StdEncoding.EncodeToString(pub))
	if _, err := fnote.NewVerifierForCosignatureV1(vkey); err != nil {
		return "", err
	}
	return vkey, nil
}

// A timedSigner cosigns with ML-DSA-44 at the time its clock gives.
type timedSigner struct {
	s   *fnote.SubtreeSigner
	now func() time.Time
}

func (t *timedSigner) Name() string    { return t.s.Name() }
func (t *timedSigner) KeyHash() uint32 { return t.s.KeyHash() }
func (t *timedSigner) Sign(msg []byte) ([]byte, error) {
	origin, size, hash, err := tlog.ParseCheckpointBody(string(msg))
	if err != nil {
		return nil, err
	}
	return t.s.SignSubtree(uint64(t.now().Unix()), origin, 0, size, hash)
}
