package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// runFloor measures what any Go HTTP server costs on this machine, the
// floor under pouch's HTTP figures: a server process of its own (this
// program, as "pbench floor-serve") whose handler reads the request's
// body and answers 201 with a short body, nothing verified or stored; and
// a load generator here posting -size bytes from -workers clients over
// keep-alive connections, as pouch bench does.
//
// Two phases of -n requests each, as pouch bench's: at saturation (every
// client sends its next request when the last is answered), for the
// server's CPU per request: the least a request costs a Go server here,
// since a busy server takes several requests per wake-up; then open loop
// at half of -rate (pouch's rate at saturation in the same round), for the
// latency at the half load pouch is measured at.
//
// With -durable, the server answers only once the body is on disk: its
// handler hands the body to one writer goroutine, which writes every body
// waiting into a file with one pwrite and one fdatasync (group commit, as
// pouch's store does) before the answers go. That is the least any server
// whose acknowledgement means "stored" does here, so its latency at half
// load carries the disk's own stalls, which the bare floor never meets.
// The file is in the temporary folder ($TMPDIR), where bench/run keeps
// pouch's store. It prints BenchmarkHTTPFloorDurable instead of
// BenchmarkHTTPFloor.
//
// With -nice, the load generator (this process) lowers its priority once
// its server has started, as bench/run runs every load generator with
// POUCH_BENCH_LOAD_NICE.
func runFloor(args []string) error {
	fs := flags("floor")
	rate := fs.Float64("rate", 3000, "pouch's rate at saturation, in requests per `second`: the second phase runs at half")
	size := fs.Int("size", 5028, "request body `bytes` (a pouch's)")
	workers := fs.Int("workers", 64, "concurrent clients")
	n := fs.Int("n", 20000, "requests per phase")
	durable := fs.Bool("durable", false, "answer once the body is written and fdatasync'd (group commit)")
	nice := fs.Int("nice", 0, "once its server has started, run this load generator at this nice `value` (lowerPriority); 0 leaves it")
	fs.Parse(args)
	if *rate <= 0 || *size < 0 || *workers < 1 || *n < 1 {
		return errors.New("-rate, -workers and -n must be positive, -size not negative")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Duration(float64(*n)*2 / *rate * float64(time.Second))+time.Minute)
	defer cancel()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	name, serveArgs := "HTTPFloor", []string{"floor-serve"}
	if *durable {
		dir, err := os.MkdirTemp("", "pbench-floor-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		name, serveArgs = "HTTPFloorDurable", append(serveArgs, "-fsync", filepath.Join(dir, "bodies"))
	}
	srv := exec.CommandContext(ctx, exe, serveArgs...)
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("the floor server did not start: %w", err)
	}
	url := "http://" + strings.TrimSpace(addr) + "/"
	if *nice > 0 {
		if err := lowerPriority(*nice); err != nil {
			return err
		}
	}

	body := make([]byte, *size)
	rand.Read(body)
	cl := &http.Client{Transport: &http.Transport{MaxIdleConns: *workers * 2, MaxIdleConnsPerHost: *workers * 2}}
	post := func() error {
		resp, err := cl.Post(url, "application/cbor", bytes.NewReader(body))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusCreated {
			err = fmt.Errorf("status %s", resp.Status)
		}
		return err
	}
	// phase sends count requests at r a second, open loop, or as fast as
	// the server answers if r is 0, and returns their latencies, the
	// server's CPU over the phase and how long it took.
	phase := func(count int, r float64) ([]time.Duration, time.Duration, time.Duration, error) {
		cpu0, err := procCPU(srv.Process.Pid)
		if err != nil {
			return nil, 0, 0, err
		}
		lat := make([]time.Duration, count)
		jobs := make(chan int, *workers)
		var failed atomic.Int64
		var first atomic.Value
		var wg sync.WaitGroup
		for range *workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					t0 := time.Now()
					if err := post(); err != nil {
						failed.Add(1)
						first.CompareAndSwap(nil, err)
						continue
					}
					lat[i] = time.Since(t0)
				}
			}()
		}
		start := time.Now()
	send:
		for i := range count {
			if r > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(float64(i) / r * float64(time.Second)))))
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				break send
			}
		}
		close(jobs)
		wg.Wait()
		el := time.Since(start)
		if err := ctx.Err(); err != nil {
			return nil, 0, 0, fmt.Errorf("%d requests not sent in time: %w", count, err)
		}
		if f := failed.Load(); f > 0 {
			return nil, 0, 0, fmt.Errorf("%d of %d requests failed: %v", f, count, first.Load())
		}
		cpu1, err := procCPU(srv.Process.Pid)
		return lat, cpu1 - cpu0, el, err
	}

	// Warm the connections and the server up first.
	if _, _, _, err := phase(min(*n, 4**workers), 0); err != nil {
		return err
	}
	_, cpu, el, err := phase(*n, 0)
	if err != nil {
		return err
	}
	lat, _, _, err := phase(*n, *rate/2)
	if err != nil {
		return err
	}
	p50, p99, _ := quantiles(lat)
	emit(name, float64(*n)/el.Seconds(), "req/s", float64(cpu.Microseconds())/float64(*n), "server-CPU-µs/req",
		*rate/2, "half-offered/s", p50, "half-p50-ms", p99, "half-p99-ms", *size, "B/req")
	return nil
}

// runFloorServe is the floor's server: it prints the address it listens
// on and serves until killed. With -fsync FILE, every body is written to
// FILE and fdatasync'd before its answer (runFloor -durable).
func runFloorServe(args []string) error {
	fs := flags("floor-serve")
	path := fs.String("fsync", "", "write each body to `FILE`, fdatasync'd, before answering")
	fs.Parse(args)
	var store func([]byte) error
	if *path != "" {
		gc, err := newGroupCommit(*path)
		if err != nil {
			return err
		}
		store = gc.write
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	ack := bytes.Repeat([]byte{'a'}, 128)
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if store == nil {
			_, err = io.Copy(io.Discard, r.Body)
		} else {
			var b []byte
			if b, err = io.ReadAll(r.Body); err == nil {
				err = store(b)
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/cbor")
		w.WriteHeader(http.StatusCreated)
		w.Write(ack)
	}))
}

// A groupCommit writes bodies to a file from one goroutine: each time it
// takes every body waiting, writes them with one pwrite and makes them
// durable with one fdatasync, and only then lets their writers go. The
// file is a ring of groupCommitSize bytes written over in place, as a
// database rewrites its WAL, so that a long run does not fill the disk.
type groupCommit struct {
	f    *os.File
	reqs chan *gcReq
}

type gcReq struct {
	b    []byte
	done chan error
}

// groupCommitSize is the length of the ring file.
const groupCommitSize = 64 << 20

func newGroupCommit(path string) (*groupCommit, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	gc := &groupCommit{f: f, reqs: make(chan *gcReq, 4096)}
	go gc.writer()
	return gc, nil
}

// write returns once b is durable.
func (gc *groupCommit) write(b []byte) error {
	r := &gcReq{b: b, done: make(chan error, 1)}
	gc.reqs <- r
	return <-r.done
}

func (gc *groupCommit) writer() {
	var off int64
	var buf []byte
	for first := range gc.reqs {
		batch := []*gcReq{first}
	drain:
		for {
			select {
			case r := <-gc.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		buf = buf[:0]
		for _, r := range batch {
			buf = append(buf, r.b...)
		}
		if off+int64(len(buf)) > groupCommitSize {
			off = 0
		}
		_, err := gc.f.WriteAt(buf, off)
		if err == nil {
			err = syscall.Fdatasync(int(gc.f.Fd()))
		}
		off += int64(len(buf))
		for _, r := range batch {
			r.done <- err
		}
	}
}
