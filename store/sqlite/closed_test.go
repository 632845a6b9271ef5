package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
)

// An Append after Close fails at once with store.ErrClosed, every time:
// it is not queued for the writer that is gone, to wait for its context.
func TestAppendAfterClose(t *testing.T) {
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		e := &store.Entry{Kind: record.KindCustody, Signed: []byte("r"), Parties: []record.Handle{"ir/president"}}
		e.ID[0], e.ID[1] = 0xc1, byte(i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.Append(ctx, []*store.Entry{e})
		cancel()
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("append %d after Close: %v, want %v", i, err, store.ErrClosed)
		}
	}
}
