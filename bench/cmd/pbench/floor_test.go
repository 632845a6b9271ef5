package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestMain lets the test binary be the floor's server, as pbench is to
// runFloor: it starts os.Executable() with "floor-serve".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "floor-serve" {
		if err := runFloorServe(nil); err != nil {
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// TestFloor runs pbench floor against its real server process on
// loopback and reads back the result line it prints.
func TestFloor(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	err = runFloor([]string{"-rate", "2000", "-size", "777", "-n", "300", "-workers", "8"})
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || f[0] != "BenchmarkHTTPFloor" {
		t.Fatalf("printed %q, not a BenchmarkHTTPFloor line", out)
	}
	got := map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			t.Fatalf("%q: %v", f[i], err)
		}
		got[f[i+1]] = v
	}
	if got["half-offered/s"] != 1000 || got["B/req"] != 777 {
		t.Errorf("half-offered/s %v, B/req %v; want 1000 and 777", got["half-offered/s"], got["B/req"])
	}
	if got["req/s"] <= 0 || got["half-p50-ms"] <= 0 || got["half-p99-ms"] < got["half-p50-ms"] {
		t.Errorf("req/s %v, half-load p50 %v ms, p99 %v ms", got["req/s"], got["half-p50-ms"], got["half-p99-ms"])
	}
	if _, ok := got["server-CPU-µs/req"]; !ok {
		t.Errorf("no server-CPU-µs/req in %q", out)
	}
}

// TestFloorRefusesNonsense checks the flags are checked before anything
// starts.
func TestFloorRefusesNonsense(t *testing.T) {
	if err := runFloor([]string{"-rate", "0"}); err == nil || !strings.Contains(err.Error(), "-rate") {
		t.Errorf("runFloor -rate 0: %v", err)
	}
}
