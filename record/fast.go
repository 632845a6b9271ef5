package record

import (
	"encoding/binary"
	"unicode/utf8"
)

// A direct decoder for the two structures every append decodes, Signed and
// Record, in the one shape pouch writes them: each head in its shortest
// form, the keys of each map all present (the optional ones non-empty) in
// deterministic order, each value of its field's type. It decodes nothing
// else: for any other input, well-formed or not, it declines, and Parse
// and Open hand the input to the generic strict decoder (Unmarshal), which
// accepts it or says why not. What it accepts the generic decoder would
// accept too and decode into equal values (TestFastDecodeAgrees,
// FuzzFastDecode), and Parse and Open still check that the values
// re-encode to the exact input (canonical), as after the generic decoder.
// Reflection-driven decoding was most of Parse's time and allocations; this
// one allocates the values' memory at once.
//
// SPEC: spec/records.md#encoding

// fastBodyDepth bounds the nesting of a body the direct decoder takes: the
// generic one allows MaxNesting levels in all, the record's map included,
// and a deeper body goes to it.
const fastBodyDepth = 8

// head reads the head of the data item at b[i:]: its major type, its
// argument and where its content starts. ok is false for a head that is
// truncated, indefinite, reserved, or not in its shortest form. Of major
// type 7 only false, true, null, undefined and floats are read (a float's
// argument is its bits, in any width).
func head(b []byte, i int) (major byte, arg uint64, next int, ok bool) {
	if i >= len(b) {
		return 0, 0, 0, false
	}
	major, ai := b[i]>>5, b[i]&0x1f
	i++
	var n int
	switch {
	case ai < 24:
		if major == 7 && ai < 20 {
			return 0, 0, 0, false
		}
		return major, uint64(ai), i, true
	case ai == 24:
		if major == 7 {
			return 0, 0, 0, false
		}
		n = 1
	case ai == 25:
		n = 2
	case ai == 26:
		n = 4
	case ai == 27:
		n = 8
	default:
		return 0, 0, 0, false
	}
	if len(b)-i < n {
		return 0, 0, 0, false
	}
	var min uint64
	switch n {
	case 1:
		arg, min = uint64(b[i]), 24
	case 2:
		arg, min = uint64(binary.BigEndian.Uint16(b[i:])), 1<<8
	case 4:
		arg, min = uint64(binary.BigEndian.Uint32(b[i:])), 1<<16
	case 8:
		arg, min = binary.BigEndian.Uint64(b[i:]), 1<<32
	}
	if major != 7 && arg < min {
		return 0, 0, 0, false
	}
	return major, arg, i + n, true
}

// skipItem returns where the data item at b[i:] ends, for an item of
// definite lengths without tags nested at most depth levels; ok is false
// for any other. It checks the structure only: Open checks the body with
// Wellformed.
func skipItem(b []byte, i, depth int) (int, bool) {
	if depth <= 0 {
		return 0, false
	}
	major, arg, i, ok := head(b, i)
	if !ok {
		return 0, false
	}
	switch major {
	case 0, 1, 7:
		return i, true
	case 2, 3:
		if arg > uint64(len(b)-i) {
			return 0, false
		}
		return i + int(arg), true
	case 4, 5:
		if arg > uint64(len(b)-i) {
			return 0, false
		}
		n := int(arg)
		if major == 5 {
			n *= 2
		}
		for range n {
			if i, ok = skipItem(b, i, depth-1); !ok {
				return 0, false
			}
		}
		return i, true
	}
	return 0, false
}

// bytesAt reads a byte string (major 2) or a text string (major 3) of
// valid UTF-8 at b[i:], and returns its content's bounds.
func bytesAt(b []byte, i int, major byte) (start, end int, ok bool) {
	m, n, i, ok := head(b, i)
	if !ok || m != major || n > uint64(len(b)-i) {
		return 0, 0, false
	}
	end = i + int(n)
	if major == 3 && !utf8.Valid(b[i:end]) {
		return 0, 0, false
	}
	return i, end, true
}

// keyAt reports whether the item at b[i:] is the text string key, whose
// encoding is enc, and returns where its value starts.
func keyAt(b []byte, i int, enc string) (int, bool) {
	if len(b)-i < len(enc) || string(b[i:i+len(enc)]) != enc {
		return 0, false
	}
	return i + len(enc), true
}

// The encoded keys, each a text string of fewer than 24 bytes.
const (
	keySigs   = "\x64sigs"
	keyRecord = "\x66record"
	keyAlg    = "\x63alg"
	keyKey    = "\x63key"
	keySig    = "\x63sig"
	keyV      = "\x61v"
	keyBy     = "\x62by"
	keyBody   = "\x64body"
	keyKind   = "\x64kind"
	keySalt   = "\x64salt"
	keyTime   = "\x64time"
	keyOrigin = "\x66origin"
)

// decodeSignedFast decodes in into s, in the shape Signed.Marshal writes,
// with at most MaxSignatures signatures; ok is false, and s untouched, for
// anything else. The byte strings share one copy of in.
func decodeSignedFast(in []byte, s *Signed) bool {
	// {"sigs": [{"alg": text, "key": bytes, "sig": bytes}, ...], "record": bytes}
	if len(in) == 0 || in[0] != 0xa2 {
		return false
	}
	i, ok := keyAt(in, 1, keySigs)
	if !ok {
		return false
	}
	m, n, i, ok := head(in, i)
	if !ok || m != 4 || n == 0 || n > MaxSignatures {
		return false
	}
	type span struct{ alg, key, sig [2]int }
	var spans [MaxSignatures]span
	for k := range int(n) {
		if i >= len(in) || in[i] != 0xa3 {
			return false
		}
		sp := &spans[k]
		if i, ok = keyAt(in, i+1, keyAlg); !ok {
			return false
		}
		if sp.alg[0], sp.alg[1], ok = bytesAt(in, i, 3); !ok {
			return false
		}
		if i, ok = keyAt(in, sp.alg[1], keyKey); !ok {
			return false
		}
		if sp.key[0], sp.key[1], ok = bytesAt(in, i, 2); !ok {
			return false
		}
		if i, ok = keyAt(in, sp.key[1], keySig); !ok {
			return false
		}
		if sp.sig[0], sp.sig[1], ok = bytesAt(in, i, 2); !ok {
			return false
		}
		i = sp.sig[1]
	}
	if i, ok = keyAt(in, i, keyRecord); !ok {
		return false
	}
	rs, re, ok := bytesAt(in, i, 2)
	if !ok || re != len(in) {
		return false
	}
	b := make([]byte, len(in))
	copy(b, in)
	sigs := make([]Sig, n)
	for k := range sigs {
		sp := &spans[k]
		alg := b[sp.alg[0]:sp.alg[1]]
		if string(alg) == AlgEd25519 {
			sigs[k].Alg = AlgEd25519
		} else {
			sigs[k].Alg = string(alg)
		}
		sigs[k].Key = b[sp.key[0]:sp.key[1]:sp.key[1]]
		sigs[k].Sig = b[sp.sig[0]:sp.sig[1]:sp.sig[1]]
	}
	s.Record = b[rs:re:re]
	s.Sigs = sigs
	return true
}

// decodeRecordFast decodes in into r, in the shape Marshal writes a
// Record whose body is a map, with 1 to MaxSigners signers; ok is false,
// and r untouched, for anything else.
func decodeRecordFast(in []byte, r *Record) bool {
	// {"v": uint, "by": [text, ...], "body": map, "kind": text,
	//  ?"salt": bytes, "time": int, ?"origin": text}
	if len(in) == 0 || (in[0] != 0xa5 && in[0] != 0xa6 && in[0] != 0xa7) {
		return false
	}
	pairs := int(in[0] & 0x1f)
	i, ok := keyAt(in, 1, keyV)
	if !ok {
		return false
	}
	m, v, i, ok := head(in, i)
	if !ok || m != 0 {
		return false
	}
	if i, ok = keyAt(in, i, keyBy); !ok {
		return false
	}
	m, nBy, i, ok := head(in, i)
	if !ok || m != 4 || nBy == 0 || nBy > MaxSigners {
		return false
	}
	var by [MaxSigners][2]int
	for k := range int(nBy) {
		if by[k][0], by[k][1], ok = bytesAt(in, i, 3); !ok {
			return false
		}
		i = by[k][1]
	}
	if i, ok = keyAt(in, i, keyBody); !ok {
		return false
	}
	bs := i
	if i >= len(in) || in[i]>>5 != 5 {
		return false
	}
	be, ok := skipItem(in, i, fastBodyDepth)
	if !ok {
		return false
	}
	if i, ok = keyAt(in, be, keyKind); !ok {
		return false
	}
	ks, ke, ok := bytesAt(in, i, 3)
	if !ok {
		return false
	}
	i, found := ke, 4
	ss, se := -1, -1
	if j, ok := keyAt(in, i, keySalt); ok {
		if ss, se, ok = bytesAt(in, j, 2); !ok || ss == se {
			return false
		}
		i = se
		found++
	}
	if i, ok = keyAt(in, i, keyTime); !ok {
		return false
	}
	m, t, i, ok := head(in, i)
	if !ok || (m != 0 && m != 1) || t > 1<<63-1 {
		return false
	}
	found++
	gs, ge := -1, -1
	if j, ok := keyAt(in, i, keyOrigin); ok {
		if gs, ge, ok = bytesAt(in, j, 3); !ok || gs == ge {
			return false
		}
		i = ge
		found++
	}
	if i != len(in) || found != pairs {
		return false
	}
	// The byte strings share one copy of in, the text strings another.
	b := make([]byte, len(in))
	copy(b, in)
	str := string(in)
	handles := make([]Handle, nBy)
	for k := range handles {
		handles[k] = Handle(str[by[k][0]:by[k][1]])
	}
	*r = Record{V: v, Kind: Kind(str[ks:ke]), By: handles, Body: b[bs:be:be]}
	if m == 0 {
		r.Time = int64(t)
	} else {
		r.Time = -1 - int64(t)
	}
	if ss >= 0 {
		r.Salt = b[ss:se:se]
	}
	if gs >= 0 {
		r.Origin = str[gs:ge]
	}
	return true
}
