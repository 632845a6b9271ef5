package tlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	sumdb "golang.org/x/mod/sumdb/tlog"

	"pouch.dev/store"
)

// TileHeight is the C2SP tlog-tiles tile height.
const TileHeight = store.TileHeight

// EntriesLevel is the Level of an entry bundle in a TilePath, as in sumdb.
const EntriesLevel = -1

// A TilePath is one C2SP tlog-tiles resource: a hash tile (Level ≥ 0) or an
// entry bundle (Level = EntriesLevel), Index N, and Width W hashes or
// entries (W = 256 for a full tile).
type TilePath struct {
	Level int
	Index uint64
	Width int
}

// Path returns the C2SP path of t without a leading slash, such as
// "tile/0/x001/234.p/5" or "tile/entries/000".
//
// SPEC: spec/log.md#tiles
func (t TilePath) Path() string {
	// The C2SP path is sumdb's with the height element dropped and "data"
	// spelled "entries": the index encoding is the same.
	p := sumdb.Tile{H: TileHeight, L: t.Level, N: int64(t.Index), W: t.Width}.Path()
	p = strings.TrimPrefix(p, "tile/8/")
	if t.Level == EntriesLevel {
		p = "entries/" + strings.TrimPrefix(p, "data/")
	}
	return "tile/" + p
}

// ErrBadTilePath is returned for a path that is not a C2SP tile path.
var ErrBadTilePath = errors.New("not a tlog-tiles path")

// ParseTilePath parses a C2SP tile path, such as "tile/0/x001/234.p/5", with
// or without a leading slash. It rejects any non-canonical spelling.
func ParseTilePath(p string) (TilePath, error) {
	p = strings.TrimPrefix(p, "/")
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return TilePath{}, fmt.Errorf("%q: %w", p, ErrBadTilePath)
	}
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		rest = "data/" + r
	} else if strings.HasPrefix(rest, "data/") {
		return TilePath{}, fmt.Errorf("%q: %w", p, ErrBadTilePath)
	}
	t, err := sumdb.ParseTilePath("tile/8/" + rest)
	if err != nil || t.N < 0 || t.L > 63/TileHeight {
		return TilePath{}, fmt.Errorf("%q: %w", p, ErrBadTilePath)
	}
	tp := TilePath{Level: t.L, Index: uint64(t.N), Width: t.W}
	if tp.Path() != p {
		return TilePath{}, fmt.Errorf("%q: %w", p, ErrBadTilePath)
	}
	return tp, nil
}

// MaxEntrySize is the largest log entry: a C2SP entry bundle prefixes each
// entry with a 16-bit length.
const MaxEntrySize = 1<<16 - 1

// AppendEntry appends entry to bundle in the C2SP entry bundle encoding: a
// big-endian uint16 length, then the entry.
//
// SPEC: spec/log.md#tiles
func AppendEntry(bundle, entry []byte) []byte {
	if len(entry) > MaxEntrySize {
		panic("tlog: entry too large for a bundle")
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...)
}

// ParseEntryBundle splits a C2SP entry bundle into its entries.
func ParseEntryBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("entry bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < n {
			return nil, errors.New("entry bundle: truncated entry")
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, nil
}
