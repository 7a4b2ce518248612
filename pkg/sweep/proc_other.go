//go:build !unix

package sweep

import (
	"os"
	"os/exec"
)

// sigTerm is the signal a cancelled context forwards.
var sigTerm os.Signal = os.Kill

// setGroup does nothing where there are no process groups.
func setGroup(c *exec.Cmd) {}

// signalGroup sends sig to c's process.
func signalGroup(c *exec.Cmd, sig os.Signal) {
	if c.Process != nil {
		c.Process.Signal(sig)
	}
}

// tryLock always succeeds where there is no flock.
func tryLock(*os.File) (bool, error) { return true, nil }
