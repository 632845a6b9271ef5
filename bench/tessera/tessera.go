// Package tessera runs Tessera's POSIX appender on this machine, for
// comparison with pouch's own log: the benchmarks in tessera_test.go (run
// by run.sh) and bench/cmd/pbench (run by bench/run) use it. It lives in
// the benchmark module, pouch.dev/bench, so that Tessera never enters
// pouch's go.mod.
package tessera

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Config is how the appender is set up: Tessera's own knobs, with the
// defaults the comparison uses.
type Config struct {
	Dir        string        // where the POSIX driver keeps the tree (required)
	BatchSize  uint          // WithBatching max size; 0 means 1024
	BatchAge   time.Duration // WithBatching max age; 0 means 10ms
	CPInterval time.Duration // WithCheckpointInterval; 0 means 100ms, Tessera's minimum
	Poll       time.Duration // PublicationAwaiter poll period; 0 means 10ms
}

// Log is a Tessera log and the awaiter that tells when an entry is
// covered by a published checkpoint.
type Log struct {
	app    *tessera.Appender
	aw     *tessera.PublicationAwaiter
	cancel context.CancelFunc
	stop   func(context.Context) error
}

// Open starts an appender over a POSIX tree in cfg.Dir.
func Open(cfg Config) (*Log, error) {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1024
	}
	if cfg.BatchAge == 0 {
		cfg.BatchAge = 10 * time.Millisecond
	}
	if cfg.CPInterval == 0 {
		cfg.CPInterval = 100 * time.Millisecond
	}
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	driver, err := posix.New(ctx, posix.Config{Path: cfg.Dir})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("tessera: POSIX driver: %w", err)
	}
	skey, _, err := note.GenerateKey(rand.Reader, "tessera.bench/log")
	if err != nil {
		cancel()
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		cancel()
		return nil, err
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(cfg.CPInterval).
		WithBatching(cfg.BatchSize, cfg.BatchAge).
		WithPushback(1 << 20)
	app, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("tessera: appender: %w", err)
	}
	aw := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, cfg.Poll)
	return &Log{app: app, aw: aw, cancel: cancel, stop: shutdown}, nil
}

// Add appends entry and waits until a published checkpoint covers it.
func (l *Log) Add(ctx context.Context, entry []byte) error {
	_, _, err := l.aw.Await(ctx, l.app.Add(ctx, tessera.NewEntry(entry)))
	return err
}

// Close shuts the appender down, waiting at most 10 s for it.
func (l *Log) Close() {
	ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
	defer c()
	l.stop(ctx)
	l.cancel()
}
