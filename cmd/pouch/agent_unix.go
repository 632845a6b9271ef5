//go:build unix

package main

import "syscall"

// detached makes the background agent a session of its own, so that it
// outlives the terminal that started it.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
