package store_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// A record and its log leaf are committed together, once: the store
// gives it its place in the log and its time of sequencing, refuses a
// replay, and finds it again by ID or by the parties of a private record.
// The embedded SQLite store is one Store; every backend passes the same
// conformance suite (package storetest).
func Example() {
	dir, _ := os.MkdirTemp("", "pouch-store-example")
	defer os.RemoveAll(dir)
	var st store.Store
	st, err := sqlite.Open(filepath.Join(dir, "pouch.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	ctx := context.Background()

	_, key, _ := ed25519.GenerateKey(nil)
	r := &record.Record{Kind: record.KindGrant, By: []record.Handle{"ru/president"}, Time: record.Now(), Salt: record.NewSalt()}
	s, err := record.Sign(r, map[string]any{"to": "ru/duma-chair", "abilities": []string{"receive"}}, key)
	if err != nil {
		panic(err)
	}
	e := &store.Entry{ID: s.ID(), Kind: r.Kind, Signed: s.Marshal(), Public: false, Parties: []record.Handle{"ru/president", "ru/duma-chair"}}
	seq, err := st.Append(ctx, []*store.Entry{e})
	if err != nil {
		panic(err)
	}
	fmt.Println("appended at index", seq[0].Index)

	_, err = st.Append(ctx, []*store.Entry{e})
	fmt.Println("a replay:", errors.Is(err, store.ErrDuplicate))

	got, err := st.List(ctx, store.Query{Party: "ru/duma-chair"})
	if err != nil {
		panic(err)
	}
	fmt.Println("records of ru/duma-chair:", len(got), got[0].Kind, got[0].ID == s.ID())
	// Output:
	// appended at index 0
	// a replay: true
	// records of ru/duma-chair: 1 grant true
}
