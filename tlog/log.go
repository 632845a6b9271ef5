package tlog

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"pouch.dev/record"
	"pouch.dev/store"
)

// Config configures a Log.
type Config struct {
	// Origin is the log's name, the first line of its checkpoints, such
	// as "pouch.localhost/log".
	Origin string
	// Key is the log's private signed-note key (PRIVATE+KEY+origin+...),
	// see LoadOrCreateKey.
	Key string
	// Witnesses are asked to cosign every new checkpoint.
	Witnesses []WitnessConfig
	// WitnessTimeout bounds each witness request; 0 means 5 seconds.
	WitnessTimeout time.Duration
	// RefreshInterval is how old a witness's last cosignature may grow
	// while the log is idle before Run asks it to cosign the published
	// checkpoint again (see Refresh); 0 means DefaultRefreshInterval, a
	// negative value never refreshes.
	RefreshInterval time.Duration
	// MaxRound bounds the leaves integrated in one round; 0 means 65536.
	MaxRound int
	// Logger receives the sequencer's logs; nil means slog.Default().
	Logger *slog.Logger
	// HTTPClient is used to reach witnesses; nil means a default client.
	HTTPClient *http.Client
	// WhileLeading, if set, runs while this replica sequences the log
	// (Run), with a context that ends when it stops: work that one
	// replica of a deployment does at a time, such as the deadline
	// watcher.
	WhileLeading func(ctx context.Context)
}

// A Log is the sequencer and reader of one transparency log kept in a
// store: it integrates appended leaves into the tree in rounds, signs a
// checkpoint for each round, has it cosigned by the witnesses, publishes it,
// and serves proofs.
type Log struct {
	cfg      Config
	st       store.Store
	h        *hashes
	signer   note.Signer
	vkey     string
	log      *slog.Logger
	hc       *http.Client
	witness  []*witness
	roundMu  sync.Mutex // one round at a time
	edge     *edge      // guarded by roundMu
	mu       sync.Mutex
	cp       []byte // the published checkpoint
	size     uint64 // its size
	waiters  waiters
	failures int
	leading  atomic.Bool
}

// New opens the log kept in st. If the store holds no checkpoint yet, New
// signs the checkpoint of the empty tree, so that a checkpoint is always
// served.
func New(ctx context.Context, st store.Store, cfg Config) (*Log, error) {
	signer, err := NewNoteSigner(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	if signer.Name() != cfg.Origin {
		return nil, fmt.Errorf("log key is named %q, but the origin is %q", signer.Name(), cfg.Origin)
	}
	vkey, err := VerifierKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.MaxRound <= 0 {
		cfg.MaxRound = 1 << 16
	}
	if cfg.WitnessTimeout <= 0 {
		cfg.WitnessTimeout = 5 * time.Second
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	l := &Log{
		cfg: cfg, st: st, h: newHashes(st), signer: signer, vkey: vkey,
		log: cfg.Logger, hc: cfg.HTTPClient,
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.hc == nil {
		l.hc = &http.Client{Timeout: cfg.WitnessTimeout}
	}
	for _, w := range cfg.Witnesses {
		v, err := fnote.NewVerifierForCosignatureV1(w.Key)
		if err != nil {
			return nil, fmt.Errorf("witness key %q: %w", w.Key, err)
		}
		l.witness = append(l.witness, &witness{cfg: w, verifier: v})
	}
	state, err := st.State(ctx)
	if err != nil {
		return nil, err
	}
	if state.Checkpoint != nil {
		o, size, _, err := ParseCheckpointBody(checkpointText(state.Checkpoint))
		if err != nil {
			return nil, fmt.Errorf("the stored checkpoint: %w", err)
		}
		if o != cfg.Origin {
			return nil, fmt.Errorf("the store holds the log %q, not %q", o, cfg.Origin)
		}
		if size != state.TreeSize {
			return nil, fmt.Errorf("the stored checkpoint has size %d, the tree %d", size, state.TreeSize)
		}
	}
	if l.edge, err = loadEdge(ctx, l.h, state.TreeSize); err != nil {
		return nil, err
	}
	if state.Checkpoint == nil {
		root, _ := l.edge.root()
		cp, err := signCheckpoint(l.signer, cfg.Origin, 0, root)
		if err != nil {
			return nil, err
		}
		if err := st.Integrate(ctx, &store.Round{Checkpoint: cp}); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		if state, err = st.State(ctx); err != nil {
			return nil, err
		}
	}
	l.cp, l.size = state.Checkpoint, state.TreeSize
	return l, nil
}

// checkpointText returns the text part of a signed note.
func checkpointText(msg []byte) string {
	s := string(msg)
	if i := indexSigs(s); i >= 0 {
		return s[:i+1]
	}
	return s
}

func indexSigs(s string) int {
	for i := len(s) - 2; i >= 0; i-- {
		if s[i] == '\n' && s[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// Origin returns the log's origin.
func (l *Log) Origin() string { return l.cfg.Origin }

// VerifierKey returns the log's verifier key (origin+hash+key).
func (l *Log) VerifierKey() string { return l.vkey }

// Witnesses returns the configured witnesses.
func (l *Log) Witnesses() []WitnessConfig { return l.cfg.Witnesses }

// Checkpoint returns the latest published checkpoint and its size.
func (l *Log) Checkpoint() ([]byte, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cp, l.size
}

// WaitCheckpoint blocks until a checkpoint of at least size leaves is
// published, and returns it.
func (l *Log) WaitCheckpoint(ctx context.Context, size uint64) ([]byte, uint64, error) {
	l.mu.Lock()
	if l.size >= size {
		cp, n := l.cp, l.size
		l.mu.Unlock()
		return cp, n, nil
	}
	w := &waiter{size: size, ch: make(chan struct{})}
	heap.Push(&l.waiters, w)
	l.mu.Unlock()
	select {
	case <-w.ch:
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.cp, l.size, nil
	case <-ctx.Done():
		// The waiter stays in the heap until a checkpoint covers it.
		l.mu.Lock()
		defer l.mu.Unlock()
		return nil, l.size, ctx.Err()
	}
}

// A waiter waits for a checkpoint of at least size leaves. Waiters are
// kept in a heap by size, so a new checkpoint wakes only those it covers.
type waiter struct {
	size uint64
	ch   chan struct{}
}

type waiters []*waiter

func (h waiters) Len() int           { return len(h) }
func (h waiters) Less(i, j int) bool { return h[i].size < h[j].size }
func (h waiters) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waiters) Push(x any)        { *h = append(*h, x.(*waiter)) }
func (h *waiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

func (l *Log) publish(cp []byte, size uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if size < l.size {
		return
	}
	l.cp, l.size = cp, size
	for len(l.waiters) > 0 && l.waiters[0].size <= size {
		close(heap.Pop(&l.waiters).(*waiter).ch)
	}
}

// Run sequences until ctx is done: it waits for appended leaves and
// integrates them in rounds, and while the log is idle it keeps the
// published checkpoint's cosignatures fresh (Refresh). It returns ctx's
// error.
//
// If the store is shared by several replicas (it implements
// store.Leader), Run sequences only while this replica holds the lead:
// until it does, and after it loses it, Run follows the checkpoints the
// leader stores, so that this replica serves them, their tiles and
// proofs, and tries to take the lead. Config.WhileLeading runs while it
// holds the lead.
//
// SPEC: spec/log.md#replicas
func (l *Log) Run(ctx context.Context) error {
	ld, ok := l.st.(store.Leader)
	if !ok {
		return l.lead(ctx)
	}
	for {
		lost, release, err := l.await(ctx, ld)
		if ctx.Err() != nil {
			if release != nil {
				release()
			}
			return ctx.Err()
		}
		if err != nil {
			l.log.Error("taking the lead", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lost:
				// Another replica may take the lead at once: say so
				// before this one's round, if any, is abandoned.
				l.leading.Store(false)
				cancel()
			case <-lctx.Done():
			}
		}()
		l.log.Info("sequencing: this replica holds the lead")
		l.leading.Store(true)
		l.lead(lctx)
		l.leading.Store(false)
		cancel()
		release()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.log.Warn("sequencing: this replica lost the lead; following")
	}
}

// FollowInterval is how often a replica that does not sequence reads the
// latest checkpoint from the store.
const FollowInterval = 100 * time.Millisecond

// await follows the leader's checkpoints until ld gives this replica the
// lead or ctx is done.
func (l *Log) await(ctx context.Context, ld store.Leader) (lost <-chan struct{}, release func(), err error) {
	type lead struct {
		lost    <-chan struct{}
		release func()
		err     error
	}
	got := make(chan lead, 1)
	go func() {
		lost, release, err := ld.Lead(ctx)
		got <- lead{lost, release, err}
	}()
	t := time.NewTicker(FollowInterval)
	defer t.Stop()
	for {
		select {
		case g := <-got:
			// Catch up before sequencing, so that the first round starts
			// from what the last leader stored.
			l.follow(ctx)
			return g.lost, g.release, g.err
		case <-t.C:
			l.follow(ctx)
		}
	}
}

// follow publishes the latest checkpoint the store holds, if it is newer
// or carries more cosignatures than the published one.
func (l *Log) follow(ctx context.Context) {
	state, err := l.st.State(ctx)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("following the log", "err", err)
		}
		return
	}
	if state.Checkpoint != nil {
		l.publish(state.Checkpoint, state.TreeSize)
	}
}

// Leading reports whether this replica sequences the log now: always
// true of a store that one process has alone, while Run runs.
func (l *Log) Leading() bool {
	if _, ok := l.st.(store.Leader); !ok {
		return true
	}
	return l.leading.Load()
}

// lead sequences until ctx is done.
func (l *Log) lead(ctx context.Context) error {
	if l.cfg.WhileLeading != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			l.cfg.WhileLeading(ctx)
		}()
	}
	if f, ok := l.st.(store.Folding); ok && len(l.witness) == 0 {
		// Rounds in the appends' own transactions. With witnesses, a
		// checkpoint is published only once they have been asked, which
		// a store's writer must not wait for.
		f.SetRoundFolder(folder{l})
		defer f.SetRoundFolder(nil)
	}
	for {
		n, err := l.Integrate(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			l.failures++
			l.log.Error("sequencing round failed", "err", err, "failures", l.failures)
			select {
			case <-time.After(min(time.Duration(l.failures)*100*time.Millisecond, 5*time.Second)):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		l.failures = 0
		if n > 0 {
			continue
		}
		if _, err := l.Refresh(ctx, false); err != nil && ctx.Err() == nil {
			l.log.Error("refreshing cosignatures", "err", err)
		}
		_, size := l.Checkpoint()
		// Wake up on appends, and now and then in case another process
		// appended to a shared store.
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		l.st.WaitSize(wctx, size)
		cancel()
	}
}

// Integrate runs one sequencing round: it integrates the leaves appended
// since the last round (at most Config.MaxRound), signs, stores, has
// cosigned and publishes a checkpoint. It returns the number of leaves
// integrated.
//
// SPEC: spec/log.md#sequencing
func (l *Log) Integrate(ctx context.Context) (int, error) {
	l.roundMu.Lock()
	defer l.roundMu.Unlock()
	state, err := l.st.State(ctx)
	if err != nil {
		return 0, err
	}
	if l.edge == nil || state.TreeSize != l.edge.size() {
		// Another sequencer moved the tree, or a round failed half-way.
		if l.edge, err = loadEdge(ctx, l.h, state.TreeSize); err != nil {
			return 0, err
		}
	}
	if _, published := l.Checkpoint(); state.Checkpoint != nil && state.TreeSize > published {
		// The stored head may be ahead of the published checkpoint: a
		// replica that takes the lead after the last leader's final round
		// has nothing to integrate, and must not serve an older tree until
		// new leaves come (clients that saw the newer one call that a
		// rollback).
		l.publish(state.Checkpoint, state.TreeSize)
	}
	old := l.edge.size()
	if state.Size <= old {
		return 0, nil
	}
	n := min(state.Size-old, uint64(l.cfg.MaxRound))
	leaves, err := l.st.Leaves(ctx, old, int(n))
	if err != nil {
		return 0, err
	}
	if uint64(len(leaves)) != n {
		return 0, fmt.Errorf("store returned %d leaves from %d, want %d", len(leaves), old, n)
	}
	rd, err := l.nextRound(old, leaves)
	if err != nil {
		return 0, l.reload(ctx, err)
	}
	if err := l.st.Integrate(ctx, rd); err != nil {
		return 0, l.reload(ctx, err)
	}
	l.h.stored(rd.Tiles)
	cp, newSize := rd.Checkpoint, rd.NewSize
	if len(l.witness) > 0 {
		if cosigned := l.cosign(ctx, cp, newSize); cosigned != nil {
			if err := l.st.Cosigned(ctx, newSize, cosigned); err != nil {
				l.log.Error("storing cosignatures", "size", newSize, "err", err)
			} else {
				cp = cosigned
			}
		}
	}
	l.publish(cp, newSize)
	return int(n), nil
}

// folder folds the sequencing round into the store's append transactions
// (store.RoundFolder), while this Log leads and has no witnesses: the
// round of a transaction's leaves is computed as Integrate computes it,
// written in that transaction, and published once it is committed, before
// the appends are answered. When it cannot (a round of Integrate's or a
// cosignature refresh in progress, the tree behind the leaves, more than
// Config.MaxRound leaves), the leaves are left to Integrate.
//
// SPEC: spec/log.md#sequencing
type folder struct{ l *Log }

func (f folder) FoldRound(old uint64, leaves []record.Leaf) (*store.Round, func(bool)) {
	l := f.l
	if len(leaves) == 0 || len(leaves) > l.cfg.MaxRound || !l.roundMu.TryLock() {
		return nil, nil
	}
	if l.edge == nil || l.edge.size() != old {
		l.roundMu.Unlock()
		return nil, nil
	}
	rd, err := l.nextRound(old, leaves)
	if err != nil {
		// The edge may have taken some of the leaves: Integrate reloads
		// it from the store.
		l.edge = nil
		l.roundMu.Unlock()
		l.log.Error("sequencing in the append transaction failed", "err", err)
		return nil, nil
	}
	return rd, func(committed bool) {
		defer l.roundMu.Unlock()
		if !committed {
			l.edge = nil
			return
		}
		l.h.stored(rd.Tiles)
		l.publish(rd.Checkpoint, rd.NewSize)
	}
}

// nextRound integrates leaves, appended from index old, into the edge
// and returns the round: the changed tiles and the signed checkpoint of
// the new size. On error the edge may hold some of the leaves and must be
// reloaded. The caller holds roundMu.
func (l *Log) nextRound(old uint64, leaves []record.Leaf) (*store.Round, error) {
	lh := make([][]byte, len(leaves))
	for i, lf := range leaves {
		lh[i] = LeafHash(record.LeafData(lf))
	}
	tiles, err := l.edge.add(lh)
	if err != nil {
		return nil, err
	}
	root, err := l.edge.root()
	if err != nil {
		return nil, err
	}
	newSize := old + uint64(len(leaves))
	cp, err := signCheckpoint(l.signer, l.cfg.Origin, newSize, root)
	if err != nil {
		return nil, err
	}
	return &store.Round{OldSize: old, NewSize: newSize, Tiles: tiles, Checkpoint: cp}, nil
}

func (l *Log) reload(ctx context.Context, cause error) error {
	state, err := l.st.State(ctx)
	if err == nil {
		l.edge, err = loadEdge(ctx, l.h, state.TreeSize)
	}
	if err != nil {
		return fmt.Errorf("%w (and reloading the tree: %v)", cause, err)
	}
	return cause
}

// Inclusion returns the inclusion proof of leaf index in the tree of size
// size, which must be at most the published size.
func (l *Log) Inclusion(ctx context.Context, index, size uint64) ([][]byte, error) {
	if _, n := l.Checkpoint(); size > n {
		return nil, fmt.Errorf("tree size %d: %w (the log has published %d)", size, ErrNotIntegrated, n)
	}
	if index >= size {
		return nil, fmt.Errorf("leaf %d is not in a tree of size %d: %w", index, size, ErrNotIntegrated)
	}
	return l.h.inclusion(ctx, index, size)
}

// Consistency returns the consistency proof between tree sizes size1 ≤
// size2, both at most the published size.
func (l *Log) Consistency(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if _, n := l.Checkpoint(); size2 > n {
		return nil, fmt.Errorf("tree size %d: %w (the log has published %d)", size2, ErrNotIntegrated, n)
	}
	if size1 > size2 {
		return nil, fmt.Errorf("consistency from size %d to a smaller %d", size1, size2)
	}
	return l.h.consistency(ctx, size1, size2)
}

// Root returns the root hash of the tree of size size, at most the
// published size.
func (l *Log) Root(ctx context.Context, size uint64) ([]byte, error) {
	if _, n := l.Checkpoint(); size > n {
		return nil, fmt.Errorf("tree size %d: %w (the log has published %d)", size, ErrNotIntegrated, n)
	}
	return l.h.root(ctx, size)
}

// Tile returns the hashes of tile (level, index) with at least width
// hashes, truncated to width, within the published tree.
func (l *Log) Tile(ctx context.Context, level int, index uint64, width int) ([]byte, error) {
	_, n := l.Checkpoint()
	// The tile must lie inside the published tree.
	shift := uint(TileHeight * level)
	if level < 0 || shift >= 64 || (n>>shift) < index*store.TileWidth+uint64(width) {
		return nil, fmt.Errorf("tile %d/%d.p/%d: %w", level, index, width, store.ErrNotFound)
	}
	ts, err := l.h.tiles(ctx, []store.TileID{{Level: level, Index: index}}, []int{width})
	if err != nil {
		return nil, err
	}
	return ts[0].Hashes[:32*width], nil
}

// EntryBundle returns the C2SP entry bundle of the width leaves starting at
// index*256, within the published tree.
func (l *Log) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	_, n := l.Checkpoint()
	start := index * store.TileWidth
	if index >= 1<<56 || n < start+uint64(width) {
		return nil, fmt.Errorf("entry bundle %d.p/%d: %w", index, width, store.ErrNotFound)
	}
	leaves, err := l.st.Leaves(ctx, start, width)
	if err != nil {
		return nil, err
	}
	if len(leaves) != width {
		return nil, fmt.Errorf("entry bundle %d: store returned %d leaves, want %d", index, len(leaves), width)
	}
	var b []byte
	for _, lf := range leaves {
		b = AppendEntry(b, record.LeafData(lf))
	}
	return b, nil
}

// DropTileCache empties the log's caches of tiles and of the tree hashes
// computed from them, so that the next proofs read every tile they need
// from the store: a benchmark calls it to measure proofs with the cache
// in the same (cold) state at every size of the log. The log never needs
// it.
func (l *Log) DropTileCache() { l.h.drop() }

// Store returns the store the log is kept in.
func (l *Log) Store() store.Store { return l.st }
