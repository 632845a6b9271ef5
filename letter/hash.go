package letter

import (
	"crypto/sha256"
	"hash"
	"io"
	"sync"
)

// A streamHasher computes the SHA-256 of bytes streamed through it. Small
// streams are hashed inline; past asyncAfter bytes the hashing moves to its
// own goroutine, fed with copies of the chunks, so that on a machine with a
// second core hashing a large payload overlaps its encryption or decryption
// instead of adding to it.
type streamHasher struct {
	h    hash.Hash
	n    uint64
	ch   chan []byte
	done chan struct{}
	pool sync.Pool
}

const asyncAfter = 1 << 20

func newStreamHasher() *streamHasher { return &streamHasher{h: sha256.New()} }

func (s *streamHasher) add(p []byte) {
	s.n += uint64(len(p))
	if s.ch == nil && s.n <= asyncAfter {
		s.h.Write(p)
		return
	}
	if s.ch == nil {
		s.ch = make(chan []byte, 8)
		s.done = make(chan struct{})
		go func() {
			for b := range s.ch {
				s.h.Write(b)
				s.pool.Put(&b)
			}
			close(s.done)
		}()
	}
	var buf []byte
	if bp, ok := s.pool.Get().(*[]byte); ok && cap(*bp) >= len(p) {
		buf = (*bp)[:len(p)]
	} else {
		buf = make([]byte, len(p), max(len(p), 64<<10+16))
	}
	copy(buf, p)
	s.ch <- buf
}

// sum waits for the hashing to finish and returns the digest and length.
func (s *streamHasher) sum() ([32]byte, uint64) {
	if s.ch != nil {
		close(s.ch)
		<-s.done
		s.ch = nil
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
