package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestMain lets the test binary be the floor's server, as pbench is to
// runFloor: it starts os.Executable() with "floor-serve".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "floor-serve" {
		if err := runFloorServe(os.Args[2:]); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// TestFloor runs pbench floor against its real server process on
// loopback, bare and durable, and reads back the result line it prints.
func TestFloor(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"BenchmarkHTTPFloor", nil},
		{"BenchmarkHTTPFloorDurable", []string{"-durable"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := floorLine(t, c.name, append([]string{"-rate", "2000", "-size", "777", "-n", "300", "-workers", "8"}, c.args...))
			if got["half-offered/s"] != 1000 || got["B/req"] != 777 {
				t.Errorf("half-offered/s %v, B/req %v; want 1000 and 777", got["half-offered/s"], got["B/req"])
			}
			if got["req/s"] <= 0 || got["half-p50-ms"] <= 0 || got["half-p99-ms"] < got["half-p50-ms"] {
				t.Errorf("req/s %v, half-load p50 %v ms, p99 %v ms", got["req/s"], got["half-p50-ms"], got["half-p99-ms"])
			}
			if _, ok := got["server-CPU-µs/req"]; !ok {
				t.Errorf("no server-CPU-µs/req in %v", got)
			}
		})
	}
}

// floorLine runs runFloor with args and returns the figures of the line
// it prints, which must be name's.
func floorLine(t *testing.T, name string, args []string) map[string]float64 {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	err = runFloor(args)
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || f[0] != name {
		t.Fatalf("printed %q, not a %s line", out, name)
	}
	got := map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			t.Fatalf("%q: %v", f[i], err)
		}
		got[f[i+1]] = v
	}
	return got
}

// TestGroupCommit checks the durable floor's writer: bodies written from
// many goroutines are all in the file once their writes return, and the
// ring starts over at its end rather than growing the file.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bodies")
	gc, err := newGroupCommit(path)
	if err != nil {
		t.Fatal(err)
	}
	body := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i) }
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := gc.write(body(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 64 {
		if !bytes.Contains(b, body(i)) {
			t.Fatalf("body %d (%d bytes) is not in the file", i, len(body(i)))
		}
	}
	// Past the ring's end the next batch is written at its start.
	big := bytes.Repeat([]byte{'z'}, groupCommitSize/2)
	for range 3 {
		if err := gc.write(big); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > groupCommitSize {
		t.Errorf("the ring file grew to %d bytes, more than its %d", fi.Size(), groupCommitSize)
	}
}

// TestFloorRefusesNonsense checks the flags are checked before anything
// starts.
func TestFloorRefusesNonsense(t *testing.T) {
	if err := runFloor([]string{"-rate", "0"}); err == nil || !strings.Contains(err.Error(), "-rate") {
		t.Errorf("runFloor -rate 0: %v", err)
	}
}
