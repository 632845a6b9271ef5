package scenario

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func start(t *testing.T) (*World, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	w, err := Start(context.Background(), Options{Out: &out, Verbose: true})
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
