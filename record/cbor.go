package record

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// The one CBOR configuration of pouch: core deterministic encoding
// (RFC 8949 section 4.2.1) on the way out; on the way in, strict
// well-formedness, no duplicate map keys, no indefinite lengths, no tags, no
// unknown fields, valid UTF-8, bounded sizes, and a final check that the
// input is exactly the deterministic encoding of what was decoded.
//
// SPEC: spec/records.md#encoding
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	eo := cbor.CoreDetEncOptions()
	eo.Time = cbor.TimeUnix
	encMode, err = eo.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   MaxNesting,
		MaxArrayElements:  MaxArrayElements,
		MaxMapPairs:       MaxMapPairs,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		BigIntDec:         cbor.BigIntDecodePointer,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// ErrNonCanonical is returned for input that decodes but is not the
// deterministic encoding of its own value: unsorted keys, non-minimal
// integers, empty optional fields that should be absent.
var ErrNonCanonical = errors.New("not in deterministic CBOR encoding")

// ErrTooLarge is returned for input beyond one of the limits in limits.go.
var ErrTooLarge = errors.New("too large")

// Marshal returns the deterministic CBOR encoding of v.
func Marshal(v any) ([]byte, error) {
	return encMode.Marshal(v)
}

// Unmarshal decodes b into v strictly and checks that b is canonical: the
// deterministic encoding of v must be exactly b. Use it for every structure
// that pouch reads from outside.
func Unmarshal(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding CBOR: %w", err)
	}
	return checkCanonical(b, v)
}

// checkCanonical checks that the deterministic encoding of v, just decoded
// from b, is exactly b.
func checkCanonical(b []byte, v any) error {
	// The re-encoding is only compared, so it goes to a reused buffer.
	buf := canonBufs.Get().(*bytes.Buffer)
	defer putCanonBuf(buf)
	buf.Reset()
	if err := encMode.(cbor.UserBufferEncMode).MarshalToBuffer(v, buf); err != nil {
		return fmt.Errorf("re-encoding CBOR: %w", err)
	}
	if !bytes.Equal(buf.Bytes(), b) {
		return ErrNonCanonical
	}
	return nil
}

// canonBufs holds the buffers of Unmarshal's canonical-encoding check.
var canonBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putCanonBuf returns buf to the pool unless it grew large (a payload),
// so that the pool never pins big buffers.
func putCanonBuf(buf *bytes.Buffer) {
	if buf.Cap() <= 64<<10 {
		canonBufs.Put(buf)
	}
}

// Wellformed reports whether b is exactly one well-formed CBOR item under
// pouch's decoding rules, without decoding it into a type.
func Wellformed(b []byte) error {
	return decMode.Wellformed(b)
}
