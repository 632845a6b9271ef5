package server_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/record"
	"pouch.dev/server"
)

// TestPayloadOnlyWithTag checks that POST /v1/pouches, which parses its
// record once as a tag, refuses a validly signed record of another kind
// with 400, and that the record is not stored: the same record can then
// be submitted on its own.
func TestPayloadOnlyWithTag(t *testing.T) {
	_, c := startCorr(t, server.CorrOptions{})
	ctx := context.Background()
	_, k, _ := ed25519.GenerateKey(nil)
	r := &record.Record{Kind: record.KindHouse, By: []record.Handle{"ir/registrar"}, Time: record.Now()}
	s, err := record.Sign(r, &directory.House{House: "ir", Registrar: k.Public().(ed25519.PublicKey)}, k)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SubmitPouch(ctx, s, []byte("payload"))
	var ce *client.Error
	if !errorAs(err, &ce) || ce.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "only a tag carries a payload") {
		t.Fatalf("house record with a payload: %v", err)
	}
	if _, err := c.Submit(ctx, s); err != nil {
		t.Fatalf("the same record alone: %v", err)
	}
	// A tag whose signature is broken is refused, as before.
	bad := *s
	bad.Sigs = []record.Sig{{Alg: record.AlgEd25519, Key: s.Sigs[0].Key, Sig: make([]byte, ed25519.SignatureSize)}}
	if _, err := c.SubmitPouch(ctx, &bad, []byte("payload")); err == nil {
		t.Fatal("a record with a zero signature was accepted")
	}
}
