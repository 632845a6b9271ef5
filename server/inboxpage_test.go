package server_test

import (
	"context"
	"fmt"
	"testing"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// TestInboxPages: an inbox read from the store's indexes, newest first:
// the principal's own pouches merged with those of the grantor of its
// receive grant, each once with its role; pages of ?limit before ?before
// that join up to the whole; ?awaiting=1 keeping what awaits the
// principal.
func TestInboxPages(t *testing.T) {
	ctx := context.Background()
	p := openSQLitePair(t)
	ps := people(t, p, "us/president", "ir/president", "ir/fm", "ch/amb-tehran")
	us, boss, fm := ps["us/president"], ps["ir/president"], ps["ir/fm"]
	want := map[record.ID]string{} // ir/fm's inbox: pouch -> role
	var viaAmb []record.ID
	for i := range 4 {
		var via []record.Handle
		if i%2 == 0 {
			via = []record.Handle{"ch/amb-tehran"}
		}
		id := sendVia(t, p, us, boss, via...)
		want[id] = "delegate"
		if via != nil {
			viaAmb = append(viaAmb, id)
		}
	}
	if _, err := p.a.Grant(ctx, boss, &directory.Grant{To: "ir/fm", Abilities: []directory.Ability{directory.Receive}}, false); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		want[sendVia(t, p, us, boss)] = "delegate" // sealed to ir/fm too: found twice, listed once
		want[sendVia(t, p, us, fm)] = "addressee"
	}
	sendVia(t, p, boss, us) // from the grantor, not to it: not ir/fm's

	all, err := p.a.InboxPage(ctx, fm, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("ir/fm's inbox holds %d pouches, want %d: %v", len(all), len(want), ids(all))
	}
	for i, it := range all {
		if want[it.ID] != it.Role {
			t.Errorf("pouch %s: role %q, want %q", it.ID.Short(), it.Role, want[it.ID])
		}
		if i > 0 && it.Index >= all[i-1].Index {
			t.Errorf("pouch %s at index %d after one at %d: not newest first", it.ID.Short(), it.Index, all[i-1].Index)
		}
	}
	// Pages of 3 join up to the whole.
	var paged []api.InboxItem
	var before uint64
	for range 10 {
		page, err := p.a.InboxPage(ctx, fm, 3, before)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if len(page) < 3 {
			break
		}
		before = page[len(page)-1].Index
	}
	if fmt.Sprint(ids(paged)) != fmt.Sprint(ids(all)) {
		t.Fatalf("pages of 3: %v,\nwant %v", ids(paged), ids(all))
	}
	// The envoy: what awaits it, until it takes it.
	amb := ps["ch/amb-tehran"]
	awaiting := func() []record.ID {
		t.Helper()
		items, err := p.a.InboxPage(ctx, amb, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []record.ID
		for _, it := range items {
			if it.Role != "envoy" {
				t.Errorf("pouch %s in the envoy's inbox as %q", it.ID.Short(), it.Role)
			}
			if it.Awaiting {
				out = append(out, it.ID)
			}
		}
		return out
	}
	if got := awaiting(); len(got) != len(viaAmb) {
		t.Fatalf("%d pouches await the envoy, want %d", len(got), len(viaAmb))
	}
	if _, err := p.a.Submit(ctx, custody(t, amb, &letter.Custody{Pouch: viaAmb[0], From: "us/president"})); err != nil {
		t.Fatal(err)
	}
	if got := awaiting(); len(got) != len(viaAmb)-1 {
		t.Fatalf("after a hop, %d pouches await the envoy, want %d", len(got), len(viaAmb)-1)
	}
}

func ids(items []api.InboxItem) []record.ID {
	var out []record.ID
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}
