//go:build unix

package sweep

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// sigTerm is the signal a cancelled context forwards.
var sigTerm os.Signal = syscall.SIGTERM

// setGroup puts c in a process group of its own, so that a terminal's ^C
// reaches only the sweep, which forwards it once to every running command;
// on Linux the command's shell also gets SIGTERM if the sweep dies.
func setGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(c.SysProcAttr)
}

// signalGroup sends sig to c's process group (the shell and its children).
func signalGroup(c *exec.Cmd, sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok || c.Process == nil {
		return
	}
	syscall.Kill(-c.Process.Pid, s)
}

// tryLock takes an exclusive flock on f without waiting; false means another
// open file (in this process or another) holds it. The lock belongs to the
// open file, so a child that inherits f keeps it until every copy is closed.
func tryLock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, syscall.EINTR):
			continue
		}
		return false, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
}
