package main

import (
	"context"
	"crypto/ed25519"
	"testing"

	"filippo.io/age"
	"pouch.dev/client"
	"pouch.dev/record"
)

// admitForTest founds h's house on the open-mode server at url and admits
// h with signing key key, so that the server accepts records h signs.
func admitForTest(t *testing.T, url string, h record.Handle, key ed25519.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	c := client.New(url)
	_, rk, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar(h.House(), rk)
	if _, err := c.FoundHouse(ctx, h.House(), "", reg, nil); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	if _, err := c.Admit(ctx, reg, h, key.Public().(ed25519.PublicKey), id.Recipient().String(), ""); err != nil {
		t.Fatal(err)
	}
}
