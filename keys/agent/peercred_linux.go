package agent

import (
	"fmt"
	"io/fs"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerCred returns the credentials of the process at the other end of c,
// as the kernel recorded them when it connected (SO_PEERCRED).
//
// SPEC: spec/keys.md#agent-socket
func peerCred(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var (
		uc   *unix.Ucred
		uerr error
	)
	if err := raw.Control(func(fd uintptr) {
		uc, uerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, err
	}
	if uerr != nil {
		return Cred{}, fmt.Errorf("SO_PEERCRED: %w", uerr)
	}
	return Cred{UID: int(uc.Uid), PID: int(uc.Pid)}, nil
}

// Harden makes the calling process non-dumpable (PR_SET_DUMPABLE 0): no
// core file, and other processes of the same user can neither ptrace it
// nor read its memory through /proc, as ssh-agent does. A process that
// holds keys calls it once at start.
func Harden() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

const peerCredSupported = true

// owner returns the uid that owns a file.
func owner(st fs.FileInfo) (int, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(sys.Uid), true
}
