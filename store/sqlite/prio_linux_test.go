package sqlite

import (
	"syscall"
	"testing"
)

// The checkpointer's thread gets the lower CPU priority and the idle or
// usual I/O class it asks for, and no other thread keeps them.
func TestBackgroundPriority(t *testing.T) {
	type prio struct {
		nice, ioprio int
		tid          int
	}
	get := func() prio {
		tid := syscall.Gettid()
		// getpriority returns 20-nice (the raw system call).
		r, _, e := syscall.Syscall(syscall.SYS_GETPRIORITY, syscall.PRIO_PROCESS, uintptr(tid), 0)
		if e != 0 {
			t.Fatalf("getpriority: %v", e)
		}
		io, _, e := syscall.Syscall(syscall.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
		if e != 0 {
			t.Fatalf("ioprio_get: %v", e)
		}
		return prio{nice: 20 - int(r), ioprio: int(io), tid: tid}
	}
	ch := make(chan [2]prio)
	go func() {
		background()
		idleIO(true)
		idle := get()
		idleIO(false)
		ch <- [2]prio{idle, get()}
	}()
	got := <-ch
	if got[0].nice != checkpointerNice || got[0].ioprio>>ioprioClassShift != ioprioClassIdle {
		t.Errorf("checkpointer's thread: nice %d, I/O class %d; want %d, %d", got[0].nice, got[0].ioprio>>ioprioClassShift, checkpointerNice, ioprioClassIdle)
	}
	if got[1].ioprio>>ioprioClassShift != ioprioClassBE {
		t.Errorf("checkpointer's thread after idleIO(false): I/O class %d, want %d", got[1].ioprio>>ioprioClassShift, ioprioClassBE)
	}
	// The goroutine ended without unlocking: its thread is gone, and this
	// one runs at the usual priority.
	if p := get(); p.nice == checkpointerNice && p.tid != got[0].tid {
		t.Errorf("thread %d runs at nice %d", p.tid, p.nice)
	}
}
