package client

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pouch.dev/api"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// View returns the client's View of the server's log, caught up with the
// server's latest checkpoint: the checkpoint verified (log signature,
// witness quorum and freshness as the Trust asks), every leaf since the
// last sync read and hashed to its root, and the tracked records among
// them fetched, matched to their leaves and replayed through the rules. as,
// if not nil, is the principal acting: the private directory records it is
// a party to are fetched too (once per principal, then as the log grows).
//
// Any lie is an error naming it, and nothing of the sync is kept: a fork
// or rollback (*tlog.SplitViewError), a checkpoint without its quorum or
// stale (tlog.ErrNoQuorum, tlog.ErrStale), a public record withheld
// (ErrWithheld), a record or leaf that does not match the log
// (ErrMismatch), times out of their bounds or a record the rules refuse
// (ErrRulesBroken).
//
// SPEC: spec/api.md#verifying-client
func (c *Client) View(ctx context.Context, as *Identity) (*View, error) {
	if c.Trust == nil {
		c.Trust = &Trust{}
	}
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	origin, key, verifier, err := c.anchor(ctx)
	if err != nil {
		return nil, err
	}
	path := c.Trust.viewPath(origin, key)
	unlock, err := lockView(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The View on disk may have moved on since this process read it
	// (another command): read it again. A View kept in memory goes on
	// from the last one this client accepted, never from an empty log:
	// a fork or a rollback since is caught as it is on disk.
	var v *View
	rebuilt := func() error { return nil }
	if last := c.view; path == "" && last != nil && last.Origin == origin && last.LogKey == key {
		if v, err = last.clone(); err == nil {
			v.verifier = verifier
		}
	} else if v, err = loadView(path, origin, key, verifier); err == nil {
		rebuilt = v.rebuildAsync(path)
	}
	if err != nil {
		return nil, err
	}
	changed, err := c.sync(ctx, v, as, rebuilt)
	if rerr := rebuilt(); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	if changed {
		if err := v.save(path); err != nil {
			return nil, fmt.Errorf("keeping what was verified: %w", err)
		}
	}
	c.view = v
	return v, nil
}

// sync catches v up with the server's latest checkpoint; it reports
// whether v changed. rebuilt waits until v's records are replayed (they
// may be replaying still, rebuildAsync): sync reads nothing of v's
// directory or agreements before. On error v is left half-updated and
// must be discarded.
func (c *Client) sync(ctx context.Context, v *View, as *Identity, rebuilt func() error) (bool, error) {
	note, cp, err := c.checkpoint(ctx, v, c.submitted.Load())
	if err != nil {
		return false, err
	}
	now := c.now()
	if v.verifier.Witnessed() {
		if err := v.verifier.CheckFresh(cp, now, c.Trust.maxAge()); err != nil {
			return false, fmt.Errorf("the log's checkpoint: %w", err)
		}
	}
	old := v.Size()
	rng, fresh, err := v.accept(note, cp, func(each func(uint64, []byte) error) error {
		if cp.Size <= old {
			return nil
		}
		return c.entries(ctx, old, cp.Size, each)
	})
	if err != nil {
		return false, err
	}
	if err := v.checkTimes(cp, fresh, c.Trust.maxSkew()); err != nil {
		return false, err
	}

	// The tracked records among the new leaves: every public one must be
	// served; a private one is read if as is a party to it.
	byIndex := map[uint64]tlog.IndexedLeaf{}
	var public []tlog.IndexedLeaf
	var opaque []opaqueLeaf
	for _, l := range fresh.kept {
		// A record every client must read, sequenced as one only its
		// parties may: the server hides it (a revocation, a withdrawal).
		// SPEC: spec/records.md#leaf
		if l.Private && l.Kind.AlwaysPublic() {
			return false, fmt.Errorf("%w: leaf %d is a private %s record (%s), but %s records are public: the server hides from its readers a record they must see",
				ErrRulesBroken, l.Index, l.Kind, l.ID.Short(), l.Kind)
		}
		if !tracked(l.Kind) {
			continue
		}
		byIndex[l.Index] = l
		if l.Private {
			opaque = append(opaque, opaqueLeaf{Index: l.Index, Kind: l.Kind, ID: l.ID, Time: l.Time})
		} else {
			public = append(public, l)
		}
	}
	var proven []provenRecord
	if len(public) > 0 {
		served, err := c.records(ctx, old, cp.Size, nil)
		if err != nil {
			return false, err
		}
		prs, err := prove(served, byIndex)
		if err != nil {
			return false, err
		}
		if err := checkAllServed(public, prs); err != nil {
			return false, err
		}
		proven = append(proven, prs...)
	}
	// Private records: those of the new leaves, and, for a principal not
	// seen before, those of every older leaf this client could not read.
	asOf := uint64(0)
	if as != nil {
		asOf = v.asOf[as.Handle]
		for _, o := range v.opaque {
			if o.Index >= asOf {
				byIndex[o.Index] = tlog.IndexedLeaf{Leaf: record.Leaf{Kind: o.Kind, ID: o.ID, Time: o.Time, Private: true}, Index: o.Index}
			}
		}
		if asOf < cp.Size && (len(opaque) > 0 || v.Opaque(cp.Size) > 0) {
			served, err := c.records(ctx, asOf, cp.Size, as)
			if err != nil {
				return false, err
			}
			if served, err = v.unknown(served); err != nil {
				return false, err
			}
			prs, err := prove(served, byIndex)
			if err != nil {
				return false, err
			}
			proven = append(proven, prs...)
		}
	}

	// Nothing failed: apply it all. A rule refusing a record now means the
	// log holds what the rules refuse. (On error the caller discards v.)
	if err := rebuilt(); err != nil {
		return false, err
	}
	changed := cp.Size != old || string(note) != string(v.note) || len(proven) > 0 || (as != nil && asOf != cp.Size)
	v.note, v.cp, v.rng = note, cp, rng
	if fresh.n > 0 {
		v.lastTime = fresh.last.Time
	}
	v.opaque = append(v.opaque, opaque...)
	if as != nil {
		v.asOf[as.Handle] = cp.Size
	}
	if err := v.add(proven); err != nil {
		return false, err
	}
	if v.Size() > 0 {
		if _, ok := v.dir.Genesis(); !ok {
			return false, fmt.Errorf("%w: the log's first record is not its genesis record", ErrRulesBroken)
		}
	}
	return changed, nil
}

// checkTimes checks the times of the new leaves fresh against the
// witnesses' clocks: each was sequenced no later than the new
// checkpoint's quorum cosigned it, and no earlier than the quorum last
// saw the tree without it (spec/log.md#sequencing-time), with maxSkew of
// clock difference allowed.
func (v *View) checkTimes(cp *tlog.Checkpoint, fresh *newLeaves, maxSkew time.Duration) error {
	if fresh.n == 0 {
		return nil
	}
	first, last := fresh.first, fresh.last
	if cp.Witnessed && !cp.SequencedBy.IsZero() && last.Sequenced().After(cp.SequencedBy.Add(maxSkew)) {
		return fmt.Errorf("%w: leaf %d says it was sequenced at %v, but the witnesses cosigned a tree holding it by %v",
			ErrRulesBroken, last.Index, last.Sequenced(), cp.SequencedBy)
	}
	if v.cp != nil && v.cp.Witnessed && !v.cp.FreshAsOf.IsZero() && first.Sequenced().Before(v.cp.FreshAsOf.Add(-maxSkew)) {
		return fmt.Errorf("%w: leaf %d says it was sequenced at %v, but at %v the witnesses cosigned a tree without it",
			ErrRulesBroken, first.Index, first.Sequenced(), v.cp.FreshAsOf)
	}
	return nil
}

// checkAllServed checks that every public tracked leaf has its record in
// prs.
func checkAllServed(public []tlog.IndexedLeaf, prs []provenRecord) error {
	got := map[uint64]bool{}
	for _, pr := range prs {
		got[pr.Index] = true
	}
	var missing []string
	for _, l := range public {
		if !got[l.Index] {
			missing = append(missing, fmt.Sprintf("%s record %s at index %d", l.Kind, l.ID.Short(), l.Index))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if len(missing) > 3 {
		missing = append(missing[:3], fmt.Sprintf("and %d more", len(missing)-3))
	}
	return fmt.Errorf("%w: the log holds the public %s, which the server did not serve", ErrWithheld, strings.Join(missing, ", "))
}

// fetchers is how many entry bundles a client fetches at once: a first
// sync of a big log reads thousands of them, and one at a time it would
// wait on a round trip for each. At most ahead bundles are held, fetched
// but not yet handed over.
const (
	fetchers = 8
	ahead    = 4 * fetchers
)

// entries fetches the log's entries [from, to) from its entry bundles,
// several at a time (fetchers), and hands each to each in index order, as
// its bundle comes. The first error, in index order, ends it.
func (c *Client) entries(ctx context.Context, from, to uint64, each func(idx uint64, e []byte) error) error {
	if to <= from {
		return nil
	}
	first, last := from/256, (to-1)/256
	type slot struct {
		es   [][]byte
		err  error
		done chan struct{}
	}
	slots := make([]slot, last-first+1)
	for i := range slots {
		slots[i].done = make(chan struct{})
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	tokens := make(chan struct{}, ahead) // a token per bundle held
	var next atomic.Int64
	for range min(fetchers, len(slots)) {
		wg.Go(func() {
			for {
				select {
				case tokens <- struct{}{}:
				case <-ctx.Done():
					return
				}
				i := int(next.Add(1) - 1)
				if i >= len(slots) {
					return
				}
				s := &slots[i]
				s.es, s.err = c.entryBundle(ctx, first+uint64(i), to)
				close(s.done)
				if s.err != nil {
					return
				}
			}
		})
	}
	// Slots are taken in order: one below a slot that failed was taken,
	// and is done in the end, unless ctx ends first.
	for i := range slots {
		s := &slots[i]
		select {
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if s.err != nil {
			return s.err
		}
		for j, e := range s.es {
			if idx := (first+uint64(i))*256 + uint64(j); idx >= from {
				if err := each(idx, e); err != nil {
					return err
				}
			}
		}
		s.es = nil
		<-tokens
	}
	return nil
}

// entryBundle fetches entry bundle n of a log of size to.
func (c *Client) entryBundle(ctx context.Context, n, to uint64) ([][]byte, error) {
	w := min(256, to-n*256)
	tp := tlog.TilePath{Level: tlog.EntriesLevel, Index: n, Width: int(w)}
	var b []byte
	if err := c.do(ctx, "GET", "/"+tp.Path(), nil, "", nil, &b); err != nil {
		return nil, fmt.Errorf("fetching the log's entries %d to %d: %w", n*256, n*256+w, err)
	}
	es, err := tlog.ParseEntryBundle(b)
	if err != nil || uint64(len(es)) != w {
		return nil, fmt.Errorf("%w: entry bundle %d: %d entries (want %d), %v", ErrMismatch, n, len(es), w, err)
	}
	return es, nil
}

// records fetches the tracked records at indexes [from, to): the public
// ones, or with as the private ones as is a party to.
func (c *Client) records(ctx context.Context, from, to uint64, as *Identity) ([]servedRecord, error) {
	kinds := make([]string, len(trackedKinds))
	for i, k := range trackedKinds {
		kinds[i] = string(k)
	}
	var out []servedRecord
	for from < to {
		q := url.Values{"from": {fmt.Sprint(from)}, "to": {fmt.Sprint(to)}, "kind": {strings.Join(kinds, ",")}}
		if as != nil {
			q.Set("private", "1")
		}
		var page api.RecordsPage
		if err := c.do(ctx, "GET", "/v1/log/records?"+q.Encode(), nil, "", as, &page); err != nil {
			return nil, fmt.Errorf("fetching the log's directory records: %w", err)
		}
		for _, rv := range page.Records {
			if rv.Index < from || rv.Index >= to {
				return nil, fmt.Errorf("%w: asked for records from %d to %d, got one at %d", ErrMismatch, from, to, rv.Index)
			}
			out = append(out, servedRecord{Index: rv.Index, Signed: rv.Signed})
		}
		if page.Next == 0 || page.Next <= from {
			break
		}
		from = page.Next
	}
	return out, nil
}

// unknown returns the served records the View does not hold yet; one it
// holds must be served byte for byte as it was proven.
func (v *View) unknown(served []servedRecord) ([]servedRecord, error) {
	var out []servedRecord
	for _, sr := range served {
		i, found := slices.BinarySearchFunc(v.records, sr.Index, func(a provenRecord, idx uint64) int { return cmpIndex(a.Index, idx) })
		if !found {
			out = append(out, sr)
			continue
		}
		if !bytes.Equal(v.records[i].Signed, sr.Signed) {
			return nil, fmt.Errorf("%w: the record at index %d is not the one proven there before", ErrMismatch, sr.Index)
		}
	}
	return out, nil
}

// checkpoint fetches and verifies the log's latest checkpoint, waiting (a
// few seconds at most) for one of at least size leaves, and of at least
// the View's: the records this client just wrote are then in the tree it
// proves things in, and a replica that follows the sequencer a moment
// behind (spec/log.md#replicas) is given that moment before an older
// tree is judged a rollback.
func (c *Client) checkpoint(ctx context.Context, v *View, size uint64) ([]byte, *tlog.Checkpoint, error) {
	size = max(size, v.Size())
	for try := 0; ; try++ {
		var note []byte
		if err := c.do(ctx, "GET", "/checkpoint", nil, "", nil, &note); err != nil {
			return nil, nil, fmt.Errorf("fetching the log's checkpoint: %w", err)
		}
		cp, err := v.verifier.Open(note)
		if err != nil {
			// A checkpoint older than the records this client wrote may
			// lack what the policy requires (the empty tree's, signed
			// before a replica took the lead and had it cosigned): wait
			// for a newer one, and judge that. The log's own signature
			// tells its size; nothing is taken from it.
			lv := &tlog.Verifier{Origin: v.verifier.Origin, Log: v.verifier.Log}
			if old, lerr := lv.Open(note); lerr == nil && old.Size < size && try < 3 {
				c.waitIntegrated(ctx, size-1)
				continue
			}
			return nil, nil, fmt.Errorf("the log's checkpoint: %w", err)
		}
		if cp.Size >= size || try == 3 {
			return note, cp, nil
		}
		c.waitIntegrated(ctx, size-1)
	}
}

// waitIntegrated asks the server to wait until its published tree covers
// leaf index (it answers when it does, or after its own bound).
func (c *Client) waitIntegrated(ctx context.Context, index uint64) {
	var inc api.InclusionProof
	c.do(ctx, "GET", fmt.Sprintf("/v1/log/proof/inclusion?index=%d&wait=1", index), nil, "", nil, &inc)
}
