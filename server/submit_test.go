package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
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

// TestBodyLimits checks the submit endpoints' body reading: a body shorter
// than its declared length is refused, a body over the limit is refused
// whether or not its length is declared, and a valid record sent without
// a declared length (chunked) is accepted.
func TestBodyLimits(t *testing.T) {
	hs, _ := startCorr(t, server.CorrOptions{})
	_, k, _ := ed25519.GenerateKey(nil)
	r := &record.Record{Kind: record.KindHouse, By: []record.Handle{"ir/registrar"}, Time: record.Now()}
	s, err := record.Sign(r, &directory.House{House: "ir", Registrar: k.Public().(ed25519.PublicKey)}, k)
	if err != nil {
		t.Fatal(err)
	}
	post := func(body io.Reader, length int64) int {
		req, err := http.NewRequest("POST", hs.URL+"/v1/records", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/cbor")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1 // the client refuses to send a short body
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	enc := s.Marshal()
	if st := post(bytes.NewReader(enc[:10]), int64(len(enc))); st != -1 && st < 400 {
		t.Fatalf("short body: %d", st)
	}
	big := make([]byte, record.MaxRecordSize+1)
	if st := post(bytes.NewReader(big), int64(len(big))); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized declared body: %d", st)
	}
	if st := post(io.MultiReader(bytes.NewReader(big)), -1); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized chunked body: %d", st)
	}
	if st := post(io.MultiReader(bytes.NewReader(enc)), -1); st != http.StatusCreated {
		t.Fatalf("valid chunked record: %d", st)
	}
}
