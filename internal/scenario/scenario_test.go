package scenario

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func start(t *testing.T) (*World, *bytes.Buffer) {
	t.Helper()
	return startWith(t, Options{})
}

// startWith starts a world with opt, its timeline verbose into a buffer.
func startWith(t *testing.T, opt Options) (*World, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	opt.Out, opt.Verbose = &out, true
	w, err := Start(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w, &out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestScenes1And2(t *testing.T) {
	w, out := start(t)
	err := Play(ctx(t), w, 1, 2)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if w.Report.Failures != 0 {
		t.Fatalf("%d checks failed", w.Report.Failures)
	}
}

func TestMustFail(t *testing.T) {
	w, out := start(t)
	c := ctx(t)
	err := Play(c, w, 1)
	if err == nil {
		err = MustFail(c, w)
	}
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if w.Report.Failures != 0 {
		t.Fatalf("%d checks failed", w.Report.Failures)
	}
}
