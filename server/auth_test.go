package server_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/internal/httpsig"
	"pouch.dev/keys"
	"pouch.dev/record"
	"pouch.dev/server"
)

// TestRequestBoundToOrigin runs two deployments on loopback, each with
// its own log, in which the same registrar key founds house ir and admits
// ir/leader with the same key. A read signed by ir/leader for one log is
// refused by the other (401, request-wrong-log), also with its
// Pouch-Origin header rewritten (the signature covers it), while the log
// it was signed for accepts it.
//
// SPEC: spec/api.md#authentication
func TestRequestBoundToOrigin(t *testing.T) {
	ctx := context.Background()
	hsA, a := startCorr(t, server.CorrOptions{Origin: "pouch.test/deployment-a"})
	hsB, b := startCorr(t, server.CorrOptions{Origin: "pouch.test/deployment-b"})
	_, rk, _ := ed25519.GenerateKey(nil)
	leader, err := keys.Generate("ir/leader")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{a, b} {
		reg := client.Registrar("ir", rk)
		if _, err := c.FoundHouse(ctx, "ir", "", reg, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Admit(ctx, reg, "ir/leader", leader.SigningPublic(), leader.Recipient().String(), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Inbox(ctx, leader); err != nil {
			t.Fatalf("%s: ir/leader reads its inbox: %v", c.Origin, err)
		}
	}

	// One request, signed for A.
	signed, err := http.NewRequest("GET", hsA.URL+"/v1/inbox?limit=5", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := httpsig.Sign(signed, a.Origin, "ir/leader", leader.Signing, time.Now()); err != nil {
		t.Fatal(err)
	}
	send := func(base string, h http.Header) (int, error) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/v1/inbox?limit=5", nil)
		req.Header = h.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return resp.StatusCode, nil
		}
		var eb api.ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, errors.Join(api.ErrorOf(eb.Code), errors.New(eb.Error))
	}
	// B refuses it as signed for another log...
	if status, err := send(hsB.URL, signed.Header); status != http.StatusUnauthorized || !errors.Is(err, httpsig.ErrWrongOrigin) {
		t.Fatalf("B given a request signed for A: %d %v, want 401 request-wrong-log", status, err)
	}
	// ...and with the header rewritten to its own origin, as a bad signature.
	forged := signed.Header.Clone()
	forged.Set(httpsig.OriginHeader, b.Origin)
	if status, err := send(hsB.URL, forged); status != http.StatusUnauthorized || !errors.Is(err, httpsig.ErrBadSig) {
		t.Fatalf("B given a request signed for A with its Pouch-Origin rewritten: %d %v, want 401 request-signature", status, err)
	}
	// A accepts the very request B refused.
	if status, err := send(hsA.URL, signed.Header); status != http.StatusOK {
		t.Fatalf("A given the request signed for it: %d %v", status, err)
	}
	// The client signs for the log it is configured for: a client of B
	// that believes it talks to A is refused by B.
	confused := client.New(hsB.URL)
	confused.Origin = a.Origin
	if _, err := confused.Inbox(ctx, leader); !errors.Is(err, httpsig.ErrWrongOrigin) {
		t.Fatalf("a client of B signing for A: %v", err)
	}
	// And a client that does not know the log's origin does not sign.
	if _, err := client.New(hsB.URL).Record(ctx, record.ID{1}, leader); err == nil {
		t.Fatal("a client without Origin signed a request")
	}
}
