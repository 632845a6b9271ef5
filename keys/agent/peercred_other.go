//go:build !linux

package agent

import (
	"errors"
	"io/fs"
	"net"
)

// errNoPeerCred is returned where the agent cannot learn a peer's user.
var errNoPeerCred = errors.New("the agent needs SO_PEERCRED to check who connects, which pouch supports on Linux only")

func peerCred(c *net.UnixConn) (Cred, error) { return Cred{}, errNoPeerCred }

// Harden does nothing where it is not supported.
func Harden() error { return nil }

const peerCredSupported = false

func owner(st fs.FileInfo) (int, bool) { return 0, false }
