package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
)

// BenchmarkAppendBatch measures the writer alone: durable appends of
// batches of 1000 entries.
func BenchmarkAppendBatch(b *testing.B) {
	s := openTemp(b)
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

// BenchmarkAppendConcurrent measures the writer as the server drives it:
// 64 concurrent callers each append one entry at a time with a 4,656-byte
// payload (a pouch's sealed letter), so that group commits are small.
func BenchmarkAppendConcurrent(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	es := pouchEntries(b.N)
	appendConcurrently(b, s, es, 64)
}

// appendConcurrently appends es, one entry a call, from callers
// goroutines, and reports the process's CPU time per entry.
func appendConcurrently(b *testing.B, s *sqlite.Store, es []*store.Entry, callers int) {
	var next atomic.Int64
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(es) {
					return
				}
				if _, err := s.Append(context.Background(), es[i:i+1]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "CPU-µs/entry")
}

// BenchmarkAppendPrincipals is BenchmarkAppendConcurrent with the
// parties of a deployment of many principals: each entry names three of
// -principals handles (sorted, as the server names them), so that the
// rows of a commit's records fall in as many ranges of the parties
// index.
func BenchmarkAppendPrincipals(b *testing.B) {
	for _, n := range []int{9, 1000} {
		b.Run(fmt.Sprintf("principals=%d", n), func(b *testing.B) {
			s := openTemp(b)
			defer s.Close()
			es := pouchEntries(b.N)
			for i, e := range es {
				e.Parties = []record.Handle{
					record.Handle(fmt.Sprintf("p%04d/head", i%n)),
					record.Handle(fmt.Sprintf("p%04d/head", (i*7+1)%n)),
					record.Handle(fmt.Sprintf("p%04d/envoy", (i*13+2)%n)),
				}
				slices.Sort(e.Parties)
			}
			appendConcurrently(b, s, es, 64)
		})
	}
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendClients measures the writer as pbench log drives it:
// 2,000 concurrent callers each append one 288-byte entry at a time, its
// ID random as a record's hash is, so that group commits are large and
// every ID lands at a random place of the ID index.
func BenchmarkAppendClients(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	es := make([]*store.Entry, b.N)
	for i := range es {
		es[i] = storetest.Entry(i, record.KindCosign, "ir/president")
		es[i].Signed = append(es[i].Signed, make([]byte, 288-len(es[i].Signed))...)
	}
	appendConcurrently(b, s, es, 2000)
}

// BenchmarkAppendGroups measures the writer's CPU per pouch at a fixed
// group size, apart from how the load groups them: one caller appends
// 24 entries of the HTTP shape (three parties, a 4,656-byte payload) per
// call, each call one commit, and a sequencing round (a tile and a
// checkpoint) after each, as the server's sequencer writes one about as
// often under load.
func BenchmarkAppendGroups(b *testing.B) {
	const group = 24
	s := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	es := pouchEntries(b.N)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i += group {
		n := min(group, b.N-i)
		if _, err := s.Append(ctx, es[i:i+n]); err != nil {
			b.Fatal(err)
		}
		size := uint64(i + n)
		w := int((size-1)%store.TileWidth) + 1
		r := &store.Round{OldSize: uint64(i), NewSize: size, Checkpoint: []byte("checkpoint"),
			Tiles: []store.Tile{{TileID: store.TileID{Level: 0, Index: (size - 1) / store.TileWidth}, Hashes: make([]byte, 32*w)}}}
		if err := s.Integrate(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "CPU-µs/entry")
}

// pouchEntries returns n entries of the shape the server appends for a
// pouch: a tag of three parties and a 4,656-byte payload (a sealed
// letter), each distinct.
func pouchEntries(n int) []*store.Entry {
	es := make([]*store.Entry, n)
	for i := range es {
		es[i] = storetest.Entry(i, record.KindTag, "aa/head", "bb/head", "aa/envoy")
		es[i].Signed = append(es[i].Signed, make([]byte, 200)...)
		es[i].Payload = make([]byte, 4656)
		es[i].Payload[0] = byte(i)
	}
	return es
}
