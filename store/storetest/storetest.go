// Package storetest is the conformance suite for store.Store
// implementations. An implementation runs it in one line:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
//
// where newStore returns a fresh, empty store for each call.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
)

// Run runs every conformance test against stores made by newStore, each
// fresh and empty. Run closes them.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		f    func(*testing.T, store.Store)
	}{
		{"AppendGet", testAppendGet},
		{"Duplicate", testDuplicate},
		{"Concurrent", testConcurrent},
		{"List", testList},
		{"ListByIDPrefix", testListByIDPrefix},
		{"Payload", testPayload},
		{"StagedPayload", testStagedPayload},
		{"ConcurrentPayloads", testConcurrentPayloads},
		{"WaitSize", testWaitSize},
		{"Leaves", testLeaves},
		{"Check", testCheck},
		{"TimeNeverDecreases", testTimeNeverDecreases},
		{"Integrate", testIntegrate},
		{"TileInner", testTileInner},
		{"Import", testImport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			defer s.Close()
			tt.f(t, s)
		})
	}
}

// Entry returns a distinct test entry numbered n.
func Entry(n int, kind record.Kind, parties ...record.Handle) *store.Entry {
	signed := []byte(fmt.Sprintf("signed record %d of kind %s", n, kind))
	return &store.Entry{
		ID:      sha256.Sum256(signed),
		Kind:    kind,
		Signed:  signed,
		Public:  len(parties) == 0,
		Parties: parties,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func testAppendGet(t *testing.T, s store.Store) {
	c := ctx(t)
	e0 := Entry(0, record.KindHouse)
	e1 := Entry(1, record.KindTag, "ru/president", "ir/president")
	e1.Refs = []record.ID{e0.ID}
	before := time.Now().Add(-time.Second)
	seq, err := s.Append(c, []*store.Entry{e0, e1})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(seq) != 2 || seq[0].Index != 0 || seq[1].Index != 1 {
		t.Fatalf("Append placed the records at %+v, want indexes 0 and 1", seq)
	}
	if seq[0].Time.Before(before) || seq[0].Time.After(time.Now().Add(time.Second)) {
		t.Errorf("sequencing time %v is not now", seq[0].Time)
	}
	for i, e := range []*store.Entry{e0, e1} {
		for _, get := range []func() (*store.Stored, error){
			func() (*store.Stored, error) { return s.Get(c, e.ID) },
			func() (*store.Stored, error) { return s.GetByIndex(c, uint64(i)) },
		} {
			st, err := get()
			if err != nil {
				t.Fatalf("reading record %d: %v", i, err)
			}
			checkSame(t, st, e, seq[i])
		}
	}
	if _, err := s.Get(c, record.ID{1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of an unknown ID: %v, want ErrNotFound", err)
	}
	if _, err := s.GetByIndex(c, 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetByIndex beyond the end: %v, want ErrNotFound", err)
	}
	st, err := s.State(c)
	if err != nil || st.Size != 2 {
		t.Errorf("State = %+v, %v; want size 2", st, err)
	}
}

func checkSame(t *testing.T, st *store.Stored, e *store.Entry, seq store.Sequenced) {
	t.Helper()
	if st.ID != e.ID || st.Kind != e.Kind || !bytes.Equal(st.Signed, e.Signed) || st.Public != e.Public {
		t.Errorf("read back %+v, want %+v", st.Entry, *e)
	}
	if fmt.Sprint(st.Parties) != fmt.Sprint(e.Parties) || fmt.Sprint(st.Refs) != fmt.Sprint(e.Refs) {
		t.Errorf("read back parties %v refs %v, want %v %v", st.Parties, st.Refs, e.Parties, e.Refs)
	}
	if st.Index != seq.Index || !st.Time.Equal(seq.Time) {
		t.Errorf("read back at %d %v, want %d %v", st.Index, st.Time, seq.Index, seq.Time)
	}
	if st.Payload != nil {
		t.Errorf("Get returned a payload")
	}
}

func testDuplicate(t *testing.T, s store.Store) {
	c := ctx(t)
	e0, e1, e2 := Entry(0, record.KindHouse), Entry(1, record.KindHouse), Entry(2, record.KindHouse)
	if _, err := s.Append(c, []*store.Entry{e0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(c, []*store.Entry{e1, e0}); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("replaying a record: %v, want ErrDuplicate", err)
	}
	if _, err := s.Get(c, e1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused Append wrote part of its batch: %v", err)
	}
	if _, err := s.Append(c, []*store.Entry{e2, e2}); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("a record twice in one call: %v, want ErrDuplicate", err)
	}
	seq, err := s.Append(c, []*store.Entry{e1})
	if err != nil {
		t.Fatal(err)
	}
	if seq[0].Index != 1 {
		t.Errorf("after refused appends, the next record is at %d, want 1: indexes must stay contiguous", seq[0].Index)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[uint64]record.ID{}
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e := Entry(w*1000+i, record.KindCustody, "ru/amb-tehran")
				seq, err := s.Append(c, []*store.Entry{e})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if _, dup := got[seq[0].Index]; dup {
					errs <- fmt.Errorf("index %d given twice", seq[0].Index)
				}
				got[seq[0].Index] = e.ID
				mu.Unlock()
				if w == 0 && i == 0 {
					// A replay racing with others is still refused.
					if _, err := s.Append(c, []*store.Entry{e}); !errors.Is(err, store.ErrDuplicate) {
						errs <- fmt.Errorf("replay: %v, want ErrDuplicate", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := uint64(0); i < workers*each; i++ {
		id, ok := got[i]
		if !ok {
			t.Fatalf("index %d missing: indexes are not contiguous", i)
		}
		st, err := s.GetByIndex(c, i)
		if err != nil || st.ID != id {
			t.Fatalf("index %d holds %v, %v; want %v", i, st, err, id)
		}
	}
}

func testList(t *testing.T, s store.Store) {
	c := ctx(t)
	tag := Entry(0, record.KindTag, "ir/president", "ru/president", "ru/amb-tehran")
	house := Entry(1, record.KindHouse)
	cust := Entry(2, record.KindCustody, "ir/president", "ru/amb-tehran")
	cust.Refs = []record.ID{tag.ID}
	deliv := Entry(3, record.KindCustody, "ir/president", "ru/president")
	deliv.Refs = []record.ID{tag.ID, cust.ID}
	other := Entry(4, record.KindTag, "ru/president")
	if _, err := s.Append(c, []*store.Entry{tag, house, cust, deliv, other}); err != nil {
		t.Fatal(err)
	}
	ids := func(q store.Query) []record.ID {
		t.Helper()
		l, err := s.List(c, q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		var out []record.ID
		for _, st := range l {
			out = append(out, st.ID)
		}
		return out
	}
	want := func(q store.Query, es ...*store.Entry) {
		t.Helper()
		got := ids(q)
		var w []record.ID
		for _, e := range es {
			w = append(w, e.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("List(%+v) = %d records %v,\nwant %d %v", q, len(got), got, len(w), w)
		}
	}
	want(store.Query{}, tag, house, cust, deliv, other)
	want(store.Query{From: 3}, deliv, other)
	want(store.Query{Limit: 2}, tag, house)
	want(store.Query{Public: true}, house)
	want(store.Query{Party: "ru/president"}, tag, deliv, other)
	want(store.Query{Party: "ru/president", From: 1}, deliv, other)
	want(store.Query{Party: "ru/president", Kinds: []record.Kind{record.KindTag}}, tag, other)
	want(store.Query{Party: "ru/amb-tehran", Kinds: []record.Kind{record.KindTag, record.KindCustody}}, tag, cust)
	want(store.Query{Party: "nobody/here"})
	want(store.Query{Ref: &tag.ID}, cust, deliv)
	want(store.Query{Ref: &tag.ID, Party: "ru/president"}, deliv)
	want(store.Query{Ref: &cust.ID}, deliv)
	want(store.Query{Kinds: []record.Kind{record.KindHouse}}, house)
	want(store.Query{Ref: &tag.ID, Kinds: []record.Kind{record.KindCustody}, From: 3}, deliv)
	// Before and Desc: a page going back in time, as an inbox reads.
	want(store.Query{Before: 3}, tag, house, cust)
	want(store.Query{Desc: true}, other, deliv, cust, house, tag)
	want(store.Query{Desc: true, Before: 4, Limit: 2}, deliv, cust)
	want(store.Query{Desc: true, From: 1, Before: 4}, deliv, cust, house)
	want(store.Query{Party: "ru/president", Desc: true}, other, deliv, tag)
	want(store.Query{Party: "ru/president", Kinds: []record.Kind{record.KindTag}, Desc: true, Before: 4}, tag)
	want(store.Query{Party: "ru/president", Kinds: []record.Kind{record.KindTag}, Desc: true, Limit: 1}, other)
	want(store.Query{Ref: &tag.ID, Desc: true}, deliv, cust)
	want(store.Query{Ref: &tag.ID, Before: 3}, cust)
	want(store.Query{Kinds: []record.Kind{record.KindTag, record.KindHouse}, Desc: true, Before: 4}, house, tag)
	want(store.Query{Public: true, Desc: true, Before: 1})
}

// testListByIDPrefix: records are found by a prefix of their ID's
// hexadecimal form, of any length, at both ends of the ID space.
func testListByIDPrefix(t *testing.T, s store.Store) {
	c := ctx(t)
	mk := func(n int, hexID string, parties ...record.Handle) *store.Entry {
		e := Entry(n, record.KindTag, parties...)
		if _, err := hex.Decode(e.ID[:], []byte(hexID)); err != nil {
			t.Fatal(err)
		}
		return e
	}
	pad := func(p string, c byte) string { return p + strings.Repeat(string(c), 64-len(p)) }
	a1 := mk(0, pad("abcd1234", '0'))
	a2 := mk(1, pad("abcd1234ff", '1'), "ru/president")
	a3 := mk(2, pad("abcd1235", '2'))
	lo := mk(3, pad("", '0'))
	hi := mk(4, pad("", 'f'))
	if _, err := s.Append(c, []*store.Entry{a1, a2, a3, lo, hi}); err != nil {
		t.Fatal(err)
	}
	want := func(q store.Query, es ...*store.Entry) {
		t.Helper()
		l, err := s.List(c, q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		var got, w []record.ID
		for _, st := range l {
			got = append(got, st.ID)
		}
		for _, e := range es {
			w = append(w, e.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("List(%+v) = %v,\nwant %v", q, got, w)
		}
	}
	want(store.Query{IDPrefix: "abcd123"}, a1, a2, a3)
	want(store.Query{IDPrefix: "abcd1234"}, a1, a2)
	want(store.Query{IDPrefix: "abcd1234f"}, a2)
	want(store.Query{IDPrefix: a3.ID.String()}, a3)
	want(store.Query{IDPrefix: "abcd123", Limit: 2}, a1, a2)
	want(store.Query{IDPrefix: "abcd123", Public: true}, a1, a3)
	want(store.Query{IDPrefix: "abcd123", From: 1}, a2, a3)
	want(store.Query{IDPrefix: "0"}, lo)
	want(store.Query{IDPrefix: "ff"}, hi)
	want(store.Query{IDPrefix: "abce"})
	for _, bad := range []store.Query{{IDPrefix: "ABCD"}, {IDPrefix: "abcg"}, {IDPrefix: pad("a", 'b') + "0"},
		{IDPrefix: "abcd", Party: "ru/president"}, {IDPrefix: "abcd", Ref: &a1.ID}} {
		if _, err := s.List(c, bad); !errors.Is(err, store.ErrBadQuery) {
			t.Errorf("List(%+v): %v, want ErrBadQuery", bad, err)
		}
	}
}

func testPayload(t *testing.T, s store.Store) {
	c := ctx(t)
	e := Entry(0, record.KindTag, "ir/president")
	// Two full chunks and a part of one: the chunks must join up.
	e.Payload = pattern(2*store.ChunkSize + 12345)
	plain := Entry(1, record.KindCustody, "ir/president")
	empty := Entry(2, record.KindTag, "ir/president")
	empty.Payload = []byte{}
	// A pouch's size, and one chunk exactly: a store may keep these
	// whole (SQLite does), but they read back the same.
	small := Entry(3, record.KindTag, "ir/president")
	small.Payload = pattern(5031)
	one := Entry(4, record.KindTag, "ir/president")
	one.Payload = pattern(store.ChunkSize)
	if _, err := s.Append(c, []*store.Entry{e, plain, empty, small, one}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*store.Entry{e, small, one} {
		if p := readPayload(t, s, x.ID); !bytes.Equal(p, x.Payload) {
			t.Fatalf("OpenPayload read %d bytes, not the %d stored", len(p), len(x.Payload))
		}
	}
	if p := readPayload(t, s, empty.ID); len(p) != 0 {
		t.Fatalf("an empty payload reads back as %d bytes", len(p))
	}
	if _, err := s.OpenPayload(c, plain.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenPayload of a record without one: %v, want ErrNotFound", err)
	}
	if _, err := s.OpenPayload(c, record.ID{7}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenPayload of an unknown record: %v, want ErrNotFound", err)
	}
	st, err := s.Get(c, e.ID)
	if err != nil || st.Payload != nil || st.Staged != nil {
		t.Errorf("Get returned the payload, %v", err)
	}
}

// pattern returns n bytes that differ from chunk to chunk, so that chunks
// read out of order or twice show.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/store.ChunkSize*13 + i>>12)
	}
	return b
}

// readPayload reads the payload of id with small reads, and checks its
// reader's size.
func readPayload(t *testing.T, s store.Store, id record.ID) []byte {
	t.Helper()
	r, err := s.OpenPayload(ctx(t), id)
	if err != nil {
		t.Fatalf("OpenPayload: %v", err)
	}
	defer r.Close()
	var out bytes.Buffer
	buf := make([]byte, 100_000)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the payload: %v", err)
		}
	}
	if int64(out.Len()) != r.Size() {
		t.Fatalf("payload reader says %d bytes, read %d", r.Size(), out.Len())
	}
	return out.Bytes()
}

// stage writes p with a PayloadWriter, in writes of odd sizes, and
// commits it.
func stage(t *testing.T, s store.Store, p []byte) *store.Staged {
	t.Helper()
	w, err := s.StagePayload(ctx(t))
	if err != nil {
		t.Fatalf("StagePayload: %v", err)
	}
	for off := 0; off < len(p); {
		n := min(len(p)-off, 300_001)
		if k, err := w.Write(p[off : off+n]); err != nil || k != n {
			t.Fatalf("PayloadWriter.Write = %d, %v", k, err)
		}
		off += n
	}
	sp, err := w.Commit()
	if err != nil {
		t.Fatalf("PayloadWriter.Commit: %v", err)
	}
	if sp.Size != int64(len(p)) {
		t.Fatalf("staged %d bytes, wrote %d", sp.Size, len(p))
	}
	return sp
}

func testStagedPayload(t *testing.T, s store.Store) {
	c := ctx(t)
	p := pattern(3*store.ChunkSize + 777)
	sp := stage(t, s, p)
	e := Entry(0, record.KindTag, "ir/president")
	e.Staged = sp
	if _, err := s.Append(c, []*store.Entry{e}); err != nil {
		t.Fatalf("Append with a staged payload: %v", err)
	}
	if got := readPayload(t, s, e.ID); !bytes.Equal(got, p) {
		t.Fatalf("staged payload read back as %d bytes, not the %d written", len(got), len(p))
	}

	// A staged payload is taken once.
	again := Entry(1, record.KindTag, "ir/president")
	again.Staged = sp
	if _, err := s.Append(c, []*store.Entry{again}); !errors.Is(err, store.ErrNotStaged) {
		t.Fatalf("a second record took the same staged payload: %v, want ErrNotStaged", err)
	}
	if _, err := s.Get(c, again.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused record was written: %v", err)
	}

	// Its size is checked.
	wrong := Entry(2, record.KindTag, "ir/president")
	sp2 := stage(t, s, p[:1000])
	wrong.Staged = &store.Staged{Key: sp2.Key, Size: sp2.Size + 1}
	if _, err := s.Append(c, []*store.Entry{wrong}); !errors.Is(err, store.ErrNotStaged) {
		t.Fatalf("a staged payload named with the wrong size: %v, want ErrNotStaged", err)
	}

	// A refused Append leaves its staged payload staged, for a retry.
	dup := Entry(0, record.KindTag, "ir/president")
	dup.Staged = sp2
	if _, err := s.Append(c, []*store.Entry{dup}); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("replay: %v, want ErrDuplicate", err)
	}
	wrong.Staged = sp2
	if _, err := s.Append(c, []*store.Entry{wrong}); err != nil {
		t.Fatalf("Append with a payload staged before a refused Append: %v", err)
	}
	if got := readPayload(t, s, wrong.ID); !bytes.Equal(got, p[:1000]) {
		t.Fatalf("payload read back as %d bytes, not the 1000 written", len(got))
	}

	// Abort discards a staged payload, and does nothing once taken.
	w, err := s.StagePayload(c)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p[:store.ChunkSize+1])
	sp3, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	gone := Entry(3, record.KindTag, "ir/president")
	gone.Staged = sp3
	if _, err := s.Append(c, []*store.Entry{gone}); !errors.Is(err, store.ErrNotStaged) {
		t.Fatalf("Append with an aborted payload: %v, want ErrNotStaged", err)
	}
	w, err = s.StagePayload(c)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p[:10])
	sp4, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	gone.Staged = sp4
	if _, err := s.Append(c, []*store.Entry{gone}); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort after Append: %v", err)
	}
	if got := readPayload(t, s, gone.ID); !bytes.Equal(got, p[:10]) {
		t.Fatalf("Abort after Append discarded the record's payload: read %d bytes", len(got))
	}

	// A writer aborted before Commit.
	w, err = s.StagePayload(c)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p[:2*store.ChunkSize])
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort before Commit: %v", err)
	}
	if _, err := w.Write(p[:1]); err == nil {
		t.Errorf("an aborted writer took more bytes")
	}
}

func testConcurrentPayloads(t *testing.T, s store.Store) {
	c := ctx(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ps := make([][]byte, n)
	es := make([]*store.Entry, n)
	for i := range n {
		ps[i] = pattern(store.ChunkSize + 1000*i)
		ps[i][0] = byte(i)
		es[i] = Entry(i, record.KindTag, "ir/president")
		wg.Go(func() {
			w, err := s.StagePayload(c)
			if err != nil {
				errs <- err
				return
			}
			for off := 0; off < len(ps[i]); off += 65536 {
				if _, err := w.Write(ps[i][off:min(off+65536, len(ps[i]))]); err != nil {
					errs <- err
					return
				}
			}
			sp, err := w.Commit()
			if err != nil {
				errs <- err
				return
			}
			es[i].Staged = sp
			if _, err := s.Append(c, []*store.Entry{es[i]}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent staging: %v", err)
	}
	for i := range n {
		if got := readPayload(t, s, es[i].ID); !bytes.Equal(got, ps[i]) {
			t.Fatalf("payload %d read back as %d bytes, not its own %d", i, len(got), len(ps[i]))
		}
	}
}

func testWaitSize(t *testing.T, s store.Store) {
	c := ctx(t)
	short, cancel := context.WithTimeout(c, 50*time.Millisecond)
	defer cancel()
	if _, err := s.WaitSize(short, 0); err == nil {
		t.Fatalf("WaitSize on an empty store returned before any append")
	}
	got := make(chan uint64, 1)
	go func() {
		n, _ := s.WaitSize(c, 0)
		got <- n
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := s.Append(c, []*store.Entry{Entry(0, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 1 {
			t.Errorf("WaitSize returned %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitSize did not wake up after an append")
	}
	if n, err := s.WaitSize(c, 0); err != nil || n != 1 {
		t.Errorf("WaitSize below the size = %d, %v; want 1 at once", n, err)
	}
}

func testLeaves(t *testing.T, s store.Store) {
	c := ctx(t)
	var es []*store.Entry
	for i := 0; i < 300; i++ {
		e := Entry(i, record.Kinds[i%len(record.Kinds)])
		e.Public = i%3 != 0
		es = append(es, e)
	}
	seq, err := s.Append(c, es)
	if err != nil {
		t.Fatal(err)
	}
	CheckLeaves(t, s, es, seq)
}

// CheckLeaves checks that the store's leaves 250 to 299 are those of es,
// sequenced at seq: kind, ID, time of sequencing and privacy. Stores that
// keep recent leaves in memory call it again after reopening.
func CheckLeaves(t *testing.T, s store.Store, es []*store.Entry, seq []store.Sequenced) {
	t.Helper()
	c := ctx(t)
	l, err := s.Leaves(c, 250, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 50 {
		t.Fatalf("Leaves(250, 100) of 300 = %d leaves, want 50", len(l))
	}
	for i, leaf := range l {
		e := es[250+i]
		if want := e.Leaf(seq[250+i]); leaf != want {
			t.Fatalf("leaf %d = %+v, want %+v", 250+i, leaf, want)
		}
		if leaf.Private == e.Public {
			t.Fatalf("leaf %d: private %v for a public=%v entry", 250+i, leaf.Private, e.Public)
		}
	}
}

// testCheck: an entry's Check hook sees the place and time the entry gets,
// and a refusal writes nothing of its call while the calls beside it
// commit.
func testCheck(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.Append(c, []*store.Entry{Entry(0, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	var seen []store.Sequenced
	e1, e2 := Entry(1, record.KindAdmit), Entry(2, record.KindAdmit)
	e1.Check = func(sq store.Sequenced) error { seen = append(seen, sq); return nil }
	seq, err := s.Append(c, []*store.Entry{e1, e2})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || seen[len(seen)-1] != seq[0] {
		t.Fatalf("Check saw %+v, the entry was placed at %+v", seen, seq[0])
	}
	refusal := errors.New("refused at its place")
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := Entry(10+2*i, record.KindGrant), Entry(11+2*i, record.KindGrant)
			if i%2 == 1 {
				b.Check = func(sq store.Sequenced) error {
					mu.Lock()
					defer mu.Unlock()
					if sq.Index < 3 {
						return fmt.Errorf("placed at %d, before the entries already stored", sq.Index)
					}
					return refusal
				}
			}
			_, errs[i] = s.Append(c, []*store.Entry{a, b})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i%2 == 1 && !errors.Is(err, refusal):
			t.Errorf("call %d: Append = %v, want the Check's refusal", i, err)
		case i%2 == 0 && err != nil:
			t.Errorf("call %d beside refused ones: %v", i, err)
		}
		a, b := Entry(10+2*i, record.KindGrant), Entry(11+2*i, record.KindGrant)
		_, errA := s.Get(c, a.ID)
		_, errB := s.Get(c, b.ID)
		if i%2 == 1 && (!errors.Is(errA, store.ErrNotFound) || !errors.Is(errB, store.ErrNotFound)) {
			t.Errorf("call %d was refused but wrote %v / %v", i, errA, errB)
		}
	}
	st, err := s.State(c)
	if err != nil || st.Size != 3+2*4 {
		t.Fatalf("State = %+v, %v; want %d leaves, no gap", st, err, 3+2*4)
	}
	for i := uint64(0); i < st.Size; i++ {
		if _, err := s.GetByIndex(c, i); err != nil {
			t.Fatalf("index %d: %v (a refused entry left a gap)", i, err)
		}
	}
}

// testTimeNeverDecreases: times of sequencing never decrease with the
// index, across calls and batches.
func testTimeNeverDecreases(t *testing.T, s store.Store) {
	c := ctx(t)
	var all []store.Sequenced
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				sq, err := s.Append(c, []*store.Entry{Entry(1000*g+i, record.KindTag)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, sq...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	byIndex := make([]time.Time, len(all))
	for _, sq := range all {
		byIndex[sq.Index] = sq.Time
	}
	for i := 1; i < len(byIndex); i++ {
		if byIndex[i].Before(byIndex[i-1]) {
			t.Fatalf("index %d sequenced at %v, before index %d at %v", i, byIndex[i], i-1, byIndex[i-1])
		}
	}
	leaves, err := s.Leaves(c, 0, len(byIndex))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range leaves {
		if l.Time != byIndex[i].UnixMilli() {
			t.Fatalf("leaf %d has time %d, Append said %v", i, l.Time, byIndex[i])
		}
	}
}

func testIntegrate(t *testing.T, s store.Store) {
	c := ctx(t)
	st, err := s.State(c)
	if err != nil || st.TreeSize != 0 || st.Checkpoint != nil {
		t.Fatalf("new store State = %+v, %v", st, err)
	}
	var es []*store.Entry
	for i := 0; i < 3; i++ {
		es = append(es, Entry(i, record.KindHouse))
	}
	if _, err := s.Append(c, es); err != nil {
		t.Fatal(err)
	}
	h := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, 32*n) }
	r1 := &store.Round{OldSize: 0, NewSize: 2, Checkpoint: []byte("cp 2"),
		Tiles: []store.Tile{{TileID: store.TileID{Level: 0, Index: 0}, Hashes: h(1, 2)}}}
	if err := s.Integrate(c, r1); err != nil {
		t.Fatalf("Integrate: %v", err)
	}
	if err := s.Integrate(c, r1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Integrate from a stale size: %v, want ErrConflict", err)
	}
	if err := s.Integrate(c, &store.Round{OldSize: 2, NewSize: 4, Checkpoint: []byte("cp 4")}); err == nil {
		t.Fatalf("Integrate beyond the appended leaves succeeded")
	}
	r2 := &store.Round{OldSize: 2, NewSize: 3, Checkpoint: []byte("cp 3"),
		Tiles: []store.Tile{{TileID: store.TileID{Level: 0, Index: 0}, Hashes: h(2, 3)}}}
	if err := s.Integrate(c, r2); err != nil {
		t.Fatal(err)
	}
	st, err = s.State(c)
	if err != nil || st.TreeSize != 3 || string(st.Checkpoint) != "cp 3" || st.Size != 3 {
		t.Fatalf("State = %+v, %v", st, err)
	}
	tiles, err := s.Tiles(c, []store.TileID{{Level: 0, Index: 0}, {Level: 0, Index: 1}, {Level: 1, Index: 0}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tiles[0].Hashes, h(2, 3)) || tiles[1].Hashes != nil || tiles[2].Hashes != nil {
		t.Errorf("Tiles = %v", tiles)
	}
	if cp, err := s.Checkpoint(c, 2); err != nil || string(cp) != "cp 2" {
		t.Errorf("Checkpoint(2) = %q, %v", cp, err)
	}
	if _, err := s.Checkpoint(c, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Checkpoint(5) = %v, want ErrNotFound", err)
	}
	if err := s.Cosigned(c, 3, []byte("cp 3 cosigned")); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.State(c); string(st.Checkpoint) != "cp 3 cosigned" {
		t.Errorf("after Cosigned, State.Checkpoint = %q", st.Checkpoint)
	}
	if err := s.Cosigned(c, 7, []byte("x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Cosigned of an unknown size: %v, want ErrNotFound", err)
	}
	if err := s.Integrate(c, &store.Round{OldSize: 3, NewSize: 3, Checkpoint: []byte("cp 3 again"),
		Tiles: []store.Tile{{TileID: store.TileID{Level: 0, Index: 0}, Hashes: []byte{1, 2, 3}}}}); err == nil {
		t.Errorf("Integrate accepted a tile that is not a whole number of hashes")
	}
	if cp, _ := s.Checkpoint(c, 3); string(cp) != "cp 3 cosigned" {
		t.Errorf("a refused round changed the checkpoint: %q", cp)
	}
	// The checkpoints around a leaf: the last without it, the first with it.
	for _, tc := range []struct {
		index         uint64
		before, after string
		bsize, asize  uint64
	}{
		{0, "", "cp 2", 0, 2},
		{1, "", "cp 2", 0, 2},
		{2, "cp 2", "cp 3 cosigned", 2, 3},
		{3, "cp 3 cosigned", "", 3, 0},
		{9, "cp 3 cosigned", "", 3, 0},
	} {
		b, a, err := s.CheckpointsAround(c, tc.index)
		if err != nil || string(b.Note) != tc.before || string(a.Note) != tc.after || b.Size != tc.bsize || a.Size != tc.asize {
			t.Errorf("CheckpointsAround(%d) = %d %q, %d %q, %v; want %d %q, %d %q", tc.index, b.Size, b.Note, a.Size, a.Note, err,
				tc.bsize, tc.before, tc.asize, tc.after)
		}
	}
	// A full tile's inner hashes come back as written.
	full := store.Tile{TileID: store.TileID{Level: 1, Index: 7}, Hashes: h(4, store.TileWidth), Inner: h(5, store.InnerSize/32)}
	if err := s.Integrate(c, &store.Round{OldSize: 3, NewSize: 3, Checkpoint: []byte("cp 3, a full tile"), Tiles: []store.Tile{full}}); err != nil {
		t.Fatal(err)
	}
	tiles, err = s.Tiles(c, []store.TileID{full.TileID, {Level: 0, Index: 0}, {Level: 9, Index: 0}, full.TileID})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tiles[3].Hashes, full.Hashes) || tiles[2].Hashes != nil {
		t.Errorf("a tile asked for twice read back as %d and %d hashes; a tile of no level as %d", tiles[0].Width(), tiles[3].Width(), tiles[2].Width())
	}
	if !bytes.Equal(tiles[0].Hashes, full.Hashes) || !bytes.Equal(tiles[0].Inner, full.Inner) {
		t.Errorf("a full tile with inner hashes read back as %d hashes, %d bytes of inner hashes", tiles[0].Width(), len(tiles[0].Inner))
	}
	if tiles[1].Inner != nil {
		t.Errorf("a partial tile stored without inner hashes read back with %d bytes of them", len(tiles[1].Inner))
	}
	// A partial tile's, likewise.
	part := store.Tile{TileID: store.TileID{Level: 1, Index: 8}, Hashes: h(6, 40), Inner: h(7, store.InnerLen(40)/32)}
	if err := s.Integrate(c, &store.Round{OldSize: 3, NewSize: 3, Checkpoint: []byte("cp 3, a partial tile"), Tiles: []store.Tile{part}}); err != nil {
		t.Fatal(err)
	}
	if tiles, err = s.Tiles(c, []store.TileID{part.TileID}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tiles[0].Hashes, part.Hashes) || !bytes.Equal(tiles[0].Inner, part.Inner) {
		t.Errorf("a partial tile with inner hashes read back as %d hashes, %d bytes of inner hashes", tiles[0].Width(), len(tiles[0].Inner))
	}
}

// testTileInner: a store refuses a tile's inner hashes in another size
// than its width calls for, writing nothing of the round, and keeps them
// in the right one.
func testTileInner(t *testing.T, s store.Store) {
	c := ctx(t)
	if _, err := s.Append(c, []*store.Entry{Entry(0, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	id := store.TileID{Level: 1, Index: 3}
	hashes := bytes.Repeat([]byte{1}, 32*40)
	bad := &store.Round{NewSize: 1, Checkpoint: []byte("cp 1"),
		Tiles: []store.Tile{{TileID: id, Hashes: hashes, Inner: bytes.Repeat([]byte{2}, store.InnerLen(64))}}}
	if err := s.Integrate(c, bad); err == nil {
		t.Fatal("Integrate took inner hashes of a tile of 64 hashes for one of 40")
	}
	if st, _ := s.State(c); st.TreeSize != 0 {
		t.Fatalf("a refused round grew the tree to %d", st.TreeSize)
	}
	inner := bytes.Repeat([]byte{3}, store.InnerLen(40))
	good := &store.Round{NewSize: 1, Checkpoint: []byte("cp 1"), Tiles: []store.Tile{{TileID: id, Hashes: hashes, Inner: inner}}}
	if err := s.Integrate(c, good); err != nil {
		t.Fatal(err)
	}
	ts, err := s.Tiles(c, []store.TileID{id})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ts[0].Hashes, hashes) || !bytes.Equal(ts[0].Inner, inner) {
		t.Fatalf("read back %d hashes and %d bytes of inner hashes, want 40 and %d", ts[0].Width(), len(ts[0].Inner), len(inner))
	}
}

// testImport: a store that implements store.Importer takes records at the
// places and times given, payloads with them, and refuses places out of
// order and times that go back; an Append after them is not sequenced
// before them.
func testImport(t *testing.T, s store.Store) {
	im, ok := s.(store.Importer)
	if !ok {
		t.Skip("the store does not implement store.Importer")
	}
	c := ctx(t)
	t0 := time.Date(2021, 2, 8, 12, 0, 0, 0, time.UTC)
	future := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()
	var es []*store.Entry
	var at []store.Sequenced
	for i, tm := range []time.Time{t0, t0, t0.Add(time.Second), future} {
		es = append(es, Entry(i, record.KindTag, "ir/president"))
		at = append(at, store.Sequenced{Index: uint64(i), Time: tm})
	}
	p := pattern(store.ChunkSize + 3)
	es[1].Staged = stage(t, s, p)
	if err := im.Import(c, es[:1], at[1:2]); err == nil {
		t.Fatalf("Import at index 1 into an empty log succeeded")
	}
	if err := im.Import(c, es[:2], []store.Sequenced{at[1], at[0]}); err == nil {
		t.Fatalf("Import of indexes out of order succeeded")
	}
	if err := im.Import(c, es[:3], at[:3]); err != nil {
		t.Fatalf("Import: %v", err)
	}
	if err := im.Import(c, es[3:], []store.Sequenced{{Index: 3, Time: t0}}); err == nil {
		t.Fatalf("Import of a time before the last leaf's succeeded")
	}
	if err := im.Import(c, es[3:], at[3:]); err != nil {
		t.Fatalf("Import: %v", err)
	}
	for i, e := range es {
		st, err := s.GetByIndex(c, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		e.Staged = nil
		checkSame(t, st, e, at[i])
	}
	if got := readPayload(t, s, es[1].ID); !bytes.Equal(got, p) {
		t.Fatalf("imported payload read back as %d bytes, not %d", len(got), len(p))
	}
	sq, err := s.Append(c, []*store.Entry{Entry(9, record.KindHouse)})
	if err != nil {
		t.Fatal(err)
	}
	if sq[0].Index != 4 || sq[0].Time.Before(future) {
		t.Fatalf("an Append after an import placed at %d %v, want 4 and not before %v", sq[0].Index, sq[0].Time, future)
	}
	if st, _ := s.State(c); st.Size != 5 {
		t.Fatalf("State after imports = %+v, want 5 leaves", st)
	}

	// Checkpoints come as they are, without moving the tree; the tree
	// comes with the last of them.
	if err := im.ImportCheckpoints(c, []store.StoredCheckpoint{{Size: 99, Note: []byte("cp 99")}}); err == nil {
		t.Fatalf("ImportCheckpoints beyond the leaves appended succeeded")
	}
	if err := im.ImportCheckpoints(c, []store.StoredCheckpoint{{Size: 1, Note: []byte("cp 1")}, {Size: 3, Note: []byte("cp 3 cosigned")}}); err != nil {
		t.Fatalf("ImportCheckpoints: %v", err)
	}
	if st, _ := s.State(c); st.TreeSize != 0 || st.Checkpoint != nil {
		t.Fatalf("ImportCheckpoints moved the tree: %+v", st)
	}
	if err := s.Integrate(c, &store.Round{OldSize: 0, NewSize: 5, Checkpoint: []byte("cp 5")}); err != nil {
		t.Fatalf("Integrate after ImportCheckpoints: %v", err)
	}
	b, a, err := s.CheckpointsAround(c, 2)
	if err != nil || string(b.Note) != "cp 1" || string(a.Note) != "cp 3 cosigned" {
		t.Fatalf("CheckpointsAround(2) after an import = %q, %q, %v", b.Note, a.Note, err)
	}
	if st, _ := s.State(c); st.TreeSize != 5 || string(st.Checkpoint) != "cp 5" {
		t.Fatalf("State = %+v, want the tree of 5 and its checkpoint", st)
	}
}
