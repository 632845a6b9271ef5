package scenario

import (
	"errors"
	"sync"
	"testing"

	"pouch.dev/client"
	"pouch.dev/internal/httpsig"
	"pouch.dev/ledger"
	"pouch.dev/record"
)

// TestPublishRevealsOnlyTheRecord publishes scene 1's tag, then its
// delivery receipt: each becomes readable by anyone, with its proof, and
// nothing else does: not the tag's payload, not the pouch's route and
// custody chain, not the pouch's other custody records. Parties still
// read everything; a third state reads nothing more than the public.
//
// SPEC: spec/api.md#publish
func TestPublishRevealsOnlyTheRecord(t *testing.T) {
	w, _ := start(t)
	c := ctx(t)
	if err := Play(c, w, 1); err != nil {
		t.Fatal(err)
	}
	pouch := w.Facts["scene1.pouch"]
	leader, duma, us := w.ID("ir/leader"), w.ID("ru/duma-chair"), w.ID("us/president")
	pv, err := w.Client.Pouch(c, pouch, leader)
	if err != nil || len(pv.Custody) != 2 {
		t.Fatalf("the pouch as its sender sees it: %+v %v", pv, err)
	}
	taken, receipt := pv.Custody[0].ID, pv.Custody[1].ID

	hidden := func(when string) {
		t.Helper()
		if _, err := w.Client.Payload(c, pouch, nil); !errors.Is(err, httpsig.ErrUnsigned) {
			t.Errorf("%s: the payload, unsigned: %v, want a refusal (unsigned)", when, err)
		}
		if _, err := w.Client.Pouch(c, pouch, nil); !errors.Is(err, httpsig.ErrUnsigned) {
			t.Errorf("%s: the custody chain, unsigned: %v, want a refusal (unsigned)", when, err)
		}
		if _, err := w.Client.Record(c, taken, nil); !errors.Is(err, httpsig.ErrUnsigned) {
			t.Errorf("%s: the envoy's custody record, unsigned: %v, want a refusal (unsigned)", when, err)
		}
		if _, err := w.Client.Payload(c, pouch, us); !errors.Is(err, client.ErrForbidden) {
			t.Errorf("%s: the payload, to a third state: %v, want 403", when, err)
		}
		if _, err := w.Client.Pouch(c, pouch, us); !errors.Is(err, client.ErrForbidden) {
			t.Errorf("%s: the custody chain, to a third state: %v, want 403", when, err)
		}
		if b, err := w.Client.Payload(c, pouch, leader); err != nil || len(b) == 0 {
			t.Errorf("%s: the payload, to its sender: %d bytes, %v", when, len(b), err)
		}
	}
	public := func(id record.ID, kind record.Kind) {
		t.Helper()
		v, err := w.Client.Record(c, id, nil)
		if err != nil || !v.Public || v.PublishedBy == nil {
			t.Fatalf("published %s record %s, unsigned: %+v %v", kind, id.Short(), v, err)
		}
		if _, err := w.Client.Prove(c, id, kind, nil); err != nil {
			t.Fatalf("the proof of published %s record %s, unsigned: %v", kind, id.Short(), err)
		}
	}

	if _, err := w.Client.Record(c, pouch, nil); !errors.Is(err, httpsig.ErrUnsigned) {
		t.Fatalf("the tag before it is published, unsigned: %v", err)
	}
	hidden("before publishing")
	if _, err := w.Client.Publish(c, leader, pouch); err != nil {
		t.Fatal(err)
	}
	public(pouch, record.KindTag)
	hidden("with the tag published")
	if _, err := w.Client.Publish(c, duma, receipt); err != nil {
		t.Fatal(err)
	}
	public(receipt, record.KindCustody)
	hidden("with the tag and the delivery receipt published")
}

// TestConcurrentPublish: eight parties' publish records of one record,
// sent at once, give exactly one 201; the others are refused with
// ledger.ErrPublished, and the log holds one publish record more.
func TestConcurrentPublish(t *testing.T) {
	w, _ := start(t)
	c := ctx(t)
	if err := Play(c, w, 1); err != nil {
		t.Fatal(err)
	}
	pouch := w.Facts["scene1.pouch"]
	before, err := w.logSize(c)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	parties := []record.Handle{"ir/leader", "ir/speaker", "ru/president", "ru/duma-chair"}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		// Each publish record is distinct (two per party, a moment
		// apart), so that no refusal is a replay.
		by := parties[i%len(parties)]
		s, err := record.Sign(&record.Record{Kind: record.KindPublish, Origin: w.Client.Origin, By: []record.Handle{by},
			Time: w.Clock.Now().UnixMilli() + int64(i)}, &ledger.Publish{Record: pouch}, w.ID(by).Signing)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			_, errs[i] = w.Client.Submit(c, s)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ledger.ErrPublished):
			t.Errorf("publish %d: %v, want ledger.ErrPublished", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent publishes of one record accepted, want 1", ok, n)
	}
	if after, err := w.logSize(c); err != nil || after != before+1 {
		t.Fatalf("the log grew from %d to %d (%v), want one publish record", before, after, err)
	}
}
