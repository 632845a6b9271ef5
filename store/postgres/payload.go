package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"pouch.dev/record"
	"pouch.dev/store"
)

// Payloads are stored in payload_chunks, one row per chunk of
// store.ChunkSize bytes, each written by a statement of its own with the
// chunk bound as one parameter; record_payloads names the chunks of each
// record's payload, and payload_staged the payloads written but not yet
// taken by a record, with the store that writes them (its owner). A
// staged chunk is written in a transaction of its own, so uploads do not
// wait for the log's head, nor appends for uploads.
//
// SPEC: spec/store.md#payloads

// StagePayload implements store.Store.
func (s *Store) StagePayload(ctx context.Context) (store.PayloadWriter, error) {
	if s.closed() {
		return nil, store.ErrClosed
	}
	var key int64
	if err := s.pool.QueryRow(ctx, `SELECT nextval('payload_keys')`).Scan(&key); err != nil {
		return nil, fmt.Errorf("store: staging a payload: %w", classify(err))
	}
	return &payloadWriter{s: s, ctx: ctx, key: key}, nil
}

type payloadWriter struct {
	s       *Store
	ctx     context.Context
	key     int64
	seq     int
	size    int64
	buf     []byte
	err     error // the first error: the writer is then useless
	done    bool  // committed
	written bool  // its payload_staged row exists
}

func (w *payloadWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("store: write to a committed payload")
	}
	n := 0
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, store.ChunkSize)
		}
		k := min(len(p), store.ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(w.buf) == store.ChunkSize {
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush stores the buffered chunk, and with last, commits the payload, in
// one transaction.
func (w *payloadWriter) flush(last bool) error {
	err := pgx.BeginFunc(w.ctx, w.s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if !w.written {
			b.Queue(`INSERT INTO payload_staged (payload, owner, created, size, chunks, committed) VALUES ($1, $2, $3, 0, 0, false)`,
				w.key, w.s.owner, time.Now().UnixMilli())
		}
		if len(w.buf) > 0 {
			b.Queue(`INSERT INTO payload_chunks (payload, seq, data) VALUES ($1, $2, $3)`, w.key, w.seq, w.buf)
		}
		chunks := w.seq
		if len(w.buf) > 0 {
			chunks++
		}
		var updated int64
		b.Queue(`UPDATE payload_staged SET size = $1, chunks = $2, committed = $3 WHERE payload = $4 AND NOT committed AND chunks = $5`,
			w.size+int64(len(w.buf)), chunks, last, w.key, w.seq).Exec(func(ct pgconn.CommandTag) error {
			updated = ct.RowsAffected()
			return nil
		})
		if err := tx.SendBatch(w.ctx, b).Close(); err != nil {
			return classify(err)
		}
		if updated != 1 {
			return fmt.Errorf("store: chunk %d of payload %d: %w", w.seq, w.key, store.ErrNotStaged)
		}
		return nil
	})
	w.written = true // even if it failed: Abort then looks
	if err != nil {
		w.err = fmt.Errorf("store: staging a payload: %w", err)
		return w.err
	}
	if len(w.buf) > 0 {
		w.seq++
	}
	w.size += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

func (w *payloadWriter) Commit() (*store.Staged, error) {
	if w.err != nil {
		return nil, w.err
	}
	if !w.done {
		if err := w.flush(true); err != nil {
			return nil, err
		}
		w.done = true
		w.buf = nil
	}
	return &store.Staged{Key: w.key, Size: w.size}, nil
}

func (w *payloadWriter) Abort() error {
	w.buf = nil
	if w.err == nil {
		w.err = errors.New("store: payload aborted")
	}
	if !w.written {
		return nil
	}
	// Discarded with a context of its own: the request's may be done,
	// and the chunks must go all the same. Once an Append took the
	// payload, its row in payload_staged is gone, and so nothing is.
	ctx, cancel := context.WithTimeout(context.Background(), txTimeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, w.s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM payload_staged WHERE payload = $1`, w.key)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM payload_chunks WHERE payload = $1`, w.key)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: discarding a staged payload: %w", classify(err))
	}
	return nil
}

// OpenPayload implements store.Store.
func (s *Store) OpenPayload(ctx context.Context, id record.ID) (store.PayloadReader, error) {
	var key, size int64
	err := s.pool.QueryRow(ctx, `SELECT p.payload, p.size FROM records r JOIN record_payloads p ON p.idx = r.idx WHERE r.id = $1`, id[:]).Scan(&key, &size)
	if err != nil {
		return nil, notFound(err, "payload of "+id.String())
	}
	return &payloadReader{s: s, ctx: ctx, key: key, size: size}, nil
}

type payloadReader struct {
	s    *Store
	ctx  context.Context
	key  int64
	size int64
	seq  int    // the next chunk to read
	off  int64  // bytes of the payload returned so far
	buf  []byte // the rest of the current chunk
}

func (r *payloadReader) Size() int64 { return r.size }

func (r *payloadReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		var data []byte
		err := r.s.pool.QueryRow(r.ctx, `SELECT data FROM payload_chunks WHERE payload = $1 AND seq = $2`, r.key, r.seq).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("store: payload %d lacks chunk %d: %w", r.key, r.seq, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, fmt.Errorf("store: reading payload %d: %w", r.key, classify(err))
		}
		if want := min(int64(store.ChunkSize), r.size-r.off); int64(len(data)) != want {
			return 0, fmt.Errorf("store: chunk %d of payload %d has %d bytes, want %d", r.seq, r.key, len(data), want)
		}
		r.buf = data
		r.seq++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.off += int64(n)
	return n, nil
}

func (r *payloadReader) Close() error {
	r.buf = nil
	r.off = r.size
	return nil
}
