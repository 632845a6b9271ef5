package record

import (
	"bytes"
	"errors"
	"fmt"

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
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("re-encoding CBOR: %w", err)
	}
	if !bytes.Equal(again, b) {
		return ErrNonCanonical
	}
	return nil
}

// Wellformed reports whether b is exactly one well-formed CBOR item under
// pouch's decoding rules, without decoding it into a type.
func Wellformed(b []byte) error {
	return decMode.Wellformed(b)
}
