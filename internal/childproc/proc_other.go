//go:build !linux

package childproc

import "syscall"

// Attr is empty where the kernel cannot kill a child with its parent.
func Attr() *syscall.SysProcAttr { return nil }
