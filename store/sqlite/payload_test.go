package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

// inspect opens the store's file read-only, to look at its rows.
func inspect(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPayloadInChunks: a payload is stored in rows of at most
// store.ChunkSize bytes, whether it came in memory or staged.
func TestPayloadInChunks(t *testing.T) {
	s, path := openTempAt(t)
	defer s.Close()
	ctx := context.Background()
	big := bytes.Repeat([]byte{'x'}, 3*store.ChunkSize+5)
	inline := storetest.Entry(0, record.KindTag, "ir/president")
	inline.Payload = big
	w, err := s.StagePayload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(big)
	sp, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	staged := storetest.Entry(1, record.KindTag, "ir/president")
	staged.Staged = sp
	if _, err := s.Append(ctx, []*store.Entry{inline, staged}); err != nil {
		t.Fatal(err)
	}
	var rows, largest int64
	if err := inspect(t, path).QueryRow(`SELECT COUNT(*), MAX(length(data)) FROM payload_chunks`).Scan(&rows, &largest); err != nil {
		t.Fatal(err)
	}
	if rows != 8 || largest != store.ChunkSize {
		t.Fatalf("two payloads of 3 chunks and 5 bytes are stored in %d rows, the largest of %d bytes; want 8 rows of at most %d", rows, largest, store.ChunkSize)
	}
}

// TestSmallPayloadInline: a payload that comes in memory and fits in one
// chunk is one row of inline_payloads, under its record's index, and
// nothing of payload_chunks or record_payloads; one byte more and it is
// in chunks.
func TestSmallPayloadInline(t *testing.T) {
	s, path := openTempAt(t)
	defer s.Close()
	ctx := context.Background()
	small := storetest.Entry(0, record.KindTag, "ir/president")
	small.Payload = bytes.Repeat([]byte{'s'}, 5031)
	one := storetest.Entry(1, record.KindTag, "ir/president")
	one.Payload = bytes.Repeat([]byte{'o'}, store.ChunkSize)
	over := storetest.Entry(2, record.KindTag, "ir/president")
	over.Payload = bytes.Repeat([]byte{'v'}, store.ChunkSize+1)
	if _, err := s.Append(ctx, []*store.Entry{small, one, over}); err != nil {
		t.Fatal(err)
	}
	db := inspect(t, path)
	rows, err := db.Query(`SELECT idx, length(data) FROM inline_payloads ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]int64
	for rows.Next() {
		var idx, size int64
		if err := rows.Scan(&idx, &size); err != nil {
			t.Fatal(err)
		}
		got = append(got, [2]int64{idx, size})
	}
	rows.Close()
	want := [][2]int64{{0, 5031}, {1, store.ChunkSize}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("inline_payloads holds (index, size) %v, want %v", got, want)
	}
	var chunks, named, idx int64
	if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM payload_chunks), COUNT(*), MAX(idx) FROM record_payloads`).Scan(&chunks, &named, &idx); err != nil {
		t.Fatal(err)
	}
	if chunks != 2 || named != 1 || idx != 2 {
		t.Fatalf("payload_chunks has %d rows and record_payloads %d (the last of index %d); want the 2 chunks of record 2 alone", chunks, named, idx)
	}
	for _, e := range []*store.Entry{small, one, over} {
		if p, err := s.Payload(ctx, e.ID); err != nil || !bytes.Equal(p, e.Payload) {
			t.Fatalf("the payload of %d bytes reads back as %d bytes, %v", len(e.Payload), len(p), err)
		}
	}
}

// TestManyWholePayloads: whole payloads of a chunk each, more than one
// insert statement binds, in one Append: all stored, each read back.
func TestManyWholePayloads(t *testing.T) {
	s, path := openTempAt(t)
	defer s.Close()
	ctx := context.Background()
	var es []*store.Entry
	for i := range 19 {
		e := storetest.Entry(i, record.KindTag, "ir/president")
		e.Payload = bytes.Repeat([]byte{byte('a' + i)}, store.ChunkSize-i)
		es = append(es, e)
	}
	if _, err := s.Append(ctx, es); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := inspect(t, path).QueryRow(`SELECT COUNT(*) FROM inline_payloads`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(es) {
		t.Fatalf("inline_payloads has %d rows, want %d", rows, len(es))
	}
	for _, e := range es {
		if p, err := s.Payload(ctx, e.ID); err != nil || !bytes.Equal(p, e.Payload) {
			t.Fatalf("a payload of %d bytes reads back as %d bytes, %v", len(e.Payload), len(p), err)
		}
	}
}

// TestStagedDiscardedAtOpen: a payload staged but taken by no record when
// the process stopped is gone when the store opens again.
func TestStagedDiscardedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pouch.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, commit := range []bool{true, false} {
		w, err := s.StagePayload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(bytes.Repeat([]byte{'y'}, 2*store.ChunkSize+1))
		if commit {
			if _, err := w.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var rows int
	inspect(t, path).QueryRow(`SELECT COUNT(*) FROM payload_chunks`).Scan(&rows)
	if rows != 5 {
		t.Fatalf("%d chunk rows staged, want 5 (3 committed, 2 written)", rows)
	}
	s.Close()
	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var staged int
	db := inspect(t, path)
	db.QueryRow(`SELECT COUNT(*) FROM payload_chunks`).Scan(&rows)
	db.QueryRow(`SELECT COUNT(*) FROM payload_staged`).Scan(&staged)
	if rows != 0 || staged != 0 {
		t.Fatalf("after reopening, %d chunk rows and %d staged payloads remain", rows, staged)
	}
}

// TestWALTruncated: the WAL file does not keep the largest size it ever
// reached; the checkpointer truncates it once it grows beyond a bound.
func TestWALTruncated(t *testing.T) {
	s, path := openTempAt(t)
	defer s.Close()
	ctx := context.Background()
	for i := range 6 {
		e := storetest.Entry(i, record.KindTag, "ir/president")
		e.Payload = bytes.Repeat([]byte{byte(i)}, 8<<20)
		if _, err := s.Append(ctx, []*store.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() <= 16<<20 {
			t.Logf("WAL file at %d bytes after 48 MiB of payloads", fi.Size())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL file stays at %d bytes after 48 MiB of payloads were checkpointed", fi.Size())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFullDisk: when the file cannot grow, Append and Integrate fail with
// an error that wraps store.ErrFull, write nothing, and work again once
// there is room; the leaf indexes stay contiguous.
func TestFullDisk(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, []*store.Entry{storetest.Entry(0, record.KindHouse)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMaxPageCount(1); err != nil { // as small as it is now
		t.Fatal(err)
	}
	big := storetest.Entry(1, record.KindTag, "ir/president")
	big.Payload = bytes.Repeat([]byte{'z'}, 2*store.ChunkSize)
	if _, err := s.Append(ctx, []*store.Entry{big}); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Append on a full disk: %v, want ErrFull", err)
	}
	w, err := s.StagePayload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(big.Payload); !errors.Is(err, store.ErrFull) {
		t.Fatalf("staging a payload on a full disk: %v, want ErrFull", err)
	}
	w.Abort()
	if _, err := s.Get(ctx, big.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a record refused for a full disk was written: %v", err)
	}
	if err := s.SetMaxPageCount(1 << 30); err != nil {
		t.Fatal(err)
	}
	seq, err := s.Append(ctx, []*store.Entry{big})
	if err != nil || seq[0].Index != 1 {
		t.Fatalf("once there is room, Append = %v, %v; want index 1", seq, err)
	}
	if got, err := s.Payload(ctx, big.ID); err != nil || !bytes.Equal(got, big.Payload) {
		t.Fatalf("payload after the disk had room again: %d bytes, %v", len(got), err)
	}
}

// TestCheckpointsAfterEachBurst: the checkpointer copies the WAL into the
// database file after each burst of commits, also after ticks with
// nothing to copy (which it skips): the database file grows after the
// first burst, and again after the second.
func TestCheckpointsAfterEachBurst(t *testing.T) {
	s, path := openTempAt(t)
	defer s.Close()
	ctx := context.Background()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	last := size()
	for burst := range 2 {
		for i := range 4 {
			e := storetest.Entry(burst*4+i, record.KindTag, "ir/president")
			e.Payload = bytes.Repeat([]byte{byte(i)}, 256<<10)
			if _, err := s.Append(ctx, []*store.Entry{e}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for size() < last+1<<20 {
			if time.Now().After(deadline) {
				t.Fatalf("burst %d: the database file stays at %d bytes, %d before the burst: its MiB of payloads was not checkpointed", burst, size(), last)
			}
			time.Sleep(10 * time.Millisecond)
		}
		last = size()
		time.Sleep(100 * time.Millisecond) // idle ticks
	}
}
