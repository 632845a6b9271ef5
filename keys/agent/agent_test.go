//go:build linux

package agent

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// startAgent runs an agent on a socket in a fresh folder and returns it
// with a client. The agent is stopped when the test ends, and Serve must
// then have returned nil.
func startAgent(t *testing.T, timeout time.Duration, opts ...Option) (*Agent, *Client) {
	t.Helper()
	a, err := New(timeout, opts...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent", "sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(l) }()
	t.Cleanup(func() {
		a.Stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Stop")
		}
	})
	return a, &Client{Path: path, Timeout: 10 * time.Second}
}

func generate(t *testing.T, h record.Handle) *keys.Principal {
	t.Helper()
	p, err := keys.Generate(h)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The keys unlocked in the agent sign and open as the principal: a record
// signature verifies with the principal's public key, and a letter sealed
// by one agent-held principal to another opens with the addressee's
// agent-held identity. The client process never holds a private key.
func TestRoundTrip(t *testing.T) {
	_, c := startAgent(t, 0)
	leader, president := generate(t, "ir/leader"), generate(t, "ru/president")
	for _, p := range []*keys.Principal{leader, president} {
		if err := c.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	st, held, err := c.List()
	if err != nil || st.PID != os.Getpid() || st.Timeout != DefaultTimeout.Milliseconds() || len(held) != 2 ||
		held[0].Handle != "ir/leader" || !bytes.Equal(held[0].Ed25519, leader.SigningPublic()) || held[1].Age != president.Public().Age {
		t.Fatalf("list: %+v %+v %v", st, held, err)
	}
	al, err := c.Principal(leader.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := al.Signing.(ed25519.PrivateKey); ok {
		t.Fatal("the agent's principal holds a private key")
	}
	if _, _, err := al.InMemory(); !errors.Is(err, keys.ErrNotInMemory) {
		t.Fatalf("InMemory of an agent principal: %v", err)
	}

	// A record signed through the agent verifies with the public key.
	s, err := record.Sign(&record.Record{Kind: record.KindHouse, By: []record.Handle{"ir/leader"}, Time: 1}, map[string]string{"name": "ir"}, al.Signing)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := record.Verify(s.Marshal()); err != nil || !bytes.Equal(s.KeyOf(0), leader.SigningPublic()) {
		t.Fatalf("verify: %v", err)
	}
	sig, err := al.Signing.Sign(nil, []byte("msg"), crypto.Hash(0))
	if err != nil || !ed25519.Verify(leader.SigningPublic(), []byte("msg"), sig) {
		t.Fatalf("raw signature: %v", err)
	}
	if _, err := al.Signing.Sign(nil, []byte("msg"), crypto.SHA512); err == nil {
		t.Fatal("a prehashed signature was made")
	}

	// A real letter, sealed and opened through the agent.
	ap, err := c.Principal(president.Public())
	if err != nil {
		t.Fatal(err)
	}
	var payload bytes.Buffer
	sealed, err := letter.Seal(&payload, &letter.SealRequest{Author: al, To: president.Public(),
		Sections: []letter.Section{{Title: "Relations", Text: "strong and strategic"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed.Tag.Sender(), leader.SigningPublic()) {
		t.Fatal("tag not signed with the leader's key")
	}
	o, err := letter.Open(bytes.NewReader(payload.Bytes()), ap, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Sections[0].Text != "strong and strategic" {
		t.Fatalf("opened %+v", o.Sections)
	}
	// A plain age file to the president and someone else opens too; one
	// sealed to others only is "not sealed to you", not an error of the
	// agent.
	other, _ := age.GenerateHybridIdentity()
	var f bytes.Buffer
	w, _ := age.Encrypt(&f, other.Recipient(), president.Recipient())
	io.WriteString(w, "hello")
	w.Close()
	r, err := age.Decrypt(bytes.NewReader(f.Bytes()), ap.Sealing)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "hello" {
		t.Fatalf("got %q", b)
	}
	_, err = age.Decrypt(bytes.NewReader(f.Bytes()), al.Sealing)
	var nm *age.NoIdentityMatchError
	if !errors.As(err, &nm) {
		t.Fatalf("a file not sealed to the leader: %v", err)
	}
}

// The agent answers for what it holds only: another principal, or other
// keys under a held handle, are refused.
func TestPrincipalNotHeld(t *testing.T) {
	_, c := startAgent(t, 0)
	p := generate(t, "ir/leader")
	if _, err := c.Principal(p.Public()); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("empty agent: %v", err)
	}
	if err := c.Add(p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sign("ir/speaker", []byte("m")); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("sign as a principal not held: %v", err)
	}
	if _, err := c.Principal(generate(t, "ir/leader").Public()); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("other keys under the handle: %v", err)
	}
	gone := &Client{Path: filepath.Join(t.TempDir(), "sock")}
	if _, _, err := gone.List(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no agent: %v", err)
	}
}

func TestCheckPeer(t *testing.T) {
	if err := checkPeer(Cred{UID: 1000, PID: 42}, 1000); err != nil {
		t.Fatalf("same uid refused: %v", err)
	}
	for _, uid := range []int{0, 999, 1001, 65534} {
		if err := checkPeer(Cred{UID: uid, PID: 42}, 1000); !errors.Is(err, ErrForbidden) {
			t.Fatalf("uid %d let in: %v", uid, err)
		}
	}
}

// Through the real socket and the real SO_PEERCRED: an agent whose user is
// not the caller's refuses every request, and changes nothing.
func TestRefusesOtherUID(t *testing.T) {
	a, c := startAgent(t, 0, WithUID(os.Getuid()+1))
	p := generate(t, "ir/leader")
	if err := c.Add(p); !errors.Is(err, ErrForbidden) {
		t.Fatalf("add from another uid: %v", err)
	}
	if _, _, err := c.List(); !errors.Is(err, ErrForbidden) {
		t.Fatalf("list from another uid: %v", err)
	}
	if err := c.Stop(); !errors.Is(err, ErrForbidden) {
		t.Fatalf("stop from another uid: %v", err)
	}
	if n := len(a.List()); n != 0 {
		t.Fatalf("the agent holds %d keys after refusing", n)
	}
	select {
	case <-a.Done():
		t.Fatal("a refused stop stopped the agent")
	default:
	}
}

// testHelperEnv makes the test binary act as a client of another user:
// see TestRefusesOtherUserProcess.
const testHelperEnv = "POUCH_AGENT_TEST_OTHER_USER"

func TestMain(m *testing.M) {
	if path := os.Getenv(testHelperEnv); path != "" {
		os.Exit(otherUserClient(path))
	}
	os.Exit(m.Run())
}

// otherUserClient runs as another user: it asks the agent at path to list
// its keys, both with the client's own check of the agent's uid and
// without it. It exits 0 only if both were refused as they should be.
func otherUserClient(path string) int {
	c := &Client{Path: path, Timeout: 10 * time.Second}
	_, _, err1 := c.List()
	c.skipPeerCheck = true
	_, _, err2 := c.List()
	var e *Error
	if errors.Is(err1, ErrForbidden) && errors.As(err2, &e) && e.Code == CodeForbidden {
		return 0
	}
	os.Stderr.WriteString("client check: " + errString(err1) + "\nagent check: " + errString(err2) + "\n")
	return 1
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// A process that really runs as another user, on a socket it can reach
// (world-writable, for this test only), is refused by the agent's
// SO_PEERCRED check; and the client refuses an agent of another user.
// Needs root, to start a process as nobody.
func TestRefusesOtherUserProcess(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pouch-agent-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "agent.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sock, 0o777)
	a, _ := New(0)
	p := generate(t, "ir/leader")
	a.Add(p)
	done := make(chan error, 1)
	go func() { done <- a.Serve(l) }()
	defer func() { a.Stop(); <-done }()

	cmd := testCommand(bin, sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as uid 65534: %v\n%s", err, out)
	}
	if n := len(a.List()); n != 1 {
		t.Fatalf("the agent holds %d keys, want 1", n)
	}
}

// The idle timeout, on an injected clock: a key in use stays; a key
// unused for the timeout is forgotten, and its bytes are wiped.
func TestIdleTimeout(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a, c := startAgent(t, time.Hour, WithClock(clock))
	p := generate(t, "ir/leader")
	if err := c.Add(p); err != nil {
		t.Fatal(err)
	}
	advance(59 * time.Minute)
	if _, err := c.Sign("ir/leader", []byte("m")); err != nil {
		t.Fatalf("after 59 min: %v", err)
	}
	advance(59 * time.Minute) // 118 min after unlock, 59 after last use
	_, held, err := c.List()
	if err != nil || len(held) != 1 || held[0].Expires != now.Add(time.Minute).UnixMilli() {
		t.Fatalf("after 59 idle minutes: %+v %v", held, err)
	}
	a.mu.Lock()
	sk := a.held["ir/leader"].sk
	a.mu.Unlock()
	advance(time.Minute)
	if _, err := c.Sign("ir/leader", []byte("m")); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("after 60 idle minutes: %v", err)
	}
	if !bytes.Equal(sk, make([]byte, len(sk))) {
		t.Fatal("the forgotten key's bytes were not wiped")
	}
}

// The idle timeout on the real clock: the key is forgotten by the agent's
// timer, with nobody asking.
func TestIdleTimeoutTimer(t *testing.T) {
	a, c := startAgent(t, 200*time.Millisecond)
	if err := c.Add(generate(t, "ir/leader")); err != nil {
		t.Fatal(err)
	}
	held := func() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.held) }
	if held() != 1 {
		t.Fatal("not held")
	}
	deadline := time.Now().Add(5 * time.Second)
	for held() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the key was still held 5 s after a 200 ms idle timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Lock forgets one principal or all; Stop forgets all and ends Serve.
func TestLockAndStop(t *testing.T) {
	a, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent", "sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(l) }()
	c := &Client{Path: path}
	for _, h := range []record.Handle{"ir/leader", "ir/speaker", "ru/president"} {
		if err := c.Add(generate(t, h)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Lock("ir/speaker"); n != 1 || err != nil {
		t.Fatalf("lock one: %d %v", n, err)
	}
	if _, err := c.Sign("ir/speaker", []byte("m")); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("sign after lock: %v", err)
	}
	if _, err := c.Sign("ir/leader", []byte("m")); err != nil {
		t.Fatalf("the others were forgotten too: %v", err)
	}
	if n, err := c.Lock(""); n != 2 || err != nil {
		t.Fatalf("lock all: %d %v", n, err)
	}
	if _, held, _ := c.List(); len(held) != 0 {
		t.Fatalf("held after lock: %+v", held)
	}
	c.Add(generate(t, "ir/leader"))
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// The answer to stop means it is done: every key forgotten and the
	// socket gone (pouch agent --stop says so as soon as it has it).
	if n := len(a.List()); n != 0 {
		t.Fatalf("%d keys held when stop was answered", n)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket there when stop was answered: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after stop")
	}
	if n := len(a.List()); n != 0 {
		t.Fatalf("%d keys held after stop", n)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
	if _, _, err := c.List(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after stop: %v", err)
	}
}

// The socket is 0600 in a 0700 folder; a folder others may enter is
// refused; a live agent is not replaced, a stale socket is.
func TestSocketPermissions(t *testing.T) {
	_, c := startAgent(t, 0)
	st, err := os.Lstat(c.Path)
	if err != nil || st.Mode().Type() != fs.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", st.Mode(), err)
	}
	dst, err := os.Lstat(filepath.Dir(c.Path))
	if err != nil || dst.Mode().Perm() != 0o700 {
		t.Fatalf("folder: %v %v", dst.Mode(), err)
	}
	if _, err := Listen(c.Path); !errors.Is(err, ErrRunning) {
		t.Fatalf("second agent on a live socket: %v", err)
	}

	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	if _, err := Listen(filepath.Join(open, "sock")); !errors.Is(err, ErrUnsafeFolder) {
		t.Fatalf("folder of mode 0755: %v", err)
	}
	real := filepath.Join(t.TempDir(), "real")
	os.Mkdir(real, 0o700)
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(real, link)
	if _, err := Listen(filepath.Join(link, "sock")); !errors.Is(err, ErrUnsafeFolder) {
		t.Fatalf("folder behind a symbolic link: %v", err)
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("x", MaxPathLen), "sock")
	if _, err := Listen(long); !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("a socket path too long: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(long)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a folder was made for a path too long: %v", err)
	}
	if _, _, err := (&Client{Path: long}).List(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("client of a path too long: %v", err)
	}

	// A stale socket (its agent died without removing it) is replaced.
	stale := filepath.Join(t.TempDir(), "agent", "sock")
	os.Mkdir(filepath.Dir(stale), 0o700)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	l2, err := Listen(stale)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	l2.Close()
	notSock := filepath.Join(t.TempDir(), "agent", "sock")
	os.Mkdir(filepath.Dir(notSock), 0o700)
	os.WriteFile(notSock, nil, 0o600)
	if _, err := Listen(notSock); err == nil {
		t.Fatal("a regular file was replaced by the socket")
	}
}

// The protocol is strict: bad frames, unknown fields, non-canonical CBOR
// and other versions are refused with their codes.
func TestProtocolStrict(t *testing.T) {
	_, c := startAgent(t, 0)
	raw := func(frame []byte) (*Response, error) {
		t.Helper()
		nc, err := net.Dial("unix", c.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		nc.Write(frame)
		var resp Response
		err = readMsg(nc, &resp)
		return &resp, err
	}
	frame := func(b []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	mustCode := func(what string, resp *Response, err error, code string) {
		t.Helper()
		if err != nil || resp.Err == nil || resp.Err.Code != code {
			t.Fatalf("%s: %+v %v, want code %s", what, resp.Err, err, code)
		}
	}
	good, _ := record.Marshal(&Request{V: Version, Op: OpList})
	if resp, err := raw(frame(good)); err != nil || resp.Err != nil || resp.Agent == nil {
		t.Fatalf("good request: %+v %v", resp, err)
	}
	v2, _ := record.Marshal(&Request{V: 2, Op: OpList})
	resp, err := raw(frame(v2))
	mustCode("version 2", resp, err, CodeVersion)
	if !errors.Is(&Error{Code: resp.Err.Code}, ErrVersion) {
		t.Fatal("the version code does not map to ErrVersion")
	}
	unknown, _ := record.Marshal(map[string]any{"v": 1, "op": "list", "extra": 1})
	resp, err = raw(frame(unknown))
	mustCode("unknown field", resp, err, CodeBadRequest)
	// The same map with its keys out of deterministic order.
	noncanon := []byte{0xa2, 0x62, 'o', 'p', 0x64, 'l', 'i', 's', 't', 0x61, 'v', 0x01}
	resp, err = raw(frame(noncanon))
	mustCode("non-canonical CBOR", resp, err, CodeBadRequest)
	big := binary.BigEndian.AppendUint32(nil, MaxMessage+1)
	resp, err = raw(big)
	mustCode("oversized frame", resp, err, CodeBadRequest)
	resp, err = raw([]byte{0, 0, 0, 0})
	mustCode("empty frame", resp, err, CodeBadRequest)
	for _, req := range []*Request{
		{V: Version, Op: "export"},
		{V: Version, Op: OpList, Handle: "ir/leader"},
		{V: Version, Op: OpSign, Handle: "ir/leader", Key: []byte("k")},
		{V: Version, Op: OpUnwrap, Handle: "ir/leader"},
		{V: Version, Op: OpStop, Msg: []byte("m")},
	} {
		b, _ := record.Marshal(req)
		resp, err := raw(frame(b))
		mustCode(req.Op, resp, err, CodeBadRequest)
	}
	bad, _ := record.Marshal(&Request{V: Version, Op: OpAdd, Key: []byte("not a key file")})
	resp, err = raw(frame(bad))
	mustCode("add garbage", resp, err, CodeBadKey)
	if err := c.Add(generate(t, "ir/leader")); err != nil {
		t.Fatalf("the agent did not survive: %v", err)
	}
}

// Frames round-trip, and a decoded message does not alias the frame's
// buffer, which readMsg wipes.
func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	in := &Request{V: Version, Op: OpSign, Handle: "ir/leader", Msg: []byte("message")}
	if err := writeMsg(&buf, in); err != nil {
		t.Fatal(err)
	}
	var out Request
	if err := readMsg(&buf, &out); err != nil {
		t.Fatal(err)
	}
	if out.Op != in.Op || out.Handle != in.Handle || string(out.Msg) != "message" {
		t.Fatalf("got %+v", out)
	}
	if err := writeMsg(&buf, &Request{V: Version, Op: OpSign, Msg: make([]byte, MaxMessage)}); !errors.Is(err, record.ErrTooLarge) {
		t.Fatalf("oversized message written: %v", err)
	}
}

// BenchmarkSign is one signature through the agent (a connection, a
// request, a response, and the client's check of the signature) against
// ed25519.Sign in the caller's process.
func BenchmarkSign(b *testing.B) {
	a, _ := New(0)
	l, err := Listen(filepath.Join(b.TempDir(), "agent", "sock"))
	if err != nil {
		b.Fatal(err)
	}
	go a.Serve(l)
	defer a.Stop()
	c := &Client{Path: l.Addr().String()}
	p, _ := keys.Generate("ir/leader")
	if err := c.Add(p); err != nil {
		b.Fatal(err)
	}
	ap, err := c.Principal(p.Public())
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 300)
	b.Run("agent", func(b *testing.B) {
		for b.Loop() {
			if _, err := ap.Signing.Sign(nil, msg, crypto.Hash(0)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			p.Signing.Sign(nil, msg, crypto.Hash(0))
		}
	})
}

// An agent stopped before it serves does not serve: Serve returns at once
// and closes the listener.
func TestStopBeforeServe(t *testing.T) {
	a, _ := New(0)
	l, err := Listen(filepath.Join(t.TempDir(), "agent", "sock"))
	if err != nil {
		t.Fatal(err)
	}
	a.Stop()
	done := make(chan error, 1)
	go func() { done <- a.Serve(l) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve of a stopped agent did not return")
	}
}
