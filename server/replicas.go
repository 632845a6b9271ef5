package server

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"pouch.dev/internal/httpsig"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/store"
)

// Replicas: several pouch servers over one shared store (PostgreSQL).
// What one process would keep in memory, and the replicas must share,
// the store keeps when it offers it: the request nonces seen
// (store.Nonces), where each secure line meets (store.Replicas), and
// which replica sequences (store.Leader, in package tlog).
//
// SPEC: spec/store.md#replicas

// HeartbeatEvery is how often a replica tells the store it is alive;
// HeartbeatTTL is how long the store believes it after.
const (
	HeartbeatEvery = time.Second
	HeartbeatTTL   = 3 * time.Second
)

// checkNonce refuses a request signature created outside the window or
// whose nonce was seen, by this replica or, over a shared store, by any.
//
// SPEC: spec/api.md#authentication
func (c *Correspondence) checkNonce(ctx context.Context, sg *httpsig.Signed) error {
	ns, ok := c.st.(store.Nonces)
	if !ok {
		return c.replay.Check(sg, c.now())
	}
	if err := httpsig.CheckWindow(sg, c.now()); err != nil {
		return err
	}
	err := ns.UseNonce(ctx, httpsig.NonceKey(sg), sg.Created.Add(2*httpsig.Window))
	if errors.Is(err, store.ErrNonceUsed) {
		return httpsig.ErrReplay
	}
	return err
}

// shareLines makes the line relay r share its nonces with the other
// replicas, and forward a line's second end to the replica where the
// first waits.
//
// SPEC: spec/line.md#replicas
func (c *Correspondence) shareLines(r *line.Relay) {
	if ns, ok := c.st.(store.Nonces); ok {
		r.UseNonce = func(ctx context.Context, nonce []byte, expires time.Time) error {
			err := ns.UseNonce(ctx, "line "+hex.EncodeToString(nonce), expires)
			if errors.Is(err, store.ErrNonceUsed) {
				return line.ErrReplay
			}
			return err
		}
	}
	rs, ok := c.st.(store.Replicas)
	if !ok || c.opt.Advertise == "" {
		return
	}
	self := c.opt.Advertise
	ttl := line.DefaultWaitTimeout + 30*time.Second
	r.Meet = func(ctx context.Context, a, b record.Handle) (string, func(), error) {
		key := "line " + string(min(a, b)) + " " + string(max(a, b))
		at, err := rs.Meet(ctx, key, self, ttl)
		if err != nil {
			return "", nil, err
		}
		if at != self {
			return at, nil, nil
		}
		return "", func() {
			lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := rs.Leave(lctx, key, self); err != nil {
				c.log.Warn("line: leaving its meeting place", "err", err)
			}
		}, nil
	}
}

// heartbeat registers this replica with a shared store until ctx is done,
// then departs.
func (c *Correspondence) heartbeat(ctx context.Context, rs store.Replicas) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			rs.Depart(dctx, c.opt.Advertise)
			cancel()
			return
		case <-t.C:
			if err := rs.Heartbeat(ctx, c.opt.Advertise, HeartbeatTTL); err != nil && ctx.Err() == nil {
				c.log.Warn("replica heartbeat", "err", err)
			}
		}
	}
}

// wakeStreams wakes this replica's inbox streams when a record of a pouch
// is appended, by this replica or any other sharing the store, until ctx
// is done: it follows the log's size (store.WaitSize, which PostgreSQL
// wakes with a notification that carries the new size, not the record),
// reads the leaves' kinds, and loads the pouches of those that concern
// one. A stream may be woken twice for a record this replica appended;
// it sends the pouch's state as it is then, which is the same.
func (c *Correspondence) wakeStreams(ctx context.Context) {
	st, err := c.st.State(ctx)
	if err != nil {
		c.log.Error("inbox streams: reading the log's size", "err", err)
		return
	}
	from := st.Size
	for ctx.Err() == nil {
		n, err := c.st.WaitSize(ctx, from)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
				return
			}
			c.log.Warn("inbox streams: waiting for records", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		for from < n && ctx.Err() == nil {
			leaves, err := c.st.Leaves(ctx, from, int(min(n-from, store.MaxList)))
			if err != nil || len(leaves) == 0 {
				break
			}
			if c.broker.any() {
				for i, lf := range leaves {
					if lf.Kind == record.KindTag || slices.Contains(pouchKinds, lf.Kind) {
						c.wakeFor(ctx, from+uint64(i))
					}
				}
			}
			from += uint64(len(leaves))
		}
	}
}

// wakeFor wakes the streams of the pouch that the record at idx concerns.
func (c *Correspondence) wakeFor(ctx context.Context, idx uint64) {
	e, err := c.st.GetByIndex(ctx, idx)
	if err != nil {
		return
	}
	pid := e.ID
	if e.Kind != record.KindTag {
		if len(e.Refs) == 0 {
			return
		}
		pid = e.Refs[0]
	}
	p, err := c.loadPouch(ctx, pid)
	if err != nil {
		return
	}
	c.dirMu.RLock()
	c.notifyPouch(p)
	c.dirMu.RUnlock()
}
