package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLowerPriority: after lowerPriority(7) every thread of the process,
// those the runtime starts afterwards too, runs at nice 7 or more, and a
// child process started before keeps its own. It runs in a child of the
// test (the change cannot be undone without privilege).
func TestLowerPriority(t *testing.T) {
	if os.Getenv("PBENCH_TEST_LOWER_PRIORITY") == "1" {
		lowerPriorityChild()
		return
	}
	own := threadNice(os.Getpid(), os.Getpid())
	if own >= 7 {
		t.Skipf("this test already runs at nice %d", own)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLowerPriority$")
	cmd.Env = append(os.Environ(), "PBENCH_TEST_LOWER_PRIORITY=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var threads, least, child int
	if _, err := fmt.Sscanf(lastLine(string(out)), "threads %d least %d child %d", &threads, &least, &child); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if least < 7 {
		t.Errorf("a thread of %d runs at nice %d after lowerPriority(7)", threads, least)
	}
	if child != own {
		t.Errorf("the child started before runs at nice %d, want %d (its parent's before)", child, own)
	}
	if threads < 8 {
		t.Errorf("only %d threads: the threads started afterwards were not checked", threads)
	}
}

// lowerPriorityChild is the test's child: it starts a process, lowers its
// own priority, then makes the runtime start more threads, and prints how
// many threads it has, the least nice value among them, and the nice
// value of the process it started first.
func lowerPriorityChild() {
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		fmt.Println("sleep:", err)
		os.Exit(1)
	}
	defer sleep.Process.Kill()
	if err := lowerPriority(7); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	// Goroutines locked to their threads, each blocked in a system call:
	// the runtime starts a thread for each.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-stop
		}()
	}
	time.Sleep(100 * time.Millisecond)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	least := 20
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		least = min(least, threadNice(os.Getpid(), tid))
	}
	close(stop)
	wg.Wait()
	fmt.Printf("threads %d least %d child %d\n", len(tasks), least, threadNice(sleep.Process.Pid, sleep.Process.Pid))
}

// threadNice reads a thread's nice value from /proc (the 19th field of
// its stat), or 20 if it cannot.
func threadNice(pid, tid int) int {
	f, err := statFields(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil || len(f) < 17 {
		return 20
	}
	n, err := strconv.Atoi(f[16])
	if err != nil {
		return 20
	}
	return n
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "threads ") {
			return lines[i]
		}
	}
	return ""
}
