package kafkatest

import "syscall"

// childAttr has the kernel kill a broker whose test binary dies without
// running its cleanups (a panic, a -timeout), so that no JVM outlives it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
