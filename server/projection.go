package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/record"
	"pouch.dev/store"
)

// This file keeps the server's one piece of state in memory, the
// directory and the agreements (the projection of the log's directory and
// agreement records), in log order whoever appended them: at start-up it
// replays those records alone (the records_kind index), and a goroutine
// then follows the log (follow) and applies every new one, including those
// other server processes sharing the store append. Pouches are not kept in
// memory (pouches.go).
//
// A record's rules are judged at its place in the log (store.Entry.Check).
// Those that read the projection first make sure no directory or
// agreement record was sequenced between what the projection holds and
// that place (changedBelow); if one was, the record is refused with
// errStale, the projection catches up, and the record is judged again, a
// bounded number of times (retryStale).

// projectedKinds are the kinds of record the projection applies.
var projectedKinds = append([]record.Kind{record.KindGenesis, record.KindHouse, record.KindAdmit, record.KindKeyRevoke,
	record.KindGrant, record.KindGrantRevoke}, agreement.Kinds...)

// errStale: a directory or agreement record was sequenced after what this
// server's state holds and before the record judged; judge it again.
var errStale = errors.New("the directory changed while the record was judged")

// maxStaleRetries bounds how many times a record is judged again after
// errStale.
const maxStaleRetries = 5

// checkReadTimeout bounds a store read made inside an entry's Check.
const checkReadTimeout = 5 * time.Second

// A projection is where the directory and the agreements stand.
type projection struct {
	// applied: every directory and agreement record below this index has
	// been applied. It moves forward only: under dirMu held for writing
	// (directory records, follow), or for reading with the agreements'
	// lock (agreement records, which change no directory).
	applied atomic.Uint64
	// catchMu serialises catch-ups.
	catchMu sync.Mutex
	// caught counts the records catch-ups have applied: those appended
	// by other server processes sharing the store. retryStale compares
	// it before and after a refusal.
	caught atomic.Uint64

	// The leaves scanned by changedBelow: those below upTo, and among
	// them the directory and agreement records at or above applied.
	scanMu sync.Mutex
	upTo   uint64
	found  []scanned
}

type scanned struct {
	index uint64
	kind  record.Kind
}

// advance moves applied to at least idx.
func (p *projection) advance(idx uint64) {
	for {
		cur := p.applied.Load()
		if cur >= idx || p.applied.CompareAndSwap(cur, idx) {
			return
		}
	}
}

// replayProjection applies the stored directory and agreement records in
// log order, at start-up.
func (c *Correspondence) replayProjection(ctx context.Context) (int, error) {
	st, err := c.st.State(ctx)
	if err != nil {
		return 0, fmt.Errorf("server: reading the log's state: %w", err)
	}
	var from uint64
	n := 0
	for {
		rs, err := c.st.List(ctx, store.Query{Kinds: projectedKinds, From: from})
		if err != nil {
			return n, fmt.Errorf("server: reading the log to rebuild the directory: %w", err)
		}
		for _, e := range rs {
			if err := c.applyProjected(e); err != nil {
				if e.Index == 0 {
					return n, fmt.Errorf("server: the log's genesis record: %w", err)
				}
				c.log.Error("stored record does not apply", "index", e.Index, "kind", e.Kind, "err", err)
			}
			from = e.Index + 1
			n++
		}
		if len(rs) < store.MaxList {
			break
		}
	}
	c.proj.advance(max(st.Size, from))
	return n, nil
}

// applyProjected applies a stored directory or agreement record. The
// caller holds dirMu for writing, or runs alone.
func (c *Correspondence) applyProjected(e *store.Stored) error {
	s, r, err := record.Parse(e.Signed)
	if err != nil {
		return err
	}
	pos := directory.Pos{Index: e.Index, Time: e.Time}
	if directory.IsDirectoryKind(r.Kind) {
		return c.dir.Apply(s, r, pos)
	}
	return c.agreements.applyStored(s, pos)
}

// catchUp applies the directory and agreement records the log holds
// beyond the projection, whoever appended them, and returns how many it
// applied.
func (c *Correspondence) catchUp(ctx context.Context) (int, error) {
	p := &c.proj
	p.catchMu.Lock()
	defer p.catchMu.Unlock()
	st, err := c.st.State(ctx)
	if err != nil {
		return 0, err
	}
	from := p.applied.Load()
	if st.Size <= from {
		return 0, nil
	}
	// The leaves tell the kinds (the store keeps the recent ones in
	// memory): when none is projected, as under a stream of pouches,
	// there is nothing to list.
	if n := st.Size - from; n <= store.MaxList {
		ls, err := c.st.Leaves(ctx, from, int(n))
		if err != nil {
			return 0, err
		}
		if uint64(len(ls)) == n && !slices.ContainsFunc(ls, func(l record.Leaf) bool { return slices.Contains(projectedKinds, l.Kind) }) {
			p.advance(st.Size)
			return 0, nil
		}
	}
	// Read without the lock, which requests wait on; applied under it.
	var rs []*store.Stored
	for next := from; ; {
		page, err := c.st.List(ctx, store.Query{Kinds: projectedKinds, From: next, Before: st.Size})
		if err != nil {
			return 0, err
		}
		rs = append(rs, page...)
		if len(page) < store.MaxList {
			break
		}
		next = page[len(page)-1].Index + 1
	}
	if len(rs) == 0 {
		// Nothing to apply: no lock that requests would wait on.
		p.advance(st.Size)
		return 0, nil
	}
	c.dirMu.Lock()
	defer c.dirMu.Unlock()
	n := 0
	for _, e := range rs {
		if e.Index < p.applied.Load() || (directory.IsDirectoryKind(e.Kind) && e.Index < c.dir.Next()) ||
			(agreement.IsKind(e.Kind) && e.Index < c.agreements.applied()) {
			continue // applied by the request that appended it
		}
		if err := c.applyProjected(e); err != nil {
			c.log.Error("record appended by another server does not apply", "index", e.Index, "kind", e.Kind, "err", err)
		}
		n++
		p.advance(e.Index + 1)
	}
	p.caught.Add(uint64(n))
	p.advance(st.Size)
	return n, nil
}

// follow keeps the projection caught up with the log until the store
// closes.
func (c *Correspondence) follow() {
	ctx := context.Background()
	for {
		_, err := c.st.WaitSize(ctx, c.proj.applied.Load())
		if err == nil {
			_, err = c.catchUp(ctx)
		}
		if errors.Is(err, store.ErrClosed) {
			return
		}
		if err != nil {
			c.log.Error("following the log", "err", err)
			time.Sleep(time.Second)
			continue
		}
		// At most one catch-up per followEvery, however fast records
		// come: a record's own check never waits for it (changedBelow).
		time.Sleep(followEvery)
	}
}

// followEvery paces the goroutine that follows the log.
const followEvery = 5 * time.Millisecond

// changedBelow returns errStale if a record of a kind that match selects
// was sequenced at or above the projection's applied index and below
// idx: the projection is then not the state as of idx. It reads the
// leaves in between (their kind is in the leaf), remembering what it read.
//
// A store calls an entry's Check with every leaf below its index
// committed and readable but those of entries appended in the same group
// commit by this process (spec/store.md#append), which are never
// directory records (those are appended under dirMu held for writing)
// nor, for an agreement record's check, agreement records (appended under
// the agreements' lock).
func (c *Correspondence) changedBelow(idx uint64, match func(record.Kind) bool) error {
	p := &c.proj
	a := p.applied.Load()
	if idx <= a {
		return nil
	}
	p.scanMu.Lock()
	defer p.scanMu.Unlock()
	p.upTo = max(p.upTo, a)
	k := 0
	for _, f := range p.found {
		if f.index >= a {
			p.found[k] = f
			k++
		}
	}
	p.found = p.found[:k]
	ctx, cancel := context.WithTimeout(context.Background(), checkReadTimeout)
	defer cancel()
	for p.upTo < idx {
		n := int(min(idx-p.upTo, 1024))
		ls, err := c.st.Leaves(ctx, p.upTo, n)
		if err != nil {
			return &storeFailure{err}
		}
		for i, l := range ls {
			if directory.IsDirectoryKind(l.Kind) || agreement.IsKind(l.Kind) {
				p.found = append(p.found, scanned{p.upTo + uint64(i), l.Kind})
			}
		}
		p.upTo += uint64(len(ls))
		if len(ls) < n {
			break
		}
	}
	for _, f := range p.found {
		if f.index < idx && match(f.kind) {
			return errStale
		}
	}
	return nil
}

// dirChanged selects the directory's kinds, for changedBelow.
func dirChanged(k record.Kind) bool { return directory.IsDirectoryKind(k) }

// projectionChanged selects the directory's and the agreements' kinds.
func projectionChanged(k record.Kind) bool {
	return directory.IsDirectoryKind(k) || agreement.IsKind(k)
}

// retryStale runs submit, which takes and releases its locks, and judges
// the record again, a bounded number of times, after catching up with the
// log: while it fails with errStale (a directory or agreement record came
// between the state held and the record's place), and once if a rule
// refused it and a catch-up applied something since it was judged
// (another server admitted the signer a moment ago, say: this catch-up,
// or the goroutine following the log, applied it), so that a server that
// lags behind the log neither accepts nor refuses on an old state.
func (c *Correspondence) retryStale(ctx context.Context, submit func() (*api.Accepted, error)) (*api.Accepted, error) {
	for try := 0; ; try++ {
		seen := c.proj.caught.Load()
		a, err := submit()
		if err == nil {
			return a, nil
		}
		stale := errors.Is(err, errStale)
		var sf *storeFailure
		if !stale && (errors.As(err, &sf) || errors.Is(err, store.ErrDuplicate) || ctx.Err() != nil) {
			return nil, err
		}
		if try == maxStaleRetries {
			if stale {
				return nil, errorf(http.StatusServiceUnavailable, "retry: the directory is changing fast", "%w (%d times)", err, try+1)
			}
			return nil, err
		}
		if _, cerr := c.catchUp(ctx); cerr != nil {
			return nil, &storeFailure{cerr}
		}
		if !stale && c.proj.caught.Load() == seen {
			return nil, err // the refusal stands: the state was the log's
		}
	}
}
