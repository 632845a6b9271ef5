package letter

import (
	"crypto/sha256"
	"hash"
	"io"
)

// A streamHasher computes the SHA-256 of bytes streamed through it.
//
// SHA-256 is about as fast as age's ChaCha20-Poly1305, so on a machine with
// a second core a large stream is hashed on its own goroutine, overlapping
// the encryption or decryption on the caller's goroutine instead of adding
// to it. Small streams are hashed inline: past asyncAfter bytes the bytes
// are copied into a bounded ring of hashBufs reused buffers of hashBufSize
// bytes, handed to the hashing goroutine and back, so a stream of any size
// uses at most hashBufs*hashBufSize bytes and allocates nothing per chunk.
//
// sum must be called, even after an error, to end the goroutine; calling it
// again returns the same digest.
type streamHasher struct {
	h hash.Hash
	n uint64

	// Set once the hashing is on its own goroutine.
	buf  []byte      // being filled: len is what it holds
	full chan []byte // to the hashing goroutine
	free chan []byte // back from it, emptied; nil entries are yet to be allocated
	done chan struct{}
}

const (
	asyncAfter  = 1 << 20
	hashBufSize = 256 << 10
	hashBufs    = 4
)

func newStreamHasher() *streamHasher { return &streamHasher{h: sha256.New()} }

// start moves the hashing to its own goroutine.
func (s *streamHasher) start() {
	s.full = make(chan []byte, hashBufs)
	s.free = make(chan []byte, hashBufs)
	for range hashBufs {
		s.free <- nil
	}
	s.done = make(chan struct{})
	go func(h hash.Hash, full <-chan []byte, free chan<- []byte, done chan<- struct{}) {
		for b := range full {
			h.Write(b)
			free <- b[:0] // never blocks: there are only hashBufs buffers
		}
		close(done)
	}(s.h, s.full, s.free, s.done)
	s.next()
}

// next takes an empty buffer to fill, waiting for the hashing goroutine to
// give one back if all are in flight.
func (s *streamHasher) next() {
	s.buf = <-s.free
	if s.buf == nil {
		s.buf = make([]byte, 0, hashBufSize)
	}
}

// flush hands the buffer being filled to the hashing goroutine.
func (s *streamHasher) flush() {
	s.full <- s.buf
	s.next()
}

// Write hashes p.
func (s *streamHasher) Write(p []byte) (int, error) {
	s.add(p)
	return len(p), nil
}

func (s *streamHasher) add(p []byte) {
	if s.full == nil {
		if s.n+uint64(len(p)) <= asyncAfter {
			s.n += uint64(len(p))
			s.h.Write(p)
			return
		}
		s.start()
	}
	s.n += uint64(len(p))
	for len(p) > 0 {
		k := copy(s.buf[len(s.buf):cap(s.buf)], p)
		s.buf = s.buf[:len(s.buf)+k]
		p = p[k:]
		if len(s.buf) == cap(s.buf) {
			s.flush()
		}
	}
}

// readFrom hashes the size bytes r holds and returns how many it read. A
// large stream is read straight into the buffers of the hashing goroutine,
// so that reading it overlaps hashing it; a small one is read through buf
// and hashed inline.
func (s *streamHasher) readFrom(r io.Reader, size int64, buf []byte) (int64, error) {
	if size <= asyncAfter {
		return io.CopyBuffer(s, r, buf)
	}
	if s.full == nil {
		s.start()
	}
	var total int64
	for {
		n, err := r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		s.n += uint64(n)
		total += int64(n)
		if len(s.buf) == cap(s.buf) {
			s.flush()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// copyTo copies r to w through the hashing goroutine's buffers (which it
// starts whatever the size), so that each byte is copied once: read into a
// buffer, written to w from it, then hashed from it. It returns how many
// bytes it read and hashed.
func (s *streamHasher) copyTo(w io.Writer, r io.Reader) (int64, error) {
	if s.full == nil {
		s.start()
	}
	var total int64
	for {
		b := s.buf[len(s.buf):cap(s.buf)]
		n, err := r.Read(b)
		s.buf = s.buf[:len(s.buf)+n]
		s.n += uint64(n)
		total += int64(n)
		if n > 0 {
			m, werr := w.Write(b[:n])
			if werr == nil && m < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return total, werr
			}
		}
		if len(s.buf) == cap(s.buf) {
			s.flush()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// sum waits for the hashing to finish and returns the digest and length.
func (s *streamHasher) sum() ([32]byte, uint64) {
	if s.full != nil {
		if len(s.buf) > 0 {
			s.full <- s.buf
		}
		close(s.full)
		<-s.done
		s.full, s.free, s.buf = nil, nil, nil
	}
	var d [32]byte
	s.h.Sum(d[:0])
	return d, s.n
}

// hashingWriter writes to w and hashes what was written.
type hashingWriter struct {
	w io.Writer
	s *streamHasher
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.s.add(p[:n])
	return n, err
}

// hashingReader reads from r and hashes what was read.
type hashingReader struct {
	r io.Reader
	s *streamHasher
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.s.add(p[:n])
	return n, err
}

// An attachmentReader reads an attachment's content from a payload's
// plaintext and hashes it. Copied with io.Copy, a large attachment goes
// through the hashing goroutine's buffers (see streamHasher.copyTo).
type attachmentReader struct {
	r    io.Reader // limited to the attachment
	size uint64
	s    *streamHasher
}

func (ar *attachmentReader) Read(p []byte) (int, error) {
	n, err := ar.r.Read(p)
	ar.s.add(p[:n])
	return n, err
}

func (ar *attachmentReader) WriteTo(w io.Writer) (int64, error) {
	if ar.size-ar.s.n <= asyncAfter {
		return io.Copy(w, struct{ io.Reader }{ar})
	}
	return ar.s.copyTo(w, ar.r)
}
