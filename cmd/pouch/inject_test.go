package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/store"
)

// TestInjectedStorageErrors (issue 10, finding 8) runs pouch serve under
// strace, which makes the store's writes (pwrite64) or syncs (fsync) of
// its database files fail with EIO or ENOSPC for a window of calls, while
// clients write: every operation is either durable and acknowledged or
// not acknowledged; a refusal is a 507 or 503 with Retry-After and the
// codes storage-full or storage-error, never a 500; and once the window
// has passed the server takes writes again and its sequencer catches up,
// with no restart. The windows start at several points, so that each
// kind of write (WAL frames, the WAL header, the database file in a
// checkpoint, their syncs) is hit. strace counts calls per thread, so a
// window of calls N..M fails the N-th to M-th call of each thread.
// POUCH_LONG=1 tries more windows.
func TestInjectedStorageErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary under strace")
	}
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace is not installed (apt-get install strace; .ci/run installs it): the store's write and sync errors cannot be injected")
	}
	type fault struct{ call, errno string }
	faults := []fault{{"pwrite64", "EIO"}, {"pwrite64", "ENOSPC"}, {"fsync", "EIO"}, {"fsync", "ENOSPC"}}
	starts := map[fault][]int{faults[0]: {20}, faults[1]: {60}, faults[2]: {5}, faults[3]: {20}}
	if os.Getenv("POUCH_LONG") == "1" {
		for _, f := range faults {
			starts[f] = []int{5, 15, 30, 60, 100, 200, 400}
			if f.call == "fsync" {
				starts[f] = []int{2, 5, 10, 20, 40, 80}
			}
		}
	}
	bin := servingBinary(t)
	data := t.TempDir()
	srv := startServeOpts(t, bin, serveOpts{data: data})
	vkey := logKey(t, srv.url)
	_, stKey, _ := ed25519.GenerateKey(nil)
	admitForTest(t, srv.url, "ru/president", stKey)
	sender, addressee := admitPair(t, srv.url, "ir/leader", "ir/fm")
	srv.stop()
	letters := [][]byte{[]byte(strings.Repeat("Strong and strategic. ", 100)), []byte(strings.Repeat("Strong and strategic. ", 60_000))}
	db := filepath.Join(data, "pouch.db")

	var (
		mu       sync.Mutex
		acks     []ackedRecord
		cps      [][]byte
		n        int
		injected = map[string]int{}
		refused  = map[int]int{}
	)
	for _, f := range faults {
		for _, k := range starts[f] {
			name := fmt.Sprintf("%s:%s@%d", f.call, f.errno, k)
			width := 40
			if f.call == "fsync" {
				width = 8
			}
			traceOut := filepath.Join(t.TempDir(), "strace.txt")
			wrap := []string{"strace", "-f", "-qq", "--seccomp-bpf", "-o", traceOut,
				"-e", "trace=" + f.call,
				"-e", fmt.Sprintf("inject=%s:error=%s:when=%d..%d", f.call, f.errno, k, k+width),
				"-P", db, "-P", db + "-wal"}
			srv, err := launchServe(t, bin, serveOpts{data: data, wrap: wrap})
			if err != nil {
				// The fault hit the store as it opened: it refused to
				// start, which is right; nothing to write through.
				t.Logf("%s: the server refused to start on the failing disk", name)
				injected[f.call+":"+f.errno]++
				continue
			}
			c := client.New(srv.url)
			wrong := 0 // refusals that are not 503 or 507 with a storage code
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for ctx.Err() == nil {
						mu.Lock()
						n++
						i := n
						mu.Unlock()
						var a ackedRecord
						var err error
						if w < 3 {
							a, err = postStatement(ctx, c, stKey, i)
						} else {
							a, err = postPouch(ctx, c, sender, addressee, letters[i%2])
						}
						mu.Lock()
						if err == nil {
							acks = append(acks, a)
						} else if ce := (*client.Error)(nil); errors.As(err, &ce) {
							refused[ce.Status]++
							if ce.Status == 500 || (ce.Status >= 500 && !errors.Is(err, store.ErrFull) && !errors.Is(err, store.ErrIO) && !errors.Is(err, api.ErrBusy)) {
								if wrong++; wrong == 1 {
									t.Errorf("%s: a write refused with %d, code %q: %v", name, ce.Status, ce.Code, err)
								}
							}
						}
						mu.Unlock()
					}
				})
			}
			wg.Go(func() {
				for ctx.Err() == nil {
					if cp, err := httpGet(ctx, srv.url+"/checkpoint"); err == nil {
						mu.Lock()
						cps = append(cps, cp)
						mu.Unlock()
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
			wg.Wait()
			cancel()
			// The window has passed: writes go through again, and the
			// sequencer covers everything acknowledged, with no restart.
			recovered(t, name, srv.url, c, stKey, acks)
			srv.stop()
			if b, err := os.ReadFile(traceOut); err == nil && strings.Contains(string(b), "(INJECTED)") {
				injected[f.call+":"+f.errno]++
			}
			if err := integrityCheck(db); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	for _, f := range faults {
		if injected[f.call+":"+f.errno] == 0 {
			t.Errorf("no %s error was injected into %s", f.errno, f.call)
		}
	}
	srv = startServeOpts(t, bin, serveOpts{data: data})
	defer srv.stop()
	checkAfterCrashes(t, srv.url, vkey, acks, cps, addressee)
	t.Logf("faults injected %v; writes refused by status %v; %d acknowledged records all durable", injected, refused, len(acks))
}

// recovered checks that the server takes a write again within 15 s and
// that its checkpoint then covers every acknowledged record.
func recovered(t *testing.T, name, url string, c *client.Client, key ed25519.PrivateKey, acks []ackedRecord) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if _, err = postStatement(ctx, c, key, int(time.Now().UnixNano())); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: the server does not take writes once the disk works again: %v", name, err)
	}
	var maxIndex uint64
	for _, a := range acks {
		maxIndex = max(maxIndex, a.index)
	}
	for {
		var size uint64
		if cp, err := httpGet(ctx, url+"/checkpoint"); err == nil {
			if lines := strings.SplitN(string(cp), "\n", 3); len(lines) == 3 {
				size, _ = strconv.ParseUint(lines[1], 10, 64)
			}
		}
		if size > maxIndex {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the checkpoint stays at %d leaves; acknowledged records reach %d: the sequencer did not recover", name, size, maxIndex)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
