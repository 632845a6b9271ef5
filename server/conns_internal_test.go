package server

import (
	"container/list"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// readConn is a net.Conn whose Read runs before, then gives "GET".
type readConn struct {
	net.Conn
	before func()
}

func (c *readConn) Read(p []byte) (int, error) {
	c.before()
	return copy(p, "GET"), nil
}

func (c *readConn) Close() error { return nil }

// A connection is idle, and may be evicted at the cap, until it reads a
// byte of a request; one evicted before it took its bytes reads nothing,
// so that no request of a connection closed under it is handled (its
// answer would be lost, and the client would send it again).
func TestEvictionRace(t *testing.T) {
	newLimiter := func() *connLimiter {
		return &connLimiter{b: NewLimits(nil).conns, idle: list.New(), evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})}
	}

	// Bytes read: no longer idle, so nothing to evict.
	l := newLimiter()
	c := &limConn{l: l}
	c.Conn = &readConn{before: func() {}}
	l.open = 1
	connState(c, http.StateIdle)
	if l.idle.Len() != 1 {
		t.Fatalf("an idle connection is not on the idle list (%d)", l.idle.Len())
	}
	if n, err := c.Read(make([]byte, 8)); n != 3 || err != nil {
		t.Fatalf("Read = %d, %v; want 3 bytes", n, err)
	}
	if l.idle.Len() != 0 || c.elem != nil {
		t.Errorf("a connection that read a request's bytes is still on the idle list")
	}

	// Evicted while its bytes were being read: it reads nothing.
	l = newLimiter()
	c = &limConn{l: l}
	c.Conn = &readConn{before: func() {
		l.mu.Lock()
		victim := l.idle.Front().Value.(*limConn)
		l.forgetLocked(victim)
		l.mu.Unlock()
	}}
	l.open = 1
	connState(c, http.StateIdle)
	if n, err := c.Read(make([]byte, 8)); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read on an evicted connection = %d, %v; want nothing and net.ErrClosed", n, err)
	}
}
