package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/record"
)

// TestResolve: a short ID resolves to the one record the caller may read
// with that prefix; a prefix too short, one that names only records the
// caller may not read, and one that two records share are refused, each
// with its sentinel.
func TestResolve(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := scenario.Play(ctx, w, 1); err != nil {
		t.Fatal(err)
	}
	pouch := w.Facts["scene1.pouch"]
	c := client.New(w.URL)
	president := w.ID("ru/president")
	short := pouch.String()[:8]

	if id, err := c.Resolve(ctx, short, president); err != nil || id != pouch {
		t.Fatalf("the President resolves %s: %v %v", short, id, err)
	}
	if id, err := c.Resolve(ctx, pouch.String()[:20], president, record.KindTag); err != nil || id != pouch {
		t.Fatalf("20 digits, a tag: %v %v", id, err)
	}
	if _, err := c.Resolve(ctx, short, president, record.KindGrant); !errors.Is(err, client.ErrNoMatch) {
		t.Fatalf("a pouch's prefix, asked for a grant: %v", err)
	}
	if _, err := c.Resolve(ctx, short[:7], president); !errors.Is(err, client.ErrShortPrefix) {
		t.Fatalf("7 digits: %v", err)
	}
	if _, err := c.Resolve(ctx, "3f2a…e9", president); !errors.Is(err, client.ErrShortPrefix) {
		t.Fatalf("not hex: %v", err)
	}
	// The tag is private: to anyone but its parties the prefix names
	// nothing, as if the pouch did not exist.
	for name, as := range map[string]*client.Identity{"unsigned": nil, "a third state": w.ID("us/president")} {
		if _, err := c.Resolve(ctx, short, as); !errors.Is(err, client.ErrNoMatch) {
			t.Fatalf("%s: %v", name, err)
		}
	}

	// Two public records whose IDs share 8 hex digits.
	a, b, err := scenario.CollidingGrants(president.Handle, president.Signing, "ru/duma-chair", w.Origin, record.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*record.Signed{a, b} {
		if _, err := c.Submit(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	prefix := a.ID().String()[:8]
	_, err = c.Resolve(ctx, prefix, nil)
	var ae *client.AmbiguousError
	if !errors.As(err, &ae) || !errors.Is(err, client.ErrAmbiguous) || len(ae.Matches) != 2 {
		t.Fatalf("an ambiguous prefix: %v", err)
	}
	if id, err := c.Resolve(ctx, a.ID().String()[:16], nil); err != nil || id != a.ID() {
		t.Fatalf("more digits: %v %v", id, err)
	}
	if _, err := c.Resolve(ctx, prefix, nil, record.KindTag); !errors.Is(err, client.ErrNoMatch) {
		t.Fatalf("an ambiguous prefix of grants, asked for a tag: %v", err)
	}
}
