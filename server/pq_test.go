package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"strings"
	"testing"

	"filippo.io/age"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/keys"
	"pouch.dev/letter"
	"pouch.dev/letter/lettertest"
	"pouch.dev/record"
	"pouch.dev/server"
)

// TestClassicalPayloadRefused checks that a pouch whose payload also wraps
// its file key to a classical X25519 recipient is refused by POST
// /v1/pouches and, alone, in a batch, with 400 and a message naming the
// downgrade, and that nothing of it is stored; the same letter sealed to
// hybrid recipients only is accepted. An admit with a classical recipient
// is refused too.
func TestClassicalPayloadRefused(t *testing.T) {
	_, c := startCorr(t, server.CorrOptions{})
	ctx := context.Background()
	var cast []*keys.Principal
	for _, h := range []record.Handle{"ir/leader", "ru/president"} {
		p, err := keys.Generate(h)
		if err != nil {
			t.Fatal(err)
		}
		_, rk, _ := ed25519.GenerateKey(nil)
		reg := client.Registrar(h.House(), rk)
		if _, err := c.FoundHouse(ctx, h.House(), "", reg, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Admit(ctx, reg, h, p.Public().Ed25519, p.Public().Age, ""); err != nil {
			t.Fatal(err)
		}
		cast = append(cast, p)
	}
	leader, president := cast[0], cast[1]
	ss, err := letter.ParseMarkdown([]byte("## Relations\n\nStrong and strategic.\n"))
	if err != nil {
		t.Fatal(err)
	}
	var payload, file bytes.Buffer
	s, err := letter.Seal(&payload, &letter.SealRequest{Author: leader, To: president.Public(), Sections: ss})
	if err != nil {
		t.Fatal(err)
	}
	letter.WriteFile(&file, &letter.FileHead{Tag: s.Tag.Signed.Marshal()}, bytes.NewReader(payload.Bytes()), uint64(payload.Len()))
	x, _ := age.GenerateX25519Identity()
	bad, err := lettertest.Reseal(file.Bytes(), president, leader.Signing, leader.Recipient(), president.Recipient(), x.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	good, err := lettertest.Reseal(file.Bytes(), president, leader.Signing, leader.Recipient(), president.Recipient())
	if err != nil {
		t.Fatal(err)
	}

	refused := func(what string, status int, msg, hint string) {
		t.Helper()
		if status != http.StatusBadRequest || !strings.Contains(msg, "also wraps its file key to a classical X25519 recipient: a downgrade") ||
			!strings.Contains(hint, "age1pq1") {
			t.Fatalf("%s: %d %q (hint %q)", what, status, msg, hint)
		}
	}
	_, err = c.SubmitPouch(ctx, bad.Tag, bad.Payload)
	var ce *client.Error
	if !errors.As(err, &ce) || !errors.Is(err, letter.ErrNotPostQuantum) {
		t.Fatalf("POST /v1/pouches with a downgraded payload: %v", err)
	}
	refused("POST /v1/pouches", ce.Status, ce.Msg, ce.Hint)

	res, err := c.SubmitPouches(ctx, []api.PouchSubmission{
		{Tag: bad.Tag.Marshal(), Payload: bad.Payload},
		{Tag: good.Tag.Marshal(), Payload: good.Payload},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Error == nil {
		t.Fatalf("batch: the downgraded pouch was accepted: %+v", res[0])
	}
	refused("POST /v1/pouches/batch", res[0].Status, res[0].Error.Error, res[0].Error.Hint)
	if res[0].Error.Code != "not-post-quantum" {
		t.Errorf("batch: refused with code %q", res[0].Error.Code)
	}
	if res[1].Status != http.StatusCreated {
		t.Fatalf("batch: the hybrid-only pouch: %+v", res[1])
	}

	// Nothing of the refused pouch is stored; the accepted one is.
	if _, err := c.Pouch(ctx, bad.Tag.ID(), leader); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the refused pouch: %v", err)
	}
	if _, err := c.Payload(ctx, bad.Tag.ID(), leader); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the refused pouch's payload: %v", err)
	}
	if _, err := c.Pouch(ctx, good.Tag.ID(), leader); err != nil {
		t.Fatalf("the accepted pouch: %v", err)
	}
	if _, err := c.SubmitPouch(ctx, s.Tag.Signed, payload.Bytes()); err != nil {
		t.Fatalf("the letter as pouch sealed it: %v", err)
	}

	// An office admitted with a classical recipient is refused, across
	// the wire with the directory's sentinel.
	x2, _ := age.GenerateX25519Identity()
	_, rk, _ := ed25519.GenerateKey(nil)
	pk, _, _ := ed25519.GenerateKey(nil)
	reg := client.Registrar("us", rk)
	if _, err := c.FoundHouse(ctx, "us", "", reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admit(ctx, reg, "us/president", pk, x2.Recipient().String(), ""); !errors.Is(err, directory.ErrClassicalRecipient) {
		t.Fatalf("admit with a classical recipient: %v", err)
	}
}
