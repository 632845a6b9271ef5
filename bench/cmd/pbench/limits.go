package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"filippo.io/age"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	zeebo "github.com/zeebo/blake3"
	luke "lukechampine.com/blake3"
	_ "modernc.org/sqlite"

	"pouch.dev/record"
)

// perOp runs fn on one goroutine, locked to its thread, for about d of
// wall time and returns the thread's CPU time per call: on a machine
// shared with other work (this one is), what a call costs a core,
// whatever else the core was doing meanwhile.
func perOp(d time.Duration, fn func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fn() // warm up
	n := 0
	start := time.Now()
	c0 := threadCPU()
	for time.Since(start) < d || n == 0 {
		fn()
		n++
	}
	return (threadCPU() - c0) / time.Duration(n)
}

// threadCPU returns the CPU time, user and system, of the calling thread.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD, Linux
	var ru syscall.Rusage
	syscall.Getrusage(rusageThread, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parallelRate runs fn on every core for d and returns calls per second.
func parallelRate(d time.Duration, fn func()) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				fn()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// runLimits measures what the machine can do at most, the limits that bind
// pouch's figures: an Ed25519 verification per core (crypto/ed25519,
// curve25519-voi, record.VerifyEd25519), one fsync, SQLite's batched
// insert, and SHA-256's and age's throughput per core.
func runLimits(args []string) error {
	fs := flags("limits")
	d := fs.Duration("d", 2*time.Second, "time per measurement")
	fs.Parse(args)

	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := record.SignedMessage(record.KindCosign, make([]byte, 240))
	sig := ed25519.Sign(priv, msg)
	for _, v := range []struct {
		name string
		fn   func() bool
	}{
		{"crypto-ed25519", func() bool { return ed25519.Verify(pub, msg, sig) }},
		{"voi-stdlib", func() bool {
			return voi.VerifyWithOptions([]byte(pub), msg, sig, &voi.Options{Verify: voi.VerifyOptionsStdLib})
		}},
		{"record.VerifyEd25519", func() bool { return record.VerifyEd25519(pub, msg, sig) }},
	} {
		if !v.fn() {
			return fmt.Errorf("%s refuses a valid signature", v.name)
		}
		t := perOp(*d, func() { v.fn() })
		all := parallelRate(*d/2, func() { v.fn() })
		emit("LimitEd25519Verify/verifier="+v.name, float64(t.Nanoseconds())/1e3, "µs/op", 1e9/float64(t.Nanoseconds()), "verify/s/core", all, "verify/s/all-cores")
	}

	// One fsync of a 4 KiB write, in the folder the stores use.
	f, err := os.CreateTemp("", "pbench-fsync-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	page := make([]byte, 4096)
	var lat []time.Duration
	// The CPU of the loop's thread: on a virtual machine an fsync costs
	// the caller much more than its write (the flush of the disk's cache).
	runtime.LockOSThread()
	c0 := threadCPU()
	for start := time.Now(); time.Since(start) < *d; {
		t0 := time.Now()
		if _, err := f.Write(page); err != nil {
			runtime.UnlockOSThread()
			return err
		}
		if err := f.Sync(); err != nil {
			runtime.UnlockOSThread()
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	cpu := (threadCPU() - c0) / time.Duration(len(lat))
	runtime.UnlockOSThread()
	// The slowest says whether the disk stalls now and then, as some
	// virtual disks do for tens or hundreds of milliseconds: every durable
	// acknowledgement meets such a stall, whatever the server.
	p50, p99, slowest := quantiles(lat)
	emit("LimitFsync", p50*1000, "p50-µs", p99*1000, "p99-µs", slowest, "max-ms", float64(len(lat))/d.Seconds(), "fsync/s", float64(cpu.Nanoseconds())/1e3, "CPU-µs/fsync")

	// A WAL frame as SQLite writes one: a 24-byte header and a 4 KiB page,
	// two pwrites, into the page cache (no fsync), over a 16 MiB file
	// written once beforehand, as SQLite rewrites its WAL in place.
	const frames = 16 << 20 / (24 + 4096)
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(make([]byte, frames*(24+4096)), 0); err != nil {
		return err
	}
	hdr, i := make([]byte, 24), 0
	var ferr error
	t := perOp(*d/2, func() {
		off := int64(i%frames) * (24 + 4096)
		i++
		if _, err := f.WriteAt(hdr, off); err != nil {
			ferr = err
		}
		if _, err := f.WriteAt(page, off+24); err != nil {
			ferr = err
		}
	})
	f.Close()
	if ferr != nil {
		return ferr
	}
	emit("LimitWALFrame", float64(t.Nanoseconds())/1e3, "CPU-µs/frame", 1e9/float64(t.Nanoseconds()), "frames/s/core")

	if err := sqliteLimit(*d); err != nil {
		return err
	}

	// Throughput per core over 64 MiB.
	buf := make([]byte, 64<<20)
	rand.Read(buf)
	mbps := func(t time.Duration) float64 { return float64(len(buf)) / t.Seconds() / 1e6 }
	emit("LimitHash/hash=sha256", mbps(perOp(*d, func() { sha256.Sum256(buf) })), "MB/s/core")
	emit("LimitHash/hash=blake3-zeebo", mbps(perOp(*d, func() { zeebo.Sum256(buf) })), "MB/s/core")
	// SHA-256 over two halves on two goroutines (a tree of two leaves):
	// the most a commitment made of SHA-256 can reach on this machine.
	// On both cores, in wall time (the best of the runs: what the
	// machine gives with its cores free): a tree of two SHA-256 leaves,
	// and lukechampine.com/blake3, which hashes a large input on every
	// core itself.
	best := func(fn func()) time.Duration {
		fn()
		b := time.Duration(math.MaxInt64)
		for start := time.Now(); time.Since(start) < *d; {
			t0 := time.Now()
			fn()
			b = min(b, time.Since(t0))
		}
		return b
	}
	emit("LimitHash/hash=sha256-2way", mbps(best(func() {
		var wg sync.WaitGroup
		var h [2][32]byte
		for i := range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); h[i] = sha256.Sum256(buf[i*len(buf)/2 : (i+1)*len(buf)/2]) }()
		}
		wg.Wait()
		sha256.Sum256(append(h[0][:], h[1][:]...))
	})), "MB/s/all-cores")
	emit("LimitHash/hash=blake3-lukechampine", mbps(best(func() { luke.Sum256(buf) })), "MB/s/all-cores")
	// Its cost per core: the process's CPU time, all its goroutines.
	luke.Sum256(buf)
	n, c0 := 0, cpuTime()
	for start := time.Now(); time.Since(start) < *d || n == 0; n++ {
		luke.Sum256(buf)
	}
	emit("LimitHash/hash=blake3-lukechampine-cpu", float64(len(buf))*float64(n)/(cpuTime()-c0).Seconds()/1e6, "MB/s/core")

	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return err
	}
	var sealed bytes.Buffer
	enc := func(dst io.Writer) {
		w, err := age.Encrypt(dst, id.Recipient())
		if err != nil {
			panic(err)
		}
		w.Write(buf)
		w.Close()
	}
	enc(&sealed)
	emit("LimitAge/op=encrypt", mbps(perOp(*d, func() { enc(io.Discard) })), "MB/s/core")
	emit("LimitAge/op=decrypt", mbps(perOp(*d, func() {
		r, err := age.Decrypt(bytes.NewReader(sealed.Bytes()), id)
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, r)
	})), "MB/s/core")
	return nil
}

// sqliteLimit measures SQLite's batched insert as pouch's store makes it:
// WAL, synchronous=FULL, one transaction of 1,000 rows (a 32-byte key, a
// 288-byte record) at a time, one connection.
func sqliteLimit(d time.Duration) error {
	dir, err := os.MkdirTemp("", "pbench-sqlite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "t.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (id BLOB PRIMARY KEY, rec BLOB NOT NULL) WITHOUT ROWID`); err != nil {
		return err
	}
	const batch = 1000
	rec := make([]byte, 288)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		st, err := tx.Prepare(`INSERT INTO t (id, rec) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		for range batch {
			var id [32]byte
			rand.Read(id[:])
			if _, err := st.Exec(id[:], rec); err != nil {
				return err
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
		n += batch
	}
	emit("LimitSQLiteInsert/batch=1000", float64(n)/time.Since(start).Seconds(), "rows/s")
	return nil
}
