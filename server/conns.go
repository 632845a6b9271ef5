package server

import (
	"container/list"
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPServer returns an http.Server for h with the limits of this package:
// header size, read, write and idle timeouts, and, for connections
// accepted through Listen, the connection cap.
//
// SPEC: spec/api.md#limits
func (l *Limits) HTTPServer(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    MaxHeaderBytes,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		ErrorLog:          errorLog,
		ConnState:         connState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if lc, ok := c.(*limConn); ok {
				return context.WithValue(ctx, connKey{}, lc)
			}
			return ctx
		},
	}
}

// connKey is the request context key of the request's *limConn.
type connKey struct{}

// evictFirst marks the connection of r as the first to evict at the cap:
// r was refused before its body was read, so net/http will close the
// connection once it has lingered a moment for the client to read the
// answer. Under a flood of such requests, lingering connections would
// otherwise fill the cap and push out the idle connections of clients
// that behave.
func evictFirst(r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(*limConn)
	if c == nil {
		return
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if !c.closed && c.elem == nil {
		c.elem = c.l.idle.PushFront(c)
	}
}

// Listen returns ln with the connection cap: at the cap, a new
// connection evicts the connection idle the longest, or, if none is
// idle, is answered 503 and closed. The http.Server must be the one
// HTTPServer returns, whose ConnState hook tells the listener which
// connections are idle.
func (l *Limits) Listen(ln net.Listener) net.Listener {
	return &connLimiter{Listener: ln, b: l.conns, idle: list.New(), evicted: l.evicted}
}

// A connLimiter is a net.Listener that caps open connections, evicting
// idle ones at the cap rather than leaving new ones waiting in the
// kernel's queue, as netutil.LimitListener does.
type connLimiter struct {
	net.Listener
	b       *budget
	evicted interface{ Inc() }

	mu        sync.Mutex
	open      int64
	idle      *list.List // *limConn, idle the longest first
	rejecting atomic.Int64
}

// A limConn is one accepted connection.
type limConn struct {
	net.Conn
	l      *connLimiter
	elem   *list.Element // in l.idle, if idle; guarded by l.mu
	closed bool          // guarded by l.mu
}

// maxRejecting bounds the connections being answered 503 at once; beyond
// it they are closed without an answer.
const maxRejecting = FDHeadroom / 2

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limConn{Conn: c, l: l}
		l.mu.Lock()
		var victim *limConn
		if l.open >= l.b.cap {
			if e := l.idle.Front(); e != nil {
				victim = e.Value.(*limConn)
				l.forgetLocked(victim)
			}
		}
		if l.open >= l.b.cap {
			l.mu.Unlock()
			l.b.refus.Inc()
			l.reject(c)
			continue
		}
		l.open++
		l.b.used.Store(l.open)
		l.b.taken.Set(float64(l.open))
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Inc()
			victim.Conn.Close()
		}
		return lc, nil
	}
}

// forgetLocked counts c closed. The caller holds l.mu.
func (l *connLimiter) forgetLocked(c *limConn) {
	if c.closed {
		return
	}
	c.closed = true
	if c.elem != nil {
		l.idle.Remove(c.elem)
		c.elem = nil
	}
	l.open--
	l.b.used.Store(l.open)
	l.b.taken.Set(float64(l.open))
}

// reject answers c 503 and closes it, without holding up Accept.
func (l *connLimiter) reject(c net.Conn) {
	if l.rejecting.Add(1) > maxRejecting {
		l.rejecting.Add(-1)
		c.Close()
		return
	}
	go func() {
		defer l.rejecting.Add(-1)
		defer c.Close()
		body := fmt.Sprintf(`{"error": "the server has %d connections open, its limit: none is idle to make room", "hint": "retry in a moment", "code": "busy"}`+"\n", l.b.cap)
		c.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
			int(RetryAfter.Seconds()), len(body), body)
	}()
}

// Read takes the connection off the idle list as soon as it reads a byte
// of a request, before net/http marks it active (StateActive, once the
// request's head is parsed). An eviction in between closed a connection
// whose request net/http then handled: the record was accepted, its
// answer lost, and the client, seeing the connection closed, sent it
// again and was told it is a replay. Now a connection evicted before
// its bytes are taken reads nothing, so its request is not handled, and
// one whose bytes are taken is no longer idle.
func (c *limConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		l := c.l
		l.mu.Lock()
		closed := c.closed
		if !closed && c.elem != nil {
			l.idle.Remove(c.elem)
			c.elem = nil
		}
		l.mu.Unlock()
		if closed {
			return 0, net.ErrClosed
		}
	}
	return n, err
}

func (c *limConn) Close() error {
	c.l.mu.Lock()
	c.l.forgetLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite half-closes the connection, as net/http does before it
// closes one whose request it did not read to the end: the client then
// reads the answer rather than a reset.
func (c *limConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// connState is the http.Server's ConnState hook: it keeps the limiter's
// list of idle connections, longest idle first. A connection that has
// sent nothing yet counts as idle; one that has sent a byte of its next
// request does not (limConn.Read).
func connState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*limConn)
	if !ok {
		return
	}
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.closed {
		return
	}
	if c.elem != nil {
		l.idle.Remove(c.elem)
		c.elem = nil
	}
	if s == http.StateNew || s == http.StateIdle {
		c.elem = l.idle.PushBack(c)
	}
}
