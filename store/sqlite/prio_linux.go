package sqlite

import (
	"runtime"
	"syscall"
)

// checkpointerNice is the nice value of the checkpointer's thread: a
// PASSIVE checkpoint copies megabytes of pages in a burst, and a commit
// that waits for a core meanwhile holds up every append in its group.
const checkpointerNice = 10

// background locks the calling goroutine (the checkpointer) to its
// thread and lowers that thread's CPU priority, so that the checkpointer
// yields the CPU to the writer's commits and the requests that wait for
// them. The goroutine never unlocks the thread, so the thread ends with
// it and no other goroutine ever runs at that priority. Failures are
// ignored: a priority is only a hint to the kernel.
func background() {
	runtime.LockOSThread()
	syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), checkpointerNice)
}

// I/O priorities (linux/ioprio.h): the class in the top 3 of 16 bits.
const (
	ioprioWhoProcess = 1
	ioprioClassBE    = 2
	ioprioClassIdle  = 3
	ioprioClassShift = 13
)

// idleIO sets the I/O priority of the calling thread (background locked
// it): idle, so that the database file's writes and fsync that a PASSIVE
// checkpoint issues are dispatched after the WAL's fsync of a commit,
// which then does not queue behind megabytes of checkpoint writes; or
// best effort (the default's class), when the WAL has grown and the
// checkpointer must not be starved. Schedulers that have no priorities
// (none) ignore it. Failures are ignored.
func idleIO(idle bool) {
	class := ioprioClassBE<<ioprioClassShift | 4
	if idle {
		class = ioprioClassIdle << ioprioClassShift
	}
	syscall.Syscall(syscall.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(syscall.Gettid()), uintptr(class))
}
