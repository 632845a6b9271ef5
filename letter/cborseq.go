package letter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"pouch.dev/record"
)

// pouch streams two things that can be large — a .pouch file's payload and
// a letter's attachments — as CBOR sequences (RFC 8742): a first item
// decoded strictly with record.Unmarshal, then byte strings whose content
// is copied through without being held in memory. These helpers find item
// boundaries in a stream and read and write byte-string heads; everything
// else is left to record.Marshal and record.Unmarshal.

const (
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
)

// errSeq is wrapped by every malformed-sequence error.
var errSeq = errors.New("malformed CBOR sequence")

// readHead reads one CBOR head, requiring the shortest encoding of its
// argument and no indefinite length. It returns the raw bytes read too.
func readHead(r *bufio.Reader, raw []byte) (major byte, n uint64, _ []byte, err error) {
	c, err := r.ReadByte()
	if err != nil {
		return 0, 0, raw, err
	}
	raw = append(raw, c)
	major, info := c>>5, c&31
	size, ok := record.CBORArgWidth(info)
	switch {
	case !ok:
		return 0, 0, raw, fmt.Errorf("%w: indefinite length or reserved head %#x", errSeq, c)
	case size == 0:
		return major, uint64(info), raw, nil
	}
	var buf [8]byte
	if _, err := io.ReadFull(r, buf[8-size:]); err != nil {
		return 0, 0, raw, noEOF(err)
	}
	raw = append(raw, buf[8-size:]...)
	n = binary.BigEndian.Uint64(buf[:])
	if !record.CBORShortest(size, n) && major != 7 {
		return 0, 0, raw, fmt.Errorf("%w: non-minimal length", errSeq)
	}
	return major, n, raw, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readItem reads one complete CBOR data item of at most limit bytes from r
// and returns its bytes. It checks only the structure needed to find the
// item's end; the caller decodes the bytes with record.Unmarshal.
func readItem(r *bufio.Reader, limit int) ([]byte, error) {
	raw, err := readItemInto(r, nil, limit, 0)
	if err != nil && len(raw) > 0 {
		err = noEOF(err)
	}
	return raw, err
}

func readItemInto(r *bufio.Reader, raw []byte, limit, depth int) ([]byte, error) {
	if depth > record.MaxNesting {
		return raw, fmt.Errorf("%w: nested too deeply", errSeq)
	}
	major, n, raw, err := readHead(r, raw)
	if err != nil {
		return raw, err
	}
	if len(raw) > limit {
		return raw, fmt.Errorf("CBOR item: %w (limit %d bytes)", record.ErrTooLarge, limit)
	}
	switch major {
	case 0, 1, 7: // integers, simple values and floats: the head is all
	case majorBytes, majorText:
		if n > uint64(limit-len(raw)) {
			return raw, fmt.Errorf("CBOR item: %w (limit %d bytes)", record.ErrTooLarge, limit)
		}
		start := len(raw)
		raw = append(raw, make([]byte, n)...)
		if _, err := io.ReadFull(r, raw[start:]); err != nil {
			return raw, noEOF(err)
		}
	case majorArray, majorMap:
		if major == majorMap {
			if n > record.MaxMapPairs {
				return raw, fmt.Errorf("CBOR map of %d pairs: %w", n, record.ErrTooLarge)
			}
			n *= 2
		} else if n > record.MaxArrayElements {
			return raw, fmt.Errorf("CBOR array of %d elements: %w", n, record.ErrTooLarge)
		}
		for range n {
			if raw, err = readItemInto(r, raw, limit, depth+1); err != nil {
				return raw, noEOF(err)
			}
		}
	default: // 6: tags
		return raw, fmt.Errorf("%w: CBOR tags are not used by pouch", errSeq)
	}
	return raw, nil
}

// readBytesHead reads the head of a byte string and returns its length.
func readBytesHead(r *bufio.Reader) (uint64, error) {
	major, n, _, err := readHead(r, nil)
	if err != nil {
		return 0, err
	}
	if major != majorBytes {
		return 0, fmt.Errorf("%w: want a byte string, found major type %d", errSeq, major)
	}
	return n, nil
}

// expectEOF checks that r has nothing left.
func expectEOF(r *bufio.Reader) error {
	if _, err := r.ReadByte(); err != io.EOF {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: trailing data", errSeq)
	}
	return nil
}
