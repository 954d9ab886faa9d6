//go:build !linux

package kafkatest

import "syscall"

// childAttr is empty where the kernel cannot kill a child with its parent.
func childAttr() *syscall.SysProcAttr { return nil }
