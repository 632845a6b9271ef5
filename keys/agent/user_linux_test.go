package agent

import (
	"os"
	"os/exec"
	"syscall"
)

// testCommand runs the test binary bin as user and group 65534 (nobody),
// as a client of the agent at sock.
func testCommand(bin, sock string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), testHelperEnv+"="+sock)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return cmd
}
