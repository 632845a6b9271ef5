package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
)

func TestViewCatchesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := scenario.Play(ctx, w, 1); err != nil {
		t.Fatal(err)
	}
	c := client.New(w.URL)
	c.Trust = &client.Trust{Dir: t.TempDir()}
	// A request signature names the log it is for: before the client
	// anchors on a log, it signs none.
	if _, err := c.Inbox(ctx, w.ID("ru/president")); err == nil || !strings.Contains(err.Error(), "knows no log") {
		t.Fatalf("a signed read before the client knows its log: %v", err)
	}
	v, err := c.View(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Then it signs for the log it anchored on.
	if _, err := c.Inbox(ctx, w.ID("ru/president")); err != nil {
		t.Fatalf("a signed read for the anchored log %s: %v", v.Origin, err)
	}
	if _, err := v.Directory().KeyAt("ru/president", v.Size()); err != nil {
		t.Fatalf("ru/president: %v (size %d)", err, v.Size())
	}
	t.Logf("size %d, opaque %d", v.Size(), v.Opaque(v.Size()))
	// Warm: a second View reads only what is new.
	v2, err := c.View(ctx, w.ID("ru/president"))
	if err != nil {
		t.Fatal(err)
	}
	if v2.Size() < v.Size() {
		t.Fatalf("size went back: %d < %d", v2.Size(), v.Size())
	}
}
