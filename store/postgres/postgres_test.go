package postgres_test

import (
	"context"
	"testing"

	"pouch.dev/internal/pgtest"
	"pouch.dev/store"
	"pouch.dev/store/postgres"
	"pouch.dev/store/storetest"
)

func open(t *testing.T, url string, opt postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) store.Store { return open(t, pgtest.DB(t), postgres.Options{}) }

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }
