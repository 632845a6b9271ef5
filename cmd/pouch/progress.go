package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"pouch.dev/letter"
)

// A progress shows how far a long piece of work has gone (sealing,
// uploading, downloading, checking, opening a large letter) on standard
// error, when standard error is a terminal: nothing for the first
// second, then one line redrawn in place a few times a second, and
// cleared when the work ends, so that what the verb prints afterwards is
// all that stays. Piped, it writes nothing.
type progress struct {
	w     io.Writer
	on    bool
	now   func() time.Time
	start time.Time

	mu         sync.Mutex
	label      string
	total      int64
	phaseStart time.Time
	shown      bool

	done atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

const (
	progressAfter = time.Second
	progressEvery = 200 * time.Millisecond
)

// newProgress returns the progress display of a verb, on its standard
// error if that is a terminal.
func newProgress(ctx *cmdContext) *progress {
	p := &progress{w: ctx.stderr, on: isTerminal(ctx.stderr), now: time.Now}
	p.start = p.now()
	if p.on {
		p.stop = make(chan struct{})
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			t := time.NewTicker(progressEvery)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					p.draw()
				case <-p.stop:
					return
				}
			}
		}()
	}
	return p
}

// phase starts a step of the work: label says what it is ("sealing"),
// total how many bytes it moves (0 if unknown).
func (p *progress) phase(label string, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.label, p.total, p.phaseStart = label, total, p.now()
	p.done.Store(0)
	p.mu.Unlock()
}

// add counts n more bytes of the phase.
func (p *progress) add(n int64) {
	if p != nil {
		p.done.Add(n)
	}
}

// set says how many bytes of how many the phase has moved, for callers
// that count themselves (client.Client.Progress).
func (p *progress) set(done, total uint64) {
	if p == nil {
		return
	}
	p.done.Store(int64(done))
	if total > 0 {
		p.mu.Lock()
		p.total = int64(total)
		p.mu.Unlock()
	}
}

// draw redraws the line, once the work has taken progressAfter.
func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	done := p.done.Load()
	if !p.on || p.label == "" || done == 0 || now.Sub(p.start) < progressAfter {
		return
	}
	s := "pouch: " + p.label + ": " + letter.Bytes(done)
	if p.total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", letter.Bytes(p.total), done*100/max(p.total, 1))
	}
	if el := now.Sub(p.phaseStart).Seconds(); el >= 0.5 && done > 0 {
		s += ", " + letter.Bytes(int64(float64(done)/el)) + "/s"
	}
	fmt.Fprint(p.w, "\r"+s+"\x1b[K")
	p.shown = true
}

// end stops the display and clears its line.
func (p *progress) end() {
	if p == nil || !p.on {
		return
	}
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// reader counts what is read from r.
func (p *progress) reader(r io.Reader) io.Reader {
	if p == nil || !p.on {
		return r
	}
	return &countingReader{r: r, p: p}
}

type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}

// readerAt counts what is read from r: an attachment, which sealing
// reads twice (to hash it, then to encrypt it).
func (p *progress) readerAt(r io.ReaderAt) io.ReaderAt {
	if p == nil || !p.on {
		return r
	}
	return &countingReaderAt{r: r, p: p}
}

type countingReaderAt struct {
	r io.ReaderAt
	p *progress
}

func (c *countingReaderAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.p.add(int64(n))
	return n, err
}
