package tlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// DefaultRefreshInterval is how long an idle log lets its witnesses'
// cosignatures age before asking again: well under DefaultMaxAge, so that
// clients always find a fresh checkpoint even if several refreshes in a
// row fail.
const DefaultRefreshInterval = 10 * time.Minute

// cosign asks every witness to cosign cp, the log-signed checkpoint of
// size size just integrated, in parallel, and returns cp with the
// cosignatures that came back, or nil if none did.
func (l *Log) cosign(ctx context.Context, cp []byte, size uint64) []byte {
	out, _ := l.collect(ctx, cp, nil, size, l.witness)
	return out
}

// collect asks the witnesses ws to cosign base (a checkpoint of size size
// signed by the log alone), in parallel, and returns base with, for each
// of the log's witnesses in order, its new cosignature or else the one it
// had in prev, if prev holds one that verifies. Only cosignature lines
// that verify with the witness's key are kept. It returns nil if no
// witness in ws cosigned, and the number that did.
//
// SPEC: spec/log.md#witnesses
func (l *Log) collect(ctx context.Context, base, prev []byte, size uint64, ws []*witness) ([]byte, int) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.WitnessTimeout)
	defer cancel()
	fresh := make(map[*witness]string, len(ws))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.askedAt = time.Now()
			s, err := l.askWitness(ctx, w, base, size)
			if err != nil {
				l.log.Warn("witness did not cosign", "witness", w.cfg.URL, "size", size, "err", err)
				return
			}
			line, ok := cosignatureLine(addSignatures(base, s), w.verifier)
			if !ok {
				l.log.Warn("witness returned a cosignature that does not verify", "witness", w.cfg.URL, "size", size)
				return
			}
			w.cosignedAt = time.Now()
			mu.Lock()
			fresh[w] = line
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(fresh) == 0 {
		return nil, 0
	}
	out := base
	for _, w := range l.witness {
		line, ok := fresh[w]
		if !ok && prev != nil {
			line, ok = cosignatureLine(prev, w.verifier)
		}
		if ok {
			out = addSignatures(out, []byte(line))
		}
	}
	return out, len(fresh)
}

// cosignatureLine returns the signature line of v in the signed note msg,
// if it has one that verifies.
func cosignatureLine(msg []byte, v note.Verifier) (string, bool) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 {
		return "", false
	}
	return "— " + n.Sigs[0].Name + " " + n.Sigs[0].Base64 + "\n", true
}

func (l *Log) askWitness(ctx context.Context, w *witness, cp []byte, size uint64) ([]byte, error) {
	for try := 0; try < 3; try++ {
		old := w.size
		proof, err := l.h.consistency(ctx, old, size)
		if err != nil {
			return nil, err
		}
		sig, err := AddCheckpoint(ctx, l.hc, w.cfg.URL, old, proof, cp)
		var conflict *WitnessConflictError
		if errors.As(err, &conflict) && conflict.Size != old && conflict.Size <= size {
			w.size = conflict.Size
			continue
		}
		if err != nil {
			return nil, err
		}
		w.size = size
		return sig, nil
	}
	return nil, errors.New("witness keeps answering 409")
}

// Refresh asks each witness whose last cosignature is at least
// Config.RefreshInterval old (every witness, if force) to cosign the
// published checkpoint again. When the log has not grown, that is the same
// checkpoint with an empty consistency proof from its own size, which C2SP
// tlog-witness allows and which gets a new timestamp. The checkpoint is
// stored and published with the new cosignatures, keeping the older ones
// of witnesses that did not answer. A witness that did not answer is asked
// again after a tenth of the interval. Run calls Refresh while the log is
// idle, so that clients, which refuse checkpoints whose cosignatures are
// older than their maximum age (Client.MaxAge), always find a fresh one.
// It returns how many witnesses cosigned.
//
// SPEC: spec/log.md#refreshing-cosignatures
func (l *Log) Refresh(ctx context.Context, force bool) (int, error) {
	if len(l.witness) == 0 || (l.cfg.RefreshInterval < 0 && !force) {
		return 0, nil
	}
	l.roundMu.Lock()
	defer l.roundMu.Unlock()
	now := time.Now()
	var due []*witness
	for _, w := range l.witness {
		if force || now.Sub(w.cosignedAt) >= l.cfg.RefreshInterval && now.Sub(w.askedAt) >= l.cfg.RefreshInterval/10 {
			due = append(due, w)
		}
	}
	if len(due) == 0 {
		return 0, nil
	}
	cp, size := l.Checkpoint()
	origin, n, hash, err := ParseCheckpointBody(checkpointText(cp))
	if err != nil || origin != l.cfg.Origin || n != size {
		return 0, fmt.Errorf("the published checkpoint does not parse: %v", err)
	}
	// The log's Ed25519 signature is deterministic: this is the published
	// checkpoint without its cosignatures.
	base, err := signCheckpoint(l.signer, origin, size, hash)
	if err != nil {
		return 0, err
	}
	out, got := l.collect(ctx, base, cp, size, due)
	if out == nil {
		return 0, nil
	}
	if err := l.st.Cosigned(ctx, size, out); err != nil {
		return 0, fmt.Errorf("storing the refreshed cosignatures of size %d: %w", size, err)
	}
	l.publish(out, size)
	l.log.Info("refreshed cosignatures", "size", size, "witnesses", got)
	return got, nil
}
