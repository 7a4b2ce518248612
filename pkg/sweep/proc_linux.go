package sweep

import "syscall"

// setDeathSignal asks Linux to send SIGTERM to the command's shell when the
// sweep runner dies (kill -9 included), so that train checkpoints and stops
// instead of running on unattended. A shell that runs one command execs it,
// so train itself gets the signal.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
