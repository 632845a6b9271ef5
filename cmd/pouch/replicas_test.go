package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/internal/pgtest"
	"pouch.dev/record"
)

// leadMessage is what pouch serve logs when it takes the sequencer's lead.
const leadMessage = "sequencing: this replica holds the lead"

// A replicaProc is one pouch serve process over a shared database.
type replicaProc struct {
	cmd  *exec.Cmd
	url  string
	data string
}

// replicaCluster starts pouch serve processes over one database and
// tells which took the lead, and when.
type replicaCluster struct {
	t     *testing.T
	bin   string
	dsn   string
	leads chan leadEvent
}

type leadEvent struct {
	p  *replicaProc
	at time.Time
}

// start runs pouch serve --db on a free loopback port with data folder
// data, and waits for the address it prints.
func (c *replicaCluster) start(data string) *replicaProc {
	t := c.t
	t.Helper()
	cmd := exec.Command(c.bin, "serve", "--open", "--data", data, "--db", c.dsn, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "POUCH_HOME="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &replicaProc{cmd: cmd, data: data}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.cmd.Wait()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := servingRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			if strings.Contains(line, leadMessage) {
				c.leads <- leadEvent{p, time.Now()}
			}
		}
	}()
	select {
	case p.url = <-found:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("pouch serve did not print its address")
		return nil
	}
}

// copyKeys gives data folder to the keys of data folder from: the log's
// signing key (every replica that may sequence signs with it) and the
// evidence office's.
func copyKeys(t *testing.T, from, to string) {
	t.Helper()
	for _, f := range []string{"log.key", "evidence.key"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplicasKill9Postgres: three pouch serve processes over one
// PostgreSQL database take statements under load, each through any
// replica; the sequencing replica is killed with SIGKILL, repeatedly.
// Another replica takes the lead within 5 s each time, no acknowledged
// record is lost, and every checkpoint any replica served is consistent
// with the last: no fork.
func TestReplicasKill9Postgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	dsn := pgtest.DB(t)
	c := &replicaCluster{t: t, bin: buildPouch(t), dsn: dsn, leads: make(chan leadEvent, 64)}
	var procs []*replicaProc
	first := c.start(t.TempDir())
	procs = append(procs, first)
	for range 2 {
		d := t.TempDir()
		copyKeys(t, first.data, d)
		procs = append(procs, c.start(d))
	}
	vkey := logKey(t, first.url)
	_, key, _ := ed25519.GenerateKey(nil)
	admitForTest(t, first.url, "ru/president", key)

	var leader *replicaProc
	select {
	case e := <-c.leads:
		leader = e.p
	case <-time.After(10 * time.Second):
		t.Fatal("no replica took the lead")
	}

	var (
		mu    sync.Mutex
		live  = map[*replicaProc]bool{procs[0]: true, procs[1]: true, procs[2]: true}
		all   []acked
		seen  [][]byte
		n     int
		takes []time.Duration
	)
	pick := func(i int) *replicaProc {
		mu.Lock()
		defer mu.Unlock()
		for k := range 3 {
			if p := procs[(i+k)%3]; live[p] {
				return p
			}
		}
		return nil
	}
	rounds := 3
	if os.Getenv("POUCH_LONG") != "" {
		rounds = 10
	}
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for i := w; ctx.Err() == nil; i++ {
					p := pick(i)
					mu.Lock()
					n++
					k := n
					mu.Unlock()
					r := &record.Record{Kind: record.KindStatement, By: []record.Handle{"ru/president"}, Time: record.Now()}
					body := &agreement.Statement{Title: fmt.Sprintf("replicas kill -9, record %d", k),
						Text: agreement.Digest([]byte("kill -9")), Opened: agreement.DateOf(time.Now())}
					s, err := record.Sign(r, body, key)
					if err != nil {
						t.Error(err)
						return
					}
					actx, acancel := context.WithTimeout(ctx, 10*time.Second)
					a, err := postRecord(actx, p.url, s.Marshal())
					acancel()
					if err != nil {
						continue // killed, or refused while it died
					}
					mu.Lock()
					all = append(all, acked{a.ID, a.Index, a.Time})
					mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if cp, err := httpGet(ctx, pick(i).url+"/checkpoint"); err == nil {
					mu.Lock()
					seen = append(seen, cp)
					mu.Unlock()
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
		time.Sleep(700 * time.Millisecond)
		mu.Lock()
		before := len(all)
		live[leader] = false
		mu.Unlock()
		killed := time.Now()
		leader.cmd.Process.Signal(syscall.SIGKILL)
		leader.cmd.Wait()
		var next leadEvent
		for next.p == nil || next.p == leader {
			select {
			case next = <-c.leads:
			case <-time.After(5*time.Second - time.Since(killed)):
				t.Fatalf("round %d: no replica took the lead within 5 s of the sequencer's kill -9", round)
			}
		}
		took := next.at.Sub(killed)
		takes = append(takes, took)
		// The load goes on through the others for a while.
		time.Sleep(500 * time.Millisecond)
		cancel()
		wg.Wait()
		mu.Lock()
		t.Logf("round %d: new sequencer %s after %v; %d records acknowledged, %d checkpoints seen", round, next.p.url, took.Round(time.Millisecond), len(all), len(seen))
		if len(all) == before {
			t.Errorf("round %d: no record acknowledged after the kill", round)
		}
		mu.Unlock()
		// The killed replica comes back, on its data folder.
		i := 0
		for procs[i] != leader {
			i++
		}
		procs[i] = c.start(leader.data)
		mu.Lock()
		live[procs[i]] = true
		mu.Unlock()
		leader = next.p
	}

	// Check through a replica: every acknowledged record at its index;
	// every checkpoint seen consistent with the final one.
	p := pick(0)
	final, _, _ := checkAcknowledged(t, p.url, vkey, all, seen)
	var worst time.Duration
	for _, d := range takes {
		worst = max(worst, d)
	}
	t.Logf("%d acknowledged records all present after %d kills of the sequencer; %d checkpoints consistent with size %d; takeover %v, worst %v",
		len(all), rounds, len(seen), final.Size, takes, worst)
}
