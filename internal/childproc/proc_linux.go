package childproc

import "syscall"

// Attr has the kernel kill the child when its test binary dies without
// running its cleanups (a panic, a -timeout), so that no server outlives it.
func Attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
