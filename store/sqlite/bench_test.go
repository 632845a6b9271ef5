package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

// BenchmarkAppendBatch measures the writer alone: durable appends of
// batches of 1000 entries.
func BenchmarkAppendBatch(b *testing.B) {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "pouch.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	es := make([]*store.Entry, b.N)
	for i := range es {
		es[i] = storetest.Entry(i, record.KindCosign, "ir/president")
		es[i].Signed = append(es[i].Signed, make([]byte, 200)...)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		if _, err := s.Append(context.Background(), es[i:min(i+1000, b.N)]); err != nil {
			b.Fatal(err)
		}
	}
}
