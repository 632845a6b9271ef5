package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// A Cred is what the kernel says about the process at the other end of a
// Unix socket.
type Cred struct {
	UID int
	PID int
}

// checkPeer lets a peer in only if it runs as uid: the agent's own user.
//
// SPEC: spec/keys.md#agent-socket
func checkPeer(c Cred, uid int) error {
	if c.UID != uid {
		return fmt.Errorf("%w: the process at the other end (pid %d) runs as uid %d, not %d", ErrForbidden, c.PID, c.UID, uid)
	}
	return nil
}

// DefaultPath returns the agent's socket path for the home folder home:
// agent/sock inside it.
//
// SPEC: spec/keys.md#agent-socket
func DefaultPath(home string) string { return filepath.Join(home, "agent", "sock") }

// Path returns the socket path: $POUCH_AGENT_SOCK if set, otherwise
// DefaultPath(home).
func Path(getenv func(string) string, home string) string {
	if p := getenv("POUCH_AGENT_SOCK"); p != "" {
		return p
	}
	return DefaultPath(home)
}

// MaxPathLen is the longest socket path accepted: the portable limit of a
// Unix socket address (macOS has 104 bytes, Linux 108, both with the
// terminating zero).
const MaxPathLen = 103

// Errors of Listen.
var (
	// ErrRunning is returned when an agent already answers on the path.
	ErrRunning = errors.New("an agent is already running")
	// ErrPathTooLong is returned for a socket path longer than MaxPathLen.
	ErrPathTooLong = errors.New("longer than a Unix socket address allows")
	// ErrUnsafeFolder is returned when the socket's folder is not a
	// folder that only its owner, the agent's user, can enter.
	ErrUnsafeFolder = errors.New("the agent's folder is reachable by other users")
)

// Listen makes the agent's socket at path and listens on it. The folder
// holding it is created with mode 0700 if missing, and must otherwise be a
// real folder (not a symbolic link) owned by the calling user with no
// permission for group or others (see Prepare). The socket file gets mode
// 0600. A stale socket left by an agent that died is replaced; a live one
// is not.
//
// SPEC: spec/keys.md#agent-socket
func Listen(path string) (*net.UnixListener, error) {
	if err := Prepare(path); err != nil {
		return nil, err
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it, or set POUCH_AGENT_SOCK to another path", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w on %s", ErrRunning, path)
		}
		if err := os.Remove(path); err != nil { // stale: its agent is gone
			return nil, err
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(true)
	// The folder keeps everyone else out already; the mode says so too.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Prepare checks that an agent can listen at path on this system, and
// makes or checks the socket's folder as Listen does: path fits a Unix
// socket address, and its folder exists (created with mode 0700) and is a
// folder of the calling user that nobody else may enter.
func Prepare(path string) error {
	if !peerCredSupported {
		_, err := peerCred(nil)
		return err
	}
	if len(path) > MaxPathLen {
		return fmt.Errorf("agent socket path %s: %d bytes, %w (%d)", path, len(path), ErrPathTooLong, MaxPathLen)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return checkFolder(dir)
}

// checkFolder checks that dir is a folder of the calling user that nobody
// else may enter.
func checkFolder(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a folder (a symbolic link?)", ErrUnsafeFolder, dir)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o; run \"chmod 700 %s\"", ErrUnsafeFolder, dir, st.Mode().Perm(), dir)
	}
	if uid, ok := owner(st); ok && uid != os.Getuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d)", ErrUnsafeFolder, dir, uid, os.Getuid())
	}
	return nil
}
