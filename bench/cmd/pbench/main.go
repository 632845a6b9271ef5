// Command pbench runs the benchmarks of bench/run that are programs rather
// than go test benchmarks: the machine's limits, pouch's log and Tessera's
// side by side, proofs at growing log sizes, a JetStream load generator, the
// floor of any Go HTTP server on this machine (bare, and durable: one that
// answers only once what it received is fdatasync'd), and the report that
// writes BENCHMARKS.md's bench/run section and its plots.
//
// Every measurement is bounded in time (-d) and prints one line in Go's
// benchmark format, "BenchmarkName 1 value unit value unit ...", which the
// report reads with the go test benchmarks' own output.
//
//	pbench limits -d 2s
//	pbench log -impl pouch -clients 1000 -d 5s
//	pbench latency -impl tessera -rate 10000 -d 3s
//	pbench proof -leaves 1000000 -cache /var/tmp/pouch-bench
//	pbench js -url nats://127.0.0.1:4222 -size 4700 -workers 64 -d 5s -server-pid PID
//	pbench floor -rate 3000 -size 5028 -n 20000
//	pbench floor -durable -rate 3000 -size 5028 -n 20000
//	pbench report -in results/ -out ../BENCHMARKS.md -plots plots/
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var cmds = map[string]func(args []string) error{
	"limits":  runLimits,
	"log":     runLog,
	"latency": runLatency,
	"proof":   runProof,
	"js":      runJS,
	"report":  runReport,
	"json":    runJSON,
	"port":    runPort,
	"floor":   runFloor,
	"trace":   runTrace,
	// floor-serve is the floor's server, started by floor.
	"floor-serve": runFloorServe,
}

func main() {
	if len(os.Args) < 2 || cmds[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: pbench limits|log|latency|proof|js|floor|trace|json|report [flags]")
		os.Exit(2)
	}
	if err := cmds[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "pbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func flags(name string) *flag.FlagSet { return flag.NewFlagSet("pbench "+name, flag.ExitOnError) }

// emit prints one result in Go's benchmark format: name, then value and
// unit pairs.
func emit(name string, kv ...any) {
	var b strings.Builder
	fmt.Fprintf(&b, "Benchmark%s 1", name)
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i].(type) {
		case float64:
			fmt.Fprintf(&b, " %s %s", strconv.FormatFloat(v, 'g', 6, 64), kv[i+1])
		case int:
			fmt.Fprintf(&b, " %d %s", v, kv[i+1])
		case uint64:
			fmt.Fprintf(&b, " %d %s", v, kv[i+1])
		default:
			panic(fmt.Sprintf("emit: %T", v))
		}
	}
	fmt.Println(b.String())
}

// cpuTime returns the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lowerPriority raises the nice value of every thread of this process to
// at least nice: on Linux a nice value is a thread's, and the threads the
// runtime starts later inherit it from the thread that starts them. A
// load generator sharing two processors with the server it measures then
// takes them when the server does not want them: at the same priority it
// delayed the server by several milliseconds at a time, below it it
// delays its own reading of the answers instead (BENCHMARKS.md, "The HTTP
// tail at half load: partly the load generator's"). Child processes
// started before keep their priority.
func lowerPriority(nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("lowering this load generator's priority: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// The system call gives 20 - nice, so that it is never negative.
		raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		if err != nil {
			continue // the thread has ended
		}
		if 20-raw >= nice {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("lowering this load generator's priority: thread %d: %w", tid, err)
		}
	}
	return nil
}

// procCPU returns the CPU time, user and system, process pid has used
// (Linux /proc, clock ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	f, err := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// statFields returns the fields of a /proc stat file (a process's or a
// thread's) after its command's name, which may hold spaces and ends at
// the last ')': the first is the state, field 3 of proc(5).
func statFields(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("%s: no command name", path)
	}
	return strings.Fields(s[i+1:]), nil
}

// quantiles returns the p50, p99 and max of ds in milliseconds.
func quantiles(ds []time.Duration) (p50, p99, max float64) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))]) / 1e6 }
	return q(0.5), q(0.99), q(1)
}

// runJSON turns a JSON object on standard input (the result of pouch
// bench --json, in its envelope: spec/cli.md#envelope) into one result
// line named by the argument: each number a value, its key the unit.
func runJSON(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: pbench json NAME < file.json")
	}
	var m map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&m); err != nil {
		return err
	}
	if r, ok := m["result"].(map[string]any); ok {
		m = r
	}
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if _, ok := v.(float64); ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var kv []any
	for _, k := range keys {
		kv = append(kv, m[k].(float64), k)
	}
	emit(args[0], kv...)
	return nil
}

// runPort prints a TCP port free on 127.0.0.1, for a server to listen on.
func runPort(args []string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}
