package line

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"pouch.dev/record"
)

// Frame types.
//
// SPEC: spec/line.md#framing
const (
	FrameReady  = "ready"  // the TLS server accepted the client: the first frame of a line
	FrameText   = "text"   // a line of text
	FramePouch  = "pouch"  // a .pouch file handed over: its ID and size; its parts follow
	FramePart   = "part"   // a part of the .pouch file being handed over
	FrameBye    = "bye"    // the sender will send no more text or pouches
	FrameRecord = "record" // the call record, signed by one or both ends
)

// A frame is one message inside the TLS stream: a 4-byte big-endian length,
// then the deterministic CBOR encoding of a frame.
//
// SPEC: spec/line.md#framing
type frame struct {
	T    string `cbor:"t"`
	Time int64  `cbor:"time,omitempty"` // the sender's clock, Unix milliseconds
	Text string `cbor:"text,omitempty"` // text
	ID   []byte `cbor:"id,omitempty"`   // pouch: the pouch's ID (its tag record's ID)
	Size uint64 `cbor:"size,omitempty"` // pouch: the .pouch file's size in bytes
	Data []byte `cbor:"data,omitempty"` // part: bytes of the .pouch file; record: the signed call record
}

// ErrBadFrame is returned for a frame that breaks the framing rules.
var ErrBadFrame = errors.New("malformed line frame")

func (f *frame) check() error {
	switch f.T {
	case FrameText:
		if len(f.Text) > MaxTextSize {
			return fmt.Errorf("%w: text of %d bytes (limit %d)", ErrBadFrame, len(f.Text), MaxTextSize)
		}
		if !utf8.ValidString(f.Text) || f.ID != nil || f.Data != nil || f.Size != 0 {
			return fmt.Errorf("%w: text frame", ErrBadFrame)
		}
	case FramePouch:
		if len(f.ID) != len(record.ID{}) || f.Text != "" || f.Data != nil {
			return fmt.Errorf("%w: pouch frame needs a 32-byte id, and no data", ErrBadFrame)
		}
		if f.Size == 0 || f.Size > MaxPouchSize {
			return fmt.Errorf("%w: pouch of %d bytes (want 1 to %d)", ErrBadFrame, f.Size, MaxPouchSize)
		}
	case FramePart:
		if len(f.Data) == 0 || len(f.Data) > MaxPartSize || f.Text != "" || f.ID != nil || f.Size != 0 || f.Time != 0 {
			return fmt.Errorf("%w: part frame (1 to %d bytes of data, nothing else)", ErrBadFrame, MaxPartSize)
		}
	case FrameBye, FrameReady:
		if f.Text != "" || f.ID != nil || f.Data != nil || f.Size != 0 {
			return fmt.Errorf("%w: %s frame carries data", ErrBadFrame, f.T)
		}
	case FrameRecord:
		if len(f.Data) > record.MaxRecordSize || f.Text != "" || f.ID != nil || f.Size != 0 {
			return fmt.Errorf("%w: record frame", ErrBadFrame)
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrBadFrame, f.T)
	}
	return nil
}

// appendFrame appends f's wire form to b.
func appendFrame(b []byte, f *frame) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	body, err := record.Marshal(f)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...), nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readFrame reads one frame from r. n is the frame's size on the wire.
func readFrame(r *bufio.Reader) (f *frame, n int, err error) {
	var buf []byte
	return readFrameBuf(r, &buf)
}

// readFrameBuf reads one frame from r, its bytes into *buf, which it
// grows as needed (to MaxFrameSize at most) and which the caller keeps for
// the next frame: a line reads a .pouch file of any size in frames of a
// few hundred KiB through one buffer. The frame decoded holds copies of
// what it needs.
func readFrameBuf(r *bufio.Reader, buf *[]byte) (f *frame, n int, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > MaxFrameSize {
		return nil, 0, fmt.Errorf("%w: %d bytes (limit %d)", ErrBadFrame, size, MaxFrameSize)
	}
	if uint32(cap(*buf)) < size {
		*buf = make([]byte, size)
	}
	body := (*buf)[:size]
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, 0, noEOF(err)
	}
	if f := partFrame(body); f != nil {
		return f, 4 + int(size), nil
	}
	f = new(frame)
	if err := record.Unmarshal(body, f); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	if err := f.check(); err != nil {
		return nil, 0, err
	}
	return f, 4 + int(size), nil
}

// partPrefix is how the deterministic encoding of every part frame,
// {"t": "part", "data": bstr}, starts: a map of two pairs, "t" first (the
// shorter key), then "part", then "data".
var partPrefix = []byte{0xa2, 0x61, 't', 0x64, 'p', 'a', 'r', 't', 0x64, 'd', 'a', 't', 'a'}

// partFrame recognises a part frame in its one deterministic encoding and
// returns it with Data pointing into body, not copied: a .pouch file
// streams through the line's read buffer. Anything else, well-formed or
// not, is nil, left to the strict decoder.
func partFrame(body []byte) *frame {
	rest, ok := bytes.CutPrefix(body, partPrefix)
	if !ok || len(rest) == 0 || rest[0]>>5 != 2 {
		return nil
	}
	var n, head uint64
	switch info := rest[0] & 0x1f; {
	case info < 24:
		n, head = uint64(info), 1
	case info == 24 && len(rest) >= 2:
		n, head = uint64(rest[1]), 2
	case info == 25 && len(rest) >= 3:
		n, head = uint64(binary.BigEndian.Uint16(rest[1:])), 3
	case info == 26 && len(rest) >= 5:
		n, head = uint64(binary.BigEndian.Uint32(rest[1:])), 5
	default:
		return nil
	}
	// The shortest head only, and nothing after the data.
	if len(record.AppendCBORHead(nil, 2, n)) != int(head) || uint64(len(rest)) != head+n {
		return nil
	}
	f := &frame{T: FramePart, Data: rest[head:]}
	if f.check() != nil {
		return nil
	}
	return f
}
