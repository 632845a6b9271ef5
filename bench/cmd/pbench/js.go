package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runJS is the load generator for NATS JetStream, run in a process of its
// own as pouch's is: -workers publishers, each publishing a message of
// -size bytes (a pouch's size) to a file-backed stream and waiting for its
// acknowledgement, for -d (saturation); then messages at half that rate
// for -d, open loop, for the latency at half load. With -server-pid, the
// server's CPU per acknowledged message in the first phase.
func runJS(args []string) error {
	fs := flags("js")
	url := fs.String("url", nats.DefaultURL, "server URL")
	name := fs.String("name", "jetstream", "name in the results")
	size := fs.Int("size", 4700, "message size in bytes")
	workers := fs.Int("workers", 64, "concurrent publishers")
	conns := fs.Int("conns", 4, "connections the publishers share")
	d := fs.Duration("d", 5*time.Second, "time per phase")
	pid := fs.Int("server-pid", 0, "the server's process, for its CPU time")
	fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2**d+time.Minute)
	defer cancel()

	var jss []jetstream.JetStream
	for range *conns {
		nc, err := nats.Connect(*url)
		if err != nil {
			return err
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		jss = append(jss, js)
	}
	const stream = "PBENCH"
	jss[0].DeleteStream(ctx, stream)
	if _, err := jss[0].CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"pbench.>"},
		Storage: jetstream.FileStorage, Replicas: 1}); err != nil {
		return fmt.Errorf("creating the stream: %w", err)
	}
	defer jss[0].DeleteStream(context.Background(), stream)
	msg := make([]byte, *size)
	rand.Read(msg)
	publish := func(w int) error {
		_, err := jss[w%len(jss)].Publish(ctx, "pbench.m", msg)
		return err
	}

	// Phase 1: saturation.
	var n atomic.Int64
	var firstErr atomic.Value
	var lat1 []time.Duration
	var mu sync.Mutex
	var cpu0 time.Duration
	if *pid != 0 {
		c, err := procCPU(*pid)
		if err != nil {
			return err
		}
		cpu0 = c
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Since(start) < *d {
				t0 := time.Now()
				if err := publish(w); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mine = append(mine, time.Since(t0))
				n.Add(1)
			}
			mu.Lock()
			lat1 = append(lat1, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	if n.Load() == 0 {
		return errors.New("nothing acknowledged")
	}
	rate := float64(n.Load()) / el.Seconds()
	kv := []any{rate, "msgs/s"}
	if *pid != 0 {
		c, err := procCPU(*pid)
		if err != nil {
			return err
		}
		kv = append(kv, float64((c-cpu0).Microseconds())/float64(n.Load()), "server-CPU-µs/msg")
	}
	p50, p99, _ := quantiles(lat1)
	kv = append(kv, p50, "p50-ms", p99, "p99-ms", *size, "B/msg")
	emit(fmt.Sprintf("JetStream/server=%s/workers=%d", *name, *workers), kv...)

	// Phase 2: half that rate, open loop.
	half := rate / 2
	total := int(half * d.Seconds())
	lat2 := make([]time.Duration, total)
	interval := time.Duration(float64(time.Second) / half)
	sem := make(chan struct{}, *workers*4)
	var failed atomic.Int64
	start = time.Now()
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			if err := publish(i); err != nil {
				failed.Add(1)
				return
			}
			lat2[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d publishes failed at half rate", failed.Load())
	}
	p50, p99, _ = quantiles(lat2)
	emit(fmt.Sprintf("JetStreamHalfLoad/server=%s", *name), half, "offered/s", float64(total)/time.Since(start).Seconds(), "msgs/s", p50, "p50-ms", p99, "p99-ms")
	return nil
}
