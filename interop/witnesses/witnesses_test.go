// Package witnesses tests pouch's log against third-party C2SP
// tlog-witness implementations: torchwood's litewitness and
// transparency-dev's omniwitness, at the versions pinned in go.mod. It is
// a module of its own so that the product never imports them. Its tests
// build both witnesses, run them on 127.0.0.1 with local configuration (a
// temporary folder, generated keys, an in-process ssh-agent for
// litewitness), have a pouch log (tlog.Log over store/sqlite) ask them to
// cosign, and verify what they cosigned with a C2SP tlog-policy naming
// them.
package witnesses

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/mod/sumdb/note"
	zsqlite "zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
	"pouch.dev/store/storetest"
	"pouch.dev/tlog"
)

const origin = "interop.pouch.test/log"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds litewitness and omniwitness once, from the versions this
// module pins. (torchwood's witnessctl is not built: it imports sigsum-go,
// which the Go module proxy no longer serves; configureLitewitness writes
// what its add-log and add-key would.)
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "pouch-interop-bin")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binDir+string(filepath.Separator),
			"filippo.io/torchwood/cmd/litewitness",
			"github.com/transparency-dev/witness/cmd/omniwitness")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building the witnesses: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freeAddr returns a 127.0.0.1 address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A proc is a witness process, whose output is kept for failures.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs bin and waits until addr accepts connections.
func start(t *testing.T, name, addr, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, p.out)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s:\n%s", name, addr, p.out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after 30 s:\n%s", name, addr, p.out)
		}
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// A thirdParty is a running witness: its policy name, submission URL and
// verifier key.
type thirdParty struct {
	name, url, vkey string
	p               *proc
}

// startLitewitness runs torchwood's litewitness for the log with verifier
// key logKey: a SQLite database configured as witnessctl would
// (configureLitewitness), and its Ed25519 key in an ssh-agent served by
// this test.
func startLitewitness(t *testing.T, logKey string) *thirdParty {
	bin := binaries(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "litewitness.db")
	if err := configureLitewitness(db, origin, logKey); err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	// A short socket path: Unix sockets allow about 100 bytes.
	sockDir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	sshPub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := start(t, "litewitness", addr, filepath.Join(bin, "litewitness"),
		"-db", db, "-name", "litewitness.interop.test", "-key", ssh.FingerprintSHA256(sshPub),
		"-ssh-agent", sock, "-listen", addr)
	// litewitness logs its verifier key; it must be the agent's key.
	m := regexp.MustCompile(`vkey=(\S+)`).FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("litewitness did not log its verifier key:\n%s", p.out)
	}
	want, err := cosigKey("litewitness.interop.test", priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != want {
		t.Fatalf("litewitness's verifier key is %s, want %s", m[1], want)
	}
	return &thirdParty{name: "litewitness", url: "http://" + addr, vkey: m[1], p: p}
}

// cosigKey returns the cosignature/v1 verifier key of an Ed25519 key.
func cosigKey(name string, pub ed25519.PublicKey) (string, error) {
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", err
	}
	return fnote.VKeyToCosignatureV1(vkey)
}

// startOmniwitness runs transparency-dev's omniwitness for the log with
// verifier key logKey: an extra log in its YAML configuration, a SQLite
// database, a generated note key, no metrics listener, no distributor and
// no public witness network configuration, so that it reaches nothing.
func startOmniwitness(t *testing.T, logKey string) *thirdParty {
	bin := binaries(t)
	dir := t.TempDir()
	skey, vkey, err := note.GenerateKey(rand.Reader, "omniwitness.interop.test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "witness.key")
	logsFile := filepath.Join(dir, "logs.yaml")
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("Logs:\n  - Origin: %q\n    PublicKey: %q\n    URL: http://127.0.0.1:1/\n", origin, logKey)
	if err := os.WriteFile(logsFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := start(t, "omniwitness", addr, filepath.Join(bin, "omniwitness"),
		"--listen", addr, "--metrics_listen", "", "--db_file", filepath.Join(dir, "witness.db"),
		"--private_key_path", keyFile, "--additional_logs", logsFile, "--logtostderr")
	cvkey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &thirdParty{name: "omniwitness", url: "http://" + addr, vkey: cvkey, p: p}
}

// pouchLog is an in-process pouch log over SQLite, asking ws to cosign.
func pouchLog(t *testing.T, skey string, ws []tlog.WitnessConfig) (*tlog.Log, store.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "pouch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := tlog.New(context.Background(), st, tlog.Config{Origin: origin, Key: skey, Witnesses: ws,
		RefreshInterval: -1, WitnessTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return l, st
}

var next int

func grow(t *testing.T, l *tlog.Log, st store.Store, n int) []byte {
	t.Helper()
	var es []*store.Entry
	for range n {
		es = append(es, storetest.Entry(next, record.KindStatement))
		next++
	}
	if _, err := st.Append(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Integrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp, _ := l.Checkpoint()
	return cp
}

// TestThirdPartyWitnesses: a pouch log cosigned by litewitness and
// omniwitness, verified with a policy that requires both; a refresh at
// the same size gets newer cosignatures from both; with omniwitness
// stopped, the next checkpoint fails the quorum, naming it, and the last
// good one grows stale.
func TestThirdPartyWitnesses(t *testing.T) {
	skey, logKey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	lite := startLitewitness(t, logKey)
	omni := startOmniwitness(t, logKey)
	policy := fmt.Sprintf(`# pouch's log, cosigned by two third-party witnesses
log %s
witness lite %s %s
witness omni %s %s
group both all lite omni
quorum both
`, logKey, lite.vkey, lite.url, omni.vkey, omni.url)
	p, err := tlog.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := p.WitnessConfigs()
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Verifier("")
	if err != nil {
		t.Fatal(err)
	}
	l, st := pouchLog(t, skey, ws)
	ctx := context.Background()
	prove := func(a, b uint64) ([][]byte, error) { return l.Consistency(ctx, a, b) }
	c := &tlog.Client{V: v, Dir: t.TempDir()}

	// The empty tree first, then growing rounds: every checkpoint is
	// cosigned by both.
	if n, err := l.Refresh(ctx, true); err != nil || n != 2 {
		t.Fatalf("cosigning the empty tree: %d witnesses, %v", n, err)
	}
	var cp *tlog.Checkpoint
	for _, n := range []int{1, 4, 300, 1} {
		msg := grow(t, l, st, n)
		if cp, err = c.Update(msg, prove); err != nil {
			t.Fatalf("size %d: %v\n%s", next, err, msg)
		}
		if strings.Join(cp.Cosigners, " ") != "lite omni" || cp.Size != uint64(next) {
			t.Fatalf("size %d: cosigners %v", cp.Size, cp.Cosigners)
		}
	}
	for _, c := range cp.Cosignatures {
		if d := time.Since(c.Time); d < -time.Minute || d > time.Minute {
			t.Fatalf("%s's cosignature is dated %v", c.Witness, c.Time)
		}
	}

	// A refresh at the same size: both cosign the same checkpoint again,
	// with newer timestamps (they are in seconds).
	time.Sleep(1100 * time.Millisecond)
	if n, err := l.Refresh(ctx, true); err != nil || n != 2 {
		t.Fatalf("refresh: %d witnesses, %v\nlitewitness:\n%s\nomniwitness:\n%s", n, err, lite.p.out, omni.p.out)
	}
	msg, size := l.Checkpoint()
	refreshed, err := c.Update(msg, prove)
	if err != nil {
		t.Fatal(err)
	}
	if size != cp.Size || !refreshed.FreshAsOf.After(cp.FreshAsOf) || !refreshed.SequencedBy.After(cp.SequencedBy) {
		t.Fatalf("refreshed at size %d: fresh as of %v (was %v)", size, refreshed.FreshAsOf, cp.FreshAsOf)
	}

	// A split view: another branch of the log, same key, same size,
	// another root. Both witnesses refuse it.
	l2, st2 := pouchLog(t, skey, nil)
	saved := next
	next = 1 << 20
	fork := grow(t, l2, st2, int(size))
	next = saved
	for _, w := range []*thirdParty{lite, omni} {
		_, err := tlog.AddCheckpoint(ctx, http.DefaultClient, w.url, size, nil, fork)
		var conflict *tlog.WitnessConflictError
		if !errors.Is(err, tlog.ErrWitnessRefused) && !errors.As(err, &conflict) {
			t.Errorf("%s given a fork at the size it cosigned: %v, want a refusal", w.name, err)
		}
		t.Logf("%s refused the fork: %v", w.name, err)
	}

	// omniwitness stops: the next checkpoint has lite's cosignature
	// only, and the client refuses it, naming omni.
	omni.p.stop()
	msg = grow(t, l, st, 2)
	_, err = c.Update(msg, prove)
	var qe *tlog.QuorumError
	if !errors.Is(err, tlog.ErrNoQuorum) || !errors.As(err, &qe) || strings.Join(qe.Missing, " ") != "omni" {
		t.Fatalf("checkpoint without omniwitness's cosignature: %v, want ErrNoQuorum naming omni", err)
	}
	if !strings.Contains(err.Error(), "no cosignature from omni") {
		t.Fatalf("the error does not name omni: %v", err)
	}
	// The refreshed checkpoint, seen an hour and a minute later, is stale.
	late := &tlog.Client{V: v, Now: func() time.Time { return time.Now().Add(61 * time.Minute) }}
	if _, err := late.Update(refreshed.Note, nil); !errors.Is(err, tlog.ErrStale) {
		t.Fatalf("a checkpoint cosigned 61 minutes ago: %v, want ErrStale", err)
	}
}

// TestLitewitnessOrigin: litewitness, like pouch witness, keeps one
// history per origin; a second log with the same origin and another key
// is not cosigned.
func TestLitewitnessOrigin(t *testing.T) {
	skey, logKey, _ := note.GenerateKey(rand.Reader, origin)
	other, _, _ := note.GenerateKey(rand.Reader, origin)
	lite := startLitewitness(t, logKey)
	ws := []tlog.WitnessConfig{{URL: lite.url, Key: lite.vkey}}
	l, st := pouchLog(t, skey, ws)
	v, _ := tlog.NewVerifier(logKey, []string{lite.vkey}, 1)
	if _, err := v.Open(grow(t, l, st, 3)); err != nil {
		t.Fatal(err)
	}
	l2, st2 := pouchLog(t, other, nil)
	msg := grow(t, l2, st2, 5)
	_, err := tlog.AddCheckpoint(context.Background(), http.DefaultClient, lite.url, 0, nil, msg)
	if !errors.Is(err, tlog.ErrWitnessRefused) {
		t.Fatalf("litewitness given a checkpoint of another key for the same origin: %v, want a refusal", err)
	}
}

// configureLitewitness does what torchwood's `witnessctl add-log` and
// `witnessctl add-key` do (torchwood v0.9.0, cmd/witnessctl): litewitness's
// schema, the log at the empty tree, and its verifier key. It writes with
// the SQLite driver litewitness itself uses.
func configureLitewitness(path, origin, vkey string) error {
	db, err := zsqlite.OpenConn(path, 0)
	if err != nil {
		return fmt.Errorf("opening litewitness's database: %v", err)
	}
	defer db.Close()
	empty := sha256.Sum256(nil) // RFC 6962: the hash of the empty tree
	if err := sqlitex.ExecScript(db, `
		PRAGMA strict_types = ON;
		PRAGMA foreign_keys = ON;
		CREATE TABLE IF NOT EXISTS log (
			origin TEXT PRIMARY KEY,
			tree_size INTEGER NOT NULL,
			tree_hash TEXT NOT NULL -- base64-encoded
		);
		CREATE TABLE IF NOT EXISTS key (
			origin TEXT NOT NULL,
			key TEXT NOT NULL, -- note verifier key
			FOREIGN KEY(origin) REFERENCES log(origin)
		);
		CREATE TABLE IF NOT EXISTS bastion (
			origin TEXT NOT NULL,
			bastion TEXT NOT NULL, -- addr:port
			FOREIGN KEY(origin) REFERENCES log(origin)
		);
	`); err != nil {
		return fmt.Errorf("litewitness's schema: %v", err)
	}
	if err := sqlitex.Execute(db, "INSERT INTO log (origin, tree_size, tree_hash) VALUES (?, 0, ?)",
		&sqlitex.ExecOptions{Args: []any{origin, base64.StdEncoding.EncodeToString(empty[:])}}); err != nil {
		return fmt.Errorf("adding the log to litewitness: %v", err)
	}
	if err := sqlitex.Execute(db, "INSERT INTO key (origin, key) VALUES (?, ?)",
		&sqlitex.ExecOptions{Args: []any{origin, vkey}}); err != nil {
		return fmt.Errorf("adding the log's key to litewitness: %v", err)
	}
	return nil
}
