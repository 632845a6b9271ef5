package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

	"pouch.dev/record"
	"pouch.dev/store"
)

// A payload that comes with its record in memory (store.Entry.Payload)
// and fits in one chunk is stored whole in inline_payloads, under the
// record's leaf index (schema version 3). Others are stored in the
// payload_chunks table, one row per chunk of store.ChunkSize bytes, under
// a payload key; record_payloads names the key and size of each record's
// payload, and payload_staged the payloads written but not yet taken by a
// record. Chunks of a staged payload are written by the writer goroutine,
// in the group commit, so they share its fsyncs.
//
// SPEC: spec/store.md#payloads

// StagePayload implements store.Store.
func (s *Store) StagePayload(ctx context.Context) (store.PayloadWriter, error) {
	select {
	case <-s.closing:
		return nil, store.ErrClosed
	default:
	}
	return &payloadWriter{s: s, ctx: ctx, key: s.nextKey.Add(1)}, nil
}

type payloadWriter struct {
	s       *Store
	ctx     context.Context
	key     int64
	seq     int64
	size    int64
	buf     []byte
	err     error // the first error: the writer is then useless
	done    bool  // committed
	written bool  // anything sent to the writer goroutine
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

// flush stores the buffered chunk, and waits until it is committed.
func (w *payloadWriter) flush(last bool) error {
	req := &writeReq{chunk: &chunkReq{key: w.key, seq: w.seq, data: w.buf, last: last}, done: make(chan struct{})}
	w.written = true
	if err := w.s.send(w.ctx, w.s.chunks, req); err != nil {
		w.err = err
		return err
	}
	// A chunk is short: wait for it even if ctx ends, so that the buffer
	// is not reused while the writer reads it.
	<-req.done
	if req.err != nil {
		w.err = req.err
		return req.err
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
	// and the chunks must go all the same.
	req := &writeReq{discard: w.key, done: make(chan struct{})}
	if err := w.s.send(context.Background(), w.s.reqs, req); err != nil {
		return err
	}
	<-req.done
	return req.err
}

// send hands req to the writer goroutine, through ch. The queue has room
// most of the time: a plain send then, without a select's locking of
// three channels that thousands of appenders share (4 % of pbench log's
// CPU was in selectgo here). A closed store refuses at once.
func (s *Store) send(ctx context.Context, ch chan<- *writeReq, req *writeReq) error {
	select {
	case <-s.closing:
		return store.ErrClosed
	default:
	}
	select {
	case ch <- req:
		return nil
	default:
	}
	select {
	case ch <- req:
		return nil
	case <-s.closing:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OpenPayload implements store.Store.
func (s *Store) OpenPayload(ctx context.Context, id record.ID) (store.PayloadReader, error) {
	var whole bool
	var data []byte
	var key, size sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT i.idx IS NOT NULL, i.data, p.payload, p.size FROM records r
		LEFT JOIN inline_payloads i ON i.idx = r.idx LEFT JOIN record_payloads p ON p.idx = r.idx
		WHERE r.id = ? AND (i.idx IS NOT NULL OR p.idx IS NOT NULL)`, id[:]).Scan(&whole, &data, &key, &size)
	if err != nil {
		return nil, notFound(err, "payload of "+id.String())
	}
	if whole {
		// The whole payload, read already: the reader only hands it out.
		return &payloadReader{s: s, ctx: ctx, size: int64(len(data)), buf: data}, nil
	}
	return &payloadReader{s: s, ctx: ctx, key: key.Int64, size: size.Int64}, nil
}

type payloadReader struct {
	s    *Store
	ctx  context.Context
	key  int64
	size int64
	seq  int64  // the next chunk to read
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
		err := r.s.r.QueryRowContext(r.ctx, `SELECT data FROM payload_chunks WHERE payload = ? AND seq = ?`, r.key, r.seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
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

// Payload returns the payload stored with record id, read whole into
// memory, or store.ErrNotFound: for tests and tools that inspect the
// store, with payloads they know to be small.
func (s *Store) Payload(ctx context.Context, id record.ID) ([]byte, error) {
	r, err := s.OpenPayload(ctx, id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, 0, r.Size())
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		b = append(b, buf[:n]...)
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
