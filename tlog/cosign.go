package tlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A WitnessConfig names one witness the log asks for cosignatures.
type WitnessConfig struct {
	URL string // the witness's base URL; the log POSTs to URL + "/add-checkpoint"
	// Key is the witness's verifier key (name+hash+key), Ed25519 or
	// cosignature/v1 (see package witness).
	Key string
	// Name is the witness's name in the policy it came from, if any, for
	// logs and messages.
	Name string
}

// WitnessConflictError is a witness's 409 answer: the old size sent is not
// the size it last cosigned, which is Size.
type WitnessConflictError struct{ Size uint64 }

func (e *WitnessConflictError) Error() string {
	return fmt.Sprintf("witness last cosigned size %d", e.Size)
}

// ErrWitnessRefused is wrapped by AddCheckpoint for a witness's refusal
// other than a conflict: bad signature (403), unknown log (404), bad old
// size (400), or a proof that does not verify (422).
var ErrWitnessRefused = errors.New("witness refused the checkpoint")

// FormatAddCheckpoint returns a C2SP tlog-witness add-checkpoint request
// body: "old N", the consistency proof lines, an empty line, the checkpoint.
//
// SPEC: spec/log.md#witnesses
func FormatAddCheckpoint(oldSize uint64, proof [][]byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(checkpoint)
	return b.Bytes()
}

// ParseAddCheckpoint parses an add-checkpoint request body.
func ParseAddCheckpoint(body []byte) (oldSize uint64, proof [][]byte, checkpoint []byte, err error) {
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return 0, nil, nil, errors.New("add-checkpoint: no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	s, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return 0, nil, nil, errors.New(`add-checkpoint: first line is not "old N"`)
	}
	oldSize, err = strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(oldSize, 10) != s {
		return 0, nil, nil, fmt.Errorf("add-checkpoint: old size %q", s)
	}
	if len(lines)-1 > 63 {
		return 0, nil, nil, errors.New("add-checkpoint: proof longer than 63 hashes")
	}
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != 32 {
			return 0, nil, nil, fmt.Errorf("add-checkpoint: proof line %q is not a base64 hash", l)
		}
		proof = append(proof, h)
	}
	return oldSize, proof, cp, nil
}

// AddCheckpoint asks the witness at baseURL to cosign checkpoint, proving it
// consistent with the size oldSize the witness last cosigned. It returns the
// witness's cosignature lines.
func AddCheckpoint(ctx context.Context, hc *http.Client, baseURL string, oldSize uint64, proof [][]byte, checkpoint []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(baseURL, "/")+"/add-checkpoint",
		bytes.NewReader(FormatAddCheckpoint(oldSize, proof, checkpoint)))
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusConflict:
		n, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("witness %s: 409 with a body that is not a size: %q", baseURL, body)
		}
		return nil, &WitnessConflictError{Size: n}
	default:
		return nil, fmt.Errorf("witness %s: %w: %s: %s", baseURL, ErrWitnessRefused, resp.Status, strings.TrimSpace(string(body)))
	}
}

type witness struct {
	cfg      WitnessConfig
	verifier note.Verifier
	size     uint64 // the size it last cosigned, as far as the log knows
	// When it last cosigned, and when the log last asked it to; guarded
	// by Log.roundMu.
	cosignedAt, askedAt time.Time
}
