//go:build unix

package sweep

import (
	"os"
	"os/exec"
	"syscall"
)

// sigTerm is the signal a cancelled context forwards.
var sigTerm os.Signal = syscall.SIGTERM

// setGroup puts c in a process group of its own, so that a terminal's ^C
// reaches only the sweep, which forwards it once to every running command.
func setGroup(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// signalGroup sends sig to c's process group (the shell and its children).
func signalGroup(c *exec.Cmd, sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok || c.Process == nil {
		return
	}
	syscall.Kill(-c.Process.Pid, s)
}
