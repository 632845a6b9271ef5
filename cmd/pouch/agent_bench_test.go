//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkUnlockOnce measures what one command costs its user with the
// agent holding the principal's key, against the same command decrypting
// the key file with the passphrase (age scrypt at its default work factor,
// 2^18, as for keys made by "pouch init"). Each iteration runs the real
// binary in a process of its own, as a person or a script would:
// ns/op is the wall clock of the whole command (process start included),
// and cpu-ms/op its own user+system CPU time (the client time; the
// agent's and the server's are not in it).
//
//	go test ./cmd/pouch -run '^$' -bench UnlockOnce -benchtime 5x
//
// seal and open work on files; inbox is a networked command (a signed
// request to a server on loopback).
func BenchmarkUnlockOnce(b *testing.B) {
	bin := buildPouch(b)
	url, home, _ := serverWithHome(b, 0, "ir/leader", "ru/president")
	dir := b.TempDir()
	base := append(os.Environ(), "POUCH_HOME="+home, "POUCH_SERVER="+url, "POUCH_SCRYPT_LOG_N=", "POUCH_AS=", "POUCH_AGENT_TIMEOUT=")
	agentEnv := slices.Concat(base, []string{"POUCH_PASSPHRASE=", "POUCH_AGENT_SOCK="})
	passEnv := slices.Concat(base, []string{"POUCH_PASSPHRASE=test passphrase", "POUCH_AGENT_SOCK=" + filepath.Join(dir, "no-agent", "sock")})
	run := func(env []string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("pouch %v: %v\n%s", args, err, out.String())
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}

	agent := exec.Command(bin, "agent", "--foreground")
	agent.Env = agentEnv
	if err := agent.Start(); err != nil {
		b.Fatal(err)
	}
	withEnv := func(cmd *exec.Cmd) *exec.Cmd { cmd.Env = agentEnv; return cmd }
	b.Cleanup(func() {
		withEnv(exec.Command(bin, "agent", "--stop")).Run()
		agent.Process.Kill()
		agent.Wait()
	})
	for i := 0; withEnv(exec.Command(bin, "agent", "--status")).Run() != nil; i++ {
		if i == 500 {
			b.Fatal("the agent did not start within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	run(slices.Concat(agentEnv, []string{"POUCH_PASSPHRASE=test passphrase"}), "unlock", "--all")

	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	letter := filepath.Join(dir, "letter.pouch")
	run(agentEnv, "seal", "--as", "ir/leader", "--to", "ru/president", "-o", letter, md)

	commands := []struct {
		name string
		args []string
	}{
		{"seal", []string{"seal", "--as", "ir/leader", "--to", "ru/president", "-o", filepath.Join(dir, "out.pouch"), md}},
		{"open", []string{"open", "--as", "ru/president", letter}},
		{"inbox", []string{"inbox", "--as", "ru/president"}},
	}
	for _, c := range commands {
		for _, mode := range []struct {
			name string
			env  []string
		}{{"agent", agentEnv}, {"scrypt", passEnv}} {
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				var cpu time.Duration
				for b.Loop() {
					cpu += run(mode.env, c.args...)
				}
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
