package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"pouch.dev/store"
)

// Replicas: what the pouch servers sharing one database share besides
// the log (spec/store.md#replicas). The lead is a session-level advisory
// lock on a connection of its own; the request nonces, the registry of
// replicas and the lines' meeting places are tables. Every time is the
// database's clock.

var (
	_ store.Leader   = (*Store)(nil)
	_ store.Nonces   = (*Store)(nil)
	_ store.Replicas = (*Store)(nil)
)

// migrationReplicas is schema version 2: the tables of the replicas.
const migrationReplicas = `
-- Nonces of signed requests and line requests, shared by the replicas.
CREATE TABLE nonces (
	key     text COLLATE "C" PRIMARY KEY,
	expires timestamptz NOT NULL
);
CREATE INDEX nonces_expires ON nonces (expires);
-- The replicas alive: each refreshes its row (heartbeat).
CREATE TABLE replicas (
	addr    text COLLATE "C" PRIMARY KEY, -- base URL the others reach it at
	expires timestamptz NOT NULL
);
-- Where the two ends of a secure line meet: the replica that holds the key.
CREATE TABLE meetings (
	key     text COLLATE "C" PRIMARY KEY,
	at      text COLLATE "C" NOT NULL,
	expires timestamptz NOT NULL
);
`

// lockClassLeader is the advisory lock class of the sequencer's lead
// (with key 1).
const lockClassLeader = 0x706f7503

// Lead timing: how often a replica that waits tries the lock, how often
// the leader checks its connection, and how long a check may take. With
// the keepalives of the lead's connection (keepalive), a leader that dies
// or is cut off loses the lock within about 3 seconds, on both sides.
const (
	leadTry     = 250 * time.Millisecond
	leadPing    = 500 * time.Millisecond
	leadTimeout = 1500 * time.Millisecond
)

// leadConn opens the connection that holds the lead: outside the pool,
// with TCP keepalives short on both sides, so that the database drops a
// dead leader's session, and its lock, in seconds, and the leader learns
// as soon that its connection is gone.
func (s *Store) leadConn(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.cfg.ConnConfig.Copy()
	d := &net.Dialer{
		Timeout:         s.opt.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 2},
	}
	cfg.DialFunc = d.DialContext
	// SPEC: spec/store.md#replicas
	cfg.RuntimeParams["tcp_keepalives_idle"] = "1"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "1"
	cfg.RuntimeParams["tcp_keepalives_count"] = "2"
	cfg.RuntimeParams["tcp_user_timeout"] = "3000"
	cfg.RuntimeParams["application_name"] = "pouch sequencer lead"
	return pgx.ConnectConfig(ctx, cfg)
}

// Lead implements store.Leader: it blocks until this store holds the
// database's sequencer lock, a session-level advisory lock on a
// connection of its own.
func (s *Store) Lead(ctx context.Context) (<-chan struct{}, func(), error) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	t := time.NewTicker(leadTry)
	defer t.Stop()
	for {
		if s.closed() {
			return nil, nil, store.ErrClosed
		}
		var err error
		if conn == nil {
			if conn, err = s.leadConn(ctx); err != nil && ctx.Err() == nil {
				conn = nil
				err = fmt.Errorf("connecting for the sequencer's lock: %w", err)
			}
		}
		if conn != nil {
			var got bool
			qctx, cancel := context.WithTimeout(ctx, leadTimeout)
			err = conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1, 1)`, lockClassLeader).Scan(&got)
			cancel()
			if err == nil && got {
				lost, release := s.hold(conn)
				conn = nil
				return lost, release, nil
			}
			if err != nil {
				conn.Close(context.Background())
				conn = nil
			}
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		_ = err // a failed try is tried again; the database may be coming back
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-s.closing:
			return nil, nil, store.ErrClosed
		}
	}
}

// hold watches the connection that holds the lock, closing lost when it
// fails a check, and returns release, which ends the session and so
// frees the lock.
func (s *Store) hold(conn *pgx.Conn) (<-chan struct{}, func()) {
	lost := make(chan struct{})
	stop := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lost)
		t := time.NewTicker(leadPing)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-s.closing:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), leadTimeout)
			_, err := conn.Exec(ctx, `SELECT 1`)
			cancel()
			if err != nil {
				return
			}
		}
	}()
	release := func() {
		once.Do(func() {
			close(stop)
			<-done
			ctx, cancel := context.WithTimeout(context.Background(), leadTimeout)
			defer cancel()
			conn.Close(ctx) // the session ends: the lock is free
		})
	}
	return lost, release
}

// UseNonce implements store.Nonces.
func (s *Store) UseNonce(ctx context.Context, key string, expires time.Time) error {
	s.sweepNonces(ctx)
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO nonces (key, expires) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET expires = EXCLUDED.expires
		WHERE nonces.expires < now()`, key, expires)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNonceUsed
	}
	return nil
}

// nonceSweep is how often expired nonces are deleted.
const nonceSweep = time.Minute

// sweepNonces deletes expired nonces, at most once a nonceSweep per
// store.
func (s *Store) sweepNonces(ctx context.Context) {
	s.mu.Lock()
	due := time.Since(s.swept) > nonceSweep
	if due {
		s.swept = time.Now()
	}
	s.mu.Unlock()
	if due {
		s.pool.Exec(ctx, `DELETE FROM nonces WHERE expires < now()`)
		s.pool.Exec(ctx, `DELETE FROM meetings WHERE expires < now()`)
		s.pool.Exec(ctx, `DELETE FROM replicas WHERE expires < now() - interval '1 hour'`)
	}
}

// Heartbeat implements store.Replicas.
func (s *Store) Heartbeat(ctx context.Context, addr string, ttl time.Duration) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO replicas (addr, expires) VALUES ($1, now() + $2 * interval '1 millisecond')
		ON CONFLICT (addr) DO UPDATE SET expires = EXCLUDED.expires`, addr, ttl.Milliseconds())
	return classify(err)
}

// Depart implements store.Replicas.
func (s *Store) Depart(ctx context.Context, addr string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM replicas WHERE addr = $1`, addr)
	return classify(err)
}

// Meet implements store.Replicas. The claim is one upsert: it takes the
// key if no claim holds it, the claim expired, the claim is self's, or
// its replica's heartbeat expired; concurrent claims serialise on the
// row.
func (s *Store) Meet(ctx context.Context, key, self string, ttl time.Duration) (string, error) {
	for range 3 {
		var at string
		err := s.pool.QueryRow(ctx, `
			INSERT INTO meetings (key, at, expires) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
			ON CONFLICT (key) DO UPDATE SET at = EXCLUDED.at, expires = EXCLUDED.expires
			WHERE meetings.expires < now() OR meetings.at = EXCLUDED.at
				OR NOT EXISTS (SELECT 1 FROM replicas r WHERE r.addr = meetings.at AND r.expires > now())
			RETURNING at`, key, self, ttl.Milliseconds()).Scan(&at)
		if err == nil {
			return at, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", classify(err)
		}
		// Another live replica holds it: which?
		err = s.pool.QueryRow(ctx, `SELECT at FROM meetings WHERE key = $1`, key).Scan(&at)
		if err == nil {
			return at, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", classify(err)
		}
		// It left meanwhile: claim again.
	}
	return "", fmt.Errorf("meeting place %q: claims kept changing; try again", key)
}

// Leave implements store.Replicas.
func (s *Store) Leave(ctx context.Context, key, self string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM meetings WHERE key = $1 AND at = $2`, key, self)
	return classify(err)
}
