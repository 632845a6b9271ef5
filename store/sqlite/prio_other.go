//go:build !linux

package sqlite

// background does nothing here: thread priorities are set on Linux only.
func background() {}

// idleIO does nothing here: I/O priorities are set on Linux only.
func idleIO(bool) {}
