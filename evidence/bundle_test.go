package evidence_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"pouch.dev/directory"
	"pouch.dev/evidence"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/tlog"
)

// fixture is a log holding a house record (index 0) and a pouch's tag
// (index 1), with a checkpoint after each, and the bundle of the tag.
type fixture struct {
	b          *evidence.Bundle
	house, tag *record.Signed
	cp1, cp2   []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const origin = "pouch.test/evidence"
	skey, _, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.New(ctx, st, tlog.Config{Origin: origin, Key: skey})
	if err != nil {
		t.Fatal(err)
	}
	_, rk, _ := ed25519.GenerateKey(nil)
	house, err := record.Sign(&record.Record{Kind: record.KindHouse, Origin: origin, By: []record.Handle{directory.Registrar("us")}, Time: 1},
		&directory.House{House: "us", Registrar: rk.Public().(ed25519.PublicKey)}, rk)
	if err != nil {
		t.Fatal(err)
	}
	_, sk, _ := ed25519.GenerateKey(nil)
	tag, err := letter.SignTag(&letter.Tag{From: "us/president", To: "ir/president", Size: 1}, sk, record.NewSalt(), 2, origin)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{house: house, tag: tag}
	var leaves [][]byte
	for i, s := range []*record.Signed{house, tag} {
		r, _ := s.Open()
		sq, err := st.Append(ctx, []*store.Entry{{ID: s.ID(), Kind: r.Kind, Signed: s.Marshal(), Public: !r.Private()}})
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, record.LeafData(record.Leaf{Kind: r.Kind, ID: s.ID(), Time: sq[0].Time.UnixMilli(), Private: r.Private()}))
		if _, err := l.Integrate(ctx); err != nil {
			t.Fatal(err)
		}
		cp, _ := l.Checkpoint()
		if i == 0 {
			f.cp1 = cp
		} else {
			f.cp2 = cp
		}
	}
	b := &evidence.Bundle{Pouch: tag.ID(), Records: [][]byte{house.Marshal(), tag.Marshal()}, Proofs: [][]byte{}, Bounds: []evidence.Bound{}}
	for i := range leaves {
		h, err := l.Inclusion(ctx, uint64(i), 2)
		if err != nil {
			t.Fatal(err)
		}
		b.Proofs = append(b.Proofs, (&tlog.Proof{Index: uint64(i), Hashes: h, Checkpoint: f.cp2, Extra: leaves[i]}).Marshal())
	}
	cons, err := l.Consistency(ctx, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	b.Bounds = append(b.Bounds, evidence.Bound{Index: 1, Before: f.cp1, BeforeProof: cons, After: f.cp2})
	f.b = b
	return f
}

func (f *fixture) encode(t *testing.T, edit func(b *evidence.Bundle)) []byte {
	t.Helper()
	b := *f.b
	b.Records = append([][]byte(nil), f.b.Records...)
	b.Proofs = append([][]byte(nil), f.b.Proofs...)
	b.Bounds = append([]evidence.Bound(nil), f.b.Bounds...)
	if edit != nil {
		edit(&b)
	}
	out, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParse(t *testing.T) {
	f := newFixture(t)
	good := f.encode(t, nil)
	p, err := evidence.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 2 || p.Bundle.Pouch != f.tag.ID() || p.Bounds[1] == nil || !bytes.Equal(p.Checkpoint, f.cp2) {
		t.Fatalf("parsed: %d records, bounds %v", len(p.Records), p.Bounds)
	}
	if !evidence.Sniff(good) {
		t.Fatal("Sniff does not recognise a bundle")
	}
	if evidence.Sniff([]byte{0xa3, 0x61, 'v', 0x02, 0x63, 't', 'a', 'g'}) {
		t.Fatal("Sniff takes a .pouch file's head for a bundle")
	}
	other, err := record.Sign(&record.Record{Kind: record.KindStatement, By: []record.Handle{"us/president"}, Time: 1},
		map[string]any{"title": "x"}, ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(b *evidence.Bundle)
		says string
	}{
		{"another version", func(b *evidence.Bundle) {}, "version"},
		{"records out of log order", func(b *evidence.Bundle) {
			b.Records[0], b.Records[1] = b.Records[1], b.Records[0]
			b.Proofs[0], b.Proofs[1] = b.Proofs[1], b.Proofs[0]
		}, "out of the log's order"},
		{"a record without its proof", func(b *evidence.Bundle) { b.Proofs = b.Proofs[:1] }, "every record has one proof"},
		{"a record proven twice", func(b *evidence.Bundle) { b.Proofs[0] = b.Proofs[1] }, "two proofs"},
		{"a record of a kind a bundle does not carry", func(b *evidence.Bundle) { b.Records[0] = other.Marshal() }, "does not carry"},
		{"no bound for the event", func(b *evidence.Bundle) { b.Bounds = nil }, "arrays"},
		{"a bound for another index", func(b *evidence.Bundle) { b.Bounds[0].Index = 0 }, "is for index 0"},
		{"a checkpoint before it that holds it", func(b *evidence.Bundle) { b.Bounds[0].Before = f.cp2 }, "holds its leaf"},
		{"a checkpoint after it that does not hold it", func(b *evidence.Bundle) { b.Bounds[0].After = f.cp1 }, "does not hold its leaf"},
		{"no checkpoint after it", func(b *evidence.Bundle) { b.Bounds[0].After = nil }, "no checkpoint after"},
		{"a consistency proof from no checkpoint", func(b *evidence.Bundle) { b.Bounds[0].Before = nil }, "from no checkpoint"},
		{"a short hash in a consistency proof", func(b *evidence.Bundle) { b.Bounds[0].BeforeProof = [][]byte{{1, 2}} }, "hash of 2 bytes"},
	} {
		in := f.encode(t, tc.edit)
		if tc.name == "another version" {
			in = bytes.Replace(in, []byte{0x61, 'v', 0x01}, []byte{0x61, 'v', 0x02}, 1)
		}
		_, err := evidence.Parse(in)
		if !errors.Is(err, evidence.ErrMalformed) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want ErrMalformed saying %q", tc.name, err, tc.says)
		}
	}
	// Strict CBOR: a byte appended, an unknown field.
	if _, err := evidence.Parse(append(bytes.Clone(good), 0)); !errors.Is(err, evidence.ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
	if _, err := evidence.Parse(bytes.Replace(good, []byte("bounds"), []byte("bounce"), 1)); !errors.Is(err, evidence.ErrMalformed) {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := evidence.Parse(make([]byte, record.MaxBundleSize+1)); !errors.Is(err, record.ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
}
