package sqlite

import (
	"testing"
	"time"
)

// TestBacklogged: the checkpointer spaces its checkpoints out only while
// appends are waiting and have been without a break for
// checkpointBacklog; an idle writer, or one that found its queue empty
// a moment ago, is not backlogged.
func TestBacklogged(t *testing.T) {
	s := &Store{reqs: make(chan *writeReq, 1)}
	long := time.Now().Add(-2 * checkpointBacklog).UnixNano()
	for _, c := range []struct {
		name     string
		caughtUp int64
		waiting  bool
		want     bool
	}{
		{"idle for long", long, false, false},
		{"appends waiting since long", long, true, true},
		{"appends waiting, queue empty a moment ago", time.Now().UnixNano(), true, false},
	} {
		s.caughtUp.Store(c.caughtUp)
		if c.waiting {
			s.reqs <- &writeReq{}
		}
		if got := s.backlogged(); got != c.want {
			t.Errorf("%s: backlogged() = %v, want %v", c.name, got, c.want)
		}
		if c.waiting {
			<-s.reqs
		}
	}
}
