//go:build unix && !linux

package sweep

import "syscall"

// setDeathSignal does nothing where there is no parent-death signal; the run
// lock still keeps a rerun from racing a command left running.
func setDeathSignal(*syscall.SysProcAttr) {}
