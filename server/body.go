package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"pouch.dev/record"
)

// Request bodies are read a step at a time, never into a buffer of the
// size a client declares: each step is taken from the memory budget as
// the bytes arrive, so a client that declares 64 MiB and sends a byte
// every few seconds holds a few bytes, until ReadTimeout ends it. Only
// what is needed before anything is verified (a record, a pouch's tag) is
// buffered; a pouch's payload is streamed into the store once its tag is
// verified.
//
// SPEC: spec/api.md#limits

// errBodyTooLarge is the error of a body, or a part of one, over its
// limit.
func errBodyTooLarge(what string, limit int64) error {
	return &apiError{status: http.StatusRequestEntityTooLarge, err: fmt.Errorf("%s larger than %d bytes: %w", what, limit, record.ErrTooLarge)}
}

// readError turns an error reading a body into the answer's error: a
// timeout is 408, a body over http.MaxBytesReader's limit 413, the rest
// 400 (the client went away, or sent less than it declared).
func readError(what string, err error) error {
	var ae *apiError
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &ae):
		return err
	case errors.As(err, &mbe):
		return errBodyTooLarge(what, mbe.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &apiError{status: http.StatusRequestTimeout, hint: "send the body faster", err: fmt.Errorf("reading the %s: too slow", what)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{status: http.StatusBadRequest, err: fmt.Errorf("the %s ends early", what)}
	}
	return &apiError{status: http.StatusBadRequest, err: fmt.Errorf("reading the %s: %v", what, err)}
}

// readN reads exactly n bytes (n at most limit) from r, growing its
// buffer a step at a time and taking each step from h first.
func readN(r io.Reader, n, limit int64, h *hold, what string) ([]byte, error) {
	if n > limit {
		return nil, errBodyTooLarge(what, limit)
	}
	if !h.grow(min(n, bodyStart)) {
		return nil, h.b.busy()
	}
	// The first bodyStart bytes of a longer body are read into a buffer
	// of the pool, which the body outgrows (it is then given back): the
	// buffer returned is of the body's own, and the one allocation.
	var b []byte
	var first *[bodyStart]byte
	if n > bodyStart {
		first = firstSteps.Get().(*[bodyStart]byte)
		defer firstSteps.Put(first)
		b = first[:0]
	} else {
		b = make([]byte, 0, n)
	}
	for int64(len(b)) < n {
		if len(b) == cap(b) {
			grow := min(n, int64(cap(b)+min(cap(b), bodyStep))) - int64(cap(b))
			if !h.grow(grow) {
				return nil, h.b.busy()
			}
			nb := make([]byte, len(b), int64(cap(b))+grow)
			copy(nb, b)
			h.shrink(int64(cap(b)))
			b = nb
		}
		k, err := r.Read(b[len(b):min(int64(cap(b)), n)])
		b = b[:len(b)+k]
		if err == io.EOF && int64(len(b)) == n {
			break
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, readError(what, err)
		}
	}
	return b, nil
}

// firstSteps are readN's first buffers for bodies longer than one.
var firstSteps = sync.Pool{New: func() any { return new([bodyStart]byte) }}

// readAll reads r to its end, at most limit bytes, as readN does; a body
// of declared length is read as one of that length.
func readAll(r io.Reader, declared, limit int64, h *hold, what string) ([]byte, error) {
	if declared > limit {
		return nil, errBodyTooLarge(what, limit)
	}
	if declared >= 0 {
		b, err := readN(r, declared, limit, h, what)
		if err != nil {
			return nil, err
		}
		return b, expectEnd(r, what)
	}
	b := make([]byte, 0, bodyStart)
	if !h.grow(bodyStart) {
		return nil, h.b.busy()
	}
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return nil, errBodyTooLarge(what, limit)
			}
			grow := int64(min(cap(b), bodyStep))
			if !h.grow(grow) {
				return nil, h.b.busy()
			}
			nb := make([]byte, len(b), int64(cap(b))+grow)
			copy(nb, b)
			h.shrink(int64(cap(b)))
			b = nb
		}
		k, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if int64(len(b)) > limit {
			return nil, errBodyTooLarge(what, limit)
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, readError(what, err)
		}
	}
}

// expectEnd checks that r has nothing more.
func expectEnd(r io.Reader, what string) error {
	var one [1]byte
	for {
		k, err := r.Read(one[:])
		if k > 0 {
			return &apiError{status: http.StatusBadRequest, err: fmt.Errorf("the %s runs on past its end", what)}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return readError(what, err)
		}
	}
}

// A cborStream reads the heads of CBOR items (RFC 8949 section 3) one by
// one from a body, so that a submission's parts are checked as they
// arrive: a byte string's length is known, and refused if too long,
// before any of it is read. It accepts only what the deterministic
// encoding allows (spec/records.md#encoding): the shortest form of each
// argument, and no indefinite lengths.
type cborStream struct {
	r    io.Reader
	what string
}

// CBOR major types.
const (
	cborBytes = 2
	cborText  = 3
	cborArray = 4
	cborMap   = 5
)

func (c *cborStream) malformed(format string, a ...any) error {
	return &apiError{status: http.StatusBadRequest, hint: "send it in deterministic CBOR, as the pouch client does",
		err: fmt.Errorf("%s: %s: %w", c.what, fmt.Sprintf(format, a...), record.ErrNonCanonical)}
}

// head reads one item head: its major type and argument.
func (c *cborStream) head() (major byte, arg uint64, err error) {
	var b [9]byte
	if _, err := io.ReadFull(c.r, b[:1]); err != nil {
		return 0, 0, readError(c.what, err)
	}
	major, info := b[0]>>5, b[0]&0x1f
	n, ok := record.CBORArgWidth(info)
	switch {
	case !ok:
		return 0, 0, c.malformed("indefinite or reserved length (initial byte %#x)", b[0])
	case n == 0:
		return major, uint64(info), nil
	}
	if _, err := io.ReadFull(c.r, b[1:1+n]); err != nil {
		return 0, 0, readError(c.what, err)
	}
	for _, x := range b[1 : 1+n] {
		arg = arg<<8 | uint64(x)
	}
	if !record.CBORShortest(n, arg) {
		return 0, 0, c.malformed("length %d not in its shortest form", arg)
	}
	return major, arg, nil
}

// expect reads a head of major type major and returns its argument.
func (c *cborStream) expect(major byte, name string) (uint64, error) {
	m, arg, err := c.head()
	if err != nil {
		return 0, err
	}
	if m != major {
		return 0, &apiError{status: http.StatusBadRequest, err: fmt.Errorf("%s: %s is CBOR major type %d, not %d", c.what, name, m, major)}
	}
	return arg, nil
}

// key reads a map key that must be the text string name.
func (c *cborStream) key(name string) error {
	n, err := c.expect(cborText, "a map key")
	if err != nil {
		return err
	}
	if n != uint64(len(name)) {
		return &apiError{status: http.StatusBadRequest, err: fmt.Errorf("%s: expected the key %q", c.what, name)}
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return readError(c.what, err)
	}
	if string(b) != name {
		return &apiError{status: http.StatusBadRequest, err: fmt.Errorf("%s: key %q where %q belongs", c.what, b, name)}
	}
	return nil
}

// submissionTag reads the start of a pouch submission, the CBOR map
// {"tag": bstr, "payload": bstr} (api.PouchSubmission), up to and
// including the tag, which it returns; h holds the tag's bytes. In the
// deterministic encoding "tag" sorts before "payload" (shorter keys
// first), so the tag comes first.
//
// SPEC: spec/api.md#post-pouches
func (c *cborStream) submissionTag(h *hold) ([]byte, error) {
	n, err := c.expect(cborMap, "a pouch submission")
	if err != nil {
		return nil, err
	}
	if n != 2 {
		return nil, &apiError{status: http.StatusBadRequest, hint: "send a CBOR map {tag, payload}", err: fmt.Errorf("%s: a map of %d entries, not 2", c.what, n)}
	}
	if err := c.key("tag"); err != nil {
		return nil, err
	}
	size, err := c.expect(cborBytes, "the tag")
	if err != nil {
		return nil, err
	}
	if size > record.MaxRecordSize {
		return nil, errBodyTooLarge("tag", record.MaxRecordSize)
	}
	return readN(c.r, int64(size), record.MaxRecordSize, h, c.what)
}

// payloadHead reads the "payload" key and the head of its byte string,
// and returns its length.
func (c *cborStream) payloadHead() (uint64, error) {
	if err := c.key("payload"); err != nil {
		return 0, err
	}
	return c.expect(cborBytes, "the payload")
}

// progressReader renews a request's read deadline each time step bytes
// arrive: a body may take as long as it needs, provided it keeps moving.
type progressReader struct {
	r     io.Reader
	rc    *http.ResponseController
	step  int64
	stall time.Duration
	left  int64 // bytes before the next renewal
}

func newProgressReader(r io.Reader, w http.ResponseWriter, step int64, stall time.Duration) *progressReader {
	p := &progressReader{r: r, rc: http.NewResponseController(w), step: step, stall: stall}
	p.renew()
	return p
}

func (p *progressReader) renew() {
	p.left = p.step
	p.rc.SetReadDeadline(time.Now().Add(p.stall))
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.left -= int64(n)
	if p.left <= 0 {
		p.renew()
	}
	return n, err
}
