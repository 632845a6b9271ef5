package record

import (
	"bytes"
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
// re-encode to the exact input (canonical), as after the generic decoder,
// with a direct encoder of the two types that gives the bytes the generic
// encoder gives (TestFastEncodeAgrees, FuzzFastDecode).
// Reflection-driven decoding and encoding were most of Parse's time and
// allocations; the direct decoder allocates the values' memory at once.
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
	n, ok := CBORArgWidth(ai)
	switch {
	case !ok, major == 7 && (ai < 20 || ai == 24):
		return 0, 0, 0, false
	case n == 0:
		return major, uint64(ai), i, true
	case len(b)-i < n:
		return 0, 0, 0, false
	}
	switch n {
	case 1:
		arg = uint64(b[i])
	case 2:
		arg = uint64(binary.BigEndian.Uint16(b[i:]))
	case 4:
		arg = uint64(binary.BigEndian.Uint32(b[i:]))
	case 8:
		arg = binary.BigEndian.Uint64(b[i:])
	}
	if major != 7 && !CBORShortest(n, arg) {
		return 0, 0, 0, false
	}
	return major, arg, i + n, true
}

// CBORArgWidth returns how many bytes of argument follow a CBOR head
// whose initial byte's additional information is ai: 0 when ai holds the
// argument itself; ok is false for an indefinite length or a reserved
// value. The hand-written readers of CBOR heads (record, letter, server)
// share it and CBORShortest.
func CBORArgWidth(ai byte) (n int, ok bool) {
	switch {
	case ai < 24:
		return 0, true
	case ai <= 27:
		return 1 << (ai - 24), true
	}
	return 0, false
}

// CBORShortest reports whether arg, written in width bytes after the
// initial byte (CBORArgWidth), is in its shortest form (RFC 8949 section
// 4.2.1): each width only for what the narrower cannot hold.
func CBORShortest(width int, arg uint64) bool {
	switch width {
	case 1:
		return arg >= 24
	case 2:
		return arg > 0xff
	case 4:
		return arg > 0xffff
	case 8:
		return arg > 0xffffffff
	}
	return true
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

// AppendCBORHead appends the head of a CBOR data item of major type major
// and argument n, in its shortest form (RFC 8949 section 4.2.1): what the
// packages that stream CBOR by hand (letter, client) write a byte
// string's head with.
func AppendCBORHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

// appendBytes appends v as a byte string (major 2) or a text string
// (major 3).
func appendBytes[T ~[]byte | ~string](b []byte, major byte, v T) []byte {
	return append(AppendCBORHead(b, major, uint64(len(v))), v...)
}

// appendSignedFast appends the deterministic encoding of a Signed that
// decodeSignedFast decoded (no nil slices): the encoding Marshal gives it
// (TestFastEncodeAgrees), for the canonical check after the direct
// decoder.
func appendSignedFast(b []byte, s *Signed) []byte {
	b = append(b, 0xa2)
	b = append(b, keySigs...)
	b = AppendCBORHead(b, 4, uint64(len(s.Sigs)))
	for _, sg := range s.Sigs {
		b = append(b, 0xa3)
		b = appendBytes(append(b, keyAlg...), 3, sg.Alg)
		b = appendBytes(append(b, keyKey...), 2, sg.Key)
		b = appendBytes(append(b, keySig...), 2, sg.Sig)
	}
	return appendBytes(append(b, keyRecord...), 2, s.Record)
}

// appendRecordFast appends the deterministic encoding of a Record that
// decodeRecordFast decoded (By and Body not nil): the encoding Marshal
// gives it (TestFastEncodeAgrees), for the canonical check after the
// direct decoder.
func appendRecordFast(b []byte, r *Record) []byte {
	pairs := uint64(5)
	if len(r.Salt) > 0 {
		pairs++
	}
	if r.Origin != "" {
		pairs++
	}
	b = AppendCBORHead(b, 5, pairs)
	b = AppendCBORHead(append(b, keyV...), 0, r.V)
	b = AppendCBORHead(append(b, keyBy...), 4, uint64(len(r.By)))
	for _, h := range r.By {
		b = appendBytes(b, 3, h)
	}
	b = append(append(b, keyBody...), r.Body...)
	b = appendBytes(append(b, keyKind...), 3, r.Kind)
	if len(r.Salt) > 0 {
		b = appendBytes(append(b, keySalt...), 2, r.Salt)
	}
	b = append(b, keyTime...)
	if r.Time >= 0 {
		b = AppendCBORHead(b, 0, uint64(r.Time))
	} else {
		b = AppendCBORHead(b, 1, uint64(-1-r.Time))
	}
	if r.Origin != "" {
		b = appendBytes(append(b, keyOrigin...), 3, r.Origin)
	}
	return b
}

// checkCanonicalFast is checkCanonical for what the direct decoder
// decoded, with the encoder above.
func checkCanonicalFast(b []byte, s *Signed, r *Record) error {
	bp := msgBufs.Get().(*[]byte)
	var enc []byte
	if s != nil {
		enc = appendSignedFast((*bp)[:0], s)
	} else {
		enc = appendRecordFast((*bp)[:0], r)
	}
	ok := bytes.Equal(enc, b)
	if cap(enc) <= 64<<10 {
		*bp = enc[:0]
		msgBufs.Put(bp)
	}
	if !ok {
		return ErrNonCanonical
	}
	return nil
}
