package store_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"pouch.dev/internal/pgtest"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/postgres"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

// benchStores returns the stores to compare, each opened n times over the
// same data (n processes): SQLite, and PostgreSQL when
// POUCH_TEST_POSTGRES is set (a database of its own).
func benchStores(b *testing.B) []struct {
	name string
	open func(b *testing.B) store.Store
} {
	path := filepath.Join(b.TempDir(), "pouch.db")
	out := []struct {
		name string
		open func(b *testing.B) store.Store
	}{{"sqlite", func(b *testing.B) store.Store {
		s, err := sqlite.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}}}
	if pgtest.Enabled() {
		url := pgtest.DB(b)
		out = append(out, struct {
			name string
			open func(b *testing.B) store.Store
		}{"postgres", func(b *testing.B) store.Store {
			s, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}})
	}
	return out
}

// next numbers the benchmarks' entries, so that no two are the same
// record across runs over one store.
var next atomic.Int64

func benchEntry(payload int) *store.Entry {
	e := storetest.Entry(int(next.Add(1)), record.KindTag, "ir/president", "ru/president", "ir/envoy")
	e.Signed = append(e.Signed, make([]byte, 200)...)
	if payload > 0 {
		e.Payload = make([]byte, payload)
	}
	return e
}

// BenchmarkAppend compares the stores side by side, at the store's
// interface: durable appends of one entry per call, one caller at a time
// (the latency of a commit); of batches of 1000 entries; 64 concurrent
// callers each appending one entry with a 4,656-byte payload (a pouch's
// sealed letter), as the server drives it (group commit); and the same
// 64 callers spread over two stores on the same database, as two server
// processes (replicas) append (PostgreSQL only: a SQLite file has one
// writing process).
//
//	POUCH_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./store -run '^$' -bench Append -benchtime 2000x
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			b.Run("serial", func(b *testing.B) {
				es := make([]*store.Entry, b.N)
				for i := range es {
					es[i] = benchEntry(0)
				}
				b.ResetTimer()
				for i := range b.N {
					if _, err := s.Append(ctx, es[i:i+1]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("batch1000", func(b *testing.B) {
				es := make([]*store.Entry, b.N)
				for i := range es {
					es[i] = benchEntry(0)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i += 1000 {
					if _, err := s.Append(ctx, es[i:min(i+1000, b.N)]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("concurrent64", func(b *testing.B) { concurrent(b, []store.Store{s}) })
			if st.name != "sqlite" { // one process per SQLite file
				b.Run("concurrent64-2stores", func(b *testing.B) { concurrent(b, []store.Store{s, st.open(b)}) })
			}
		})
	}
}

// concurrent has 64 callers append b.N entries with payloads, one per
// call, spread over the stores ss.
func concurrent(b *testing.B, ss []store.Store) {
	es := make([]*store.Entry, b.N)
	for i := range es {
		es[i] = benchEntry(4656)
	}
	var n atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range 64 {
		s := ss[w%len(ss)]
		wg.Go(func() {
			for {
				i := int(n.Add(1)) - 1
				if i >= len(es) {
					return
				}
				if _, err := s.Append(context.Background(), es[i:i+1]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
