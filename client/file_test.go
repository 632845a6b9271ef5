package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"pouch.dev/client"
	"pouch.dev/directory"
	"pouch.dev/internal/scenario"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// fetchedFile writes f as a .pouch file and reads it back.
func fetchedFile(t *testing.T, head *letter.FileHead, payload []byte) *letter.File {
	t.Helper()
	var b bytes.Buffer
	if err := letter.WriteFile(&b, head, bytes.NewReader(payload), uint64(len(payload))); err != nil {
		t.Fatal(err)
	}
	f, err := letter.ReadFile(&b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// TestFetchVerifyFile: a pouch fetched with Fetch verifies offline with
// the log's key alone: its tag and both custody records proven at their
// places, the Speaker's and the Duma chairman's keys and the chairman's
// receive grant replayed from the records the file carries. Each way of
// breaking the file's proofs or records is refused with an error naming
// it.
func TestFetchVerifyFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := scenario.Play(ctx, w, 1); err != nil {
		t.Fatal(err)
	}
	pouch := w.Facts["scene1.pouch"]
	c := client.New(w.URL)
	c.Trust = &client.Trust{Dir: t.TempDir()}
	fd, err := c.Fetch(ctx, w.ID("ir/leader"), pouch)
	if err != nil {
		t.Fatal(err)
	}
	if len(fd.Head.Custody) != 2 || len(fd.Head.Proofs) != 3+len(fd.Head.Records) {
		t.Fatalf("%d custody records, %d records, %d proofs", len(fd.Head.Custody), len(fd.Head.Records), len(fd.Head.Proofs))
	}
	vf, err := client.VerifyFile(fetchedFile(t, fd.Head, fd.Payload), w.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if !vf.Proven() || vf.Tag == nil || len(vf.Steps) != 2 || !vf.Steps[1].Hop.Delivery || vf.Steps[1].Hop.Grant == nil ||
		vf.Steps[1].Hop.By != "ru/duma-chair" || vf.Steps[1].Hop.As != "ru/president" {
		t.Fatalf("verified: %+v", vf)
	}
	if vf.Checkpoint.Size != fd.Checkpoint.Size || vf.Tag.Index >= vf.Steps[0].At.Index {
		t.Fatalf("places: tag %d, custody %d, size %d", vf.Tag.Index, vf.Steps[0].At.Index, vf.Checkpoint.Size)
	}

	// The file's records, by kind.
	kindOf := func(b []byte) record.Kind {
		_, r, err := record.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return r.Kind
	}
	idOf := func(b []byte) record.ID { s, _, _ := record.Parse(b); return s.ID() }
	var leaderAdmit, grant int = -1, -1
	for i, b := range fd.Head.Records {
		_, r, _ := record.Parse(b)
		switch {
		case r.Kind == record.KindAdmit:
			var a directory.Admit
			r.DecodeBody(&a)
			if a.Handle == "ir/leader" {
				leaderAdmit = i
			}
		case r.Kind == record.KindGrant:
			grant = i
		}
	}
	if leaderAdmit < 0 || grant < 0 || kindOf(fd.Head.Records[0]) != record.KindGenesis {
		t.Fatalf("the file lacks the genesis, the Leader's admission or the grant")
	}
	proofOf := func(id record.ID) int {
		for i, b := range fd.Head.Proofs {
			p, _ := tlog.ParseProof(b)
			l, _ := record.ParseLeaf(p.Extra)
			if l.ID == id {
				return i
			}
		}
		t.Fatalf("no proof of %s", id.Short())
		return -1
	}
	drop := func(h *letter.FileHead, rec int) {
		pi := proofOf(idOf(h.Records[rec]))
		h.Records = append(h.Records[:rec:rec], h.Records[rec+1:]...)
		h.Proofs = append(h.Proofs[:pi:pi], h.Proofs[pi+1:]...)
	}
	clone := func() *letter.FileHead {
		h := *fd.Head
		h.Custody = append([][]byte(nil), h.Custody...)
		h.Records = append([][]byte(nil), h.Records...)
		h.Proofs = append([][]byte(nil), h.Proofs...)
		return &h
	}
	other, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	cases := []struct {
		name string
		edit func(h *letter.FileHead)
		v    *tlog.Verifier
		want error
	}{
		{"another log's key", nil, other.Verifier, tlog.ErrBadCheckpoint},
		{"the Leader's admission left out", func(h *letter.FileHead) { drop(h, leaderAdmit) }, nil, directory.ErrUnknownPrincipal},
		{"the grant left out", func(h *letter.FileHead) { drop(h, grant) }, nil, nil},
		{"the genesis left out", func(h *letter.FileHead) { drop(h, 0) }, nil, client.ErrRulesBroken},
		{"a leaf's time changed", func(h *letter.FileHead) {
			i := proofOf(pouch)
			p, _ := tlog.ParseProof(h.Proofs[i])
			l, _ := record.ParseLeaf(p.Extra)
			l.Time++
			p.Extra = record.LeafData(l)
			h.Proofs[i] = p.Marshal()
		}, nil, tlog.ErrBadProof},
		{"a proof's index changed", func(h *letter.FileHead) {
			i := proofOf(pouch)
			p, _ := tlog.ParseProof(h.Proofs[i])
			p.Index++
			h.Proofs[i] = p.Marshal()
		}, nil, tlog.ErrBadProof},
		{"a hash of a proof changed", func(h *letter.FileHead) {
			i := proofOf(idOf(h.Custody[1]))
			p, _ := tlog.ParseProof(h.Proofs[i])
			p.Hashes[0][3] ^= 1
			h.Proofs[i] = p.Marshal()
		}, nil, tlog.ErrBadProof},
	}
	for _, cs := range cases {
		h := clone()
		if cs.edit != nil {
			cs.edit(h)
		}
		v := cs.v
		if v == nil {
			v = w.Verifier
		}
		vf, err := client.VerifyFile(fetchedFile(t, h, fd.Payload), v)
		switch {
		case cs.want == nil:
			// Without the grant, the stand-in's standing is not proven,
			// and the file is not fully proven.
			if err != nil || vf.Proven() || vf.Steps[1].Unproven == "" {
				t.Errorf("%s: %v, %+v", cs.name, err, vf)
			}
		case !errors.Is(err, cs.want):
			t.Errorf("%s: %v, want %v", cs.name, err, cs.want)
		}
	}

	// Custody signed offline after the fetch: appended without a proof,
	// checked against the route, its signer's key against the offices
	// the file proves. A file with no proofs proves nothing.
	h := clone()
	h.Custody = h.Custody[:1]
	h.Proofs = append(h.Proofs[:0:0], h.Proofs...)
	h.Proofs = append(h.Proofs[:proofOf(idOf(fd.Head.Custody[1]))], h.Proofs[proofOf(idOf(fd.Head.Custody[1]))+1:]...)
	vf, err = client.VerifyFile(fetchedFile(t, h, fd.Payload), w.Verifier)
	if err != nil || len(vf.Steps) != 1 || !vf.Steps[0].Key || vf.Proven() != true {
		t.Fatalf("one custody record: %v %+v", err, vf)
	}
	f := fetchedFile(t, h, fd.Payload)
	var withOffline bytes.Buffer
	duma := w.ID("ru/duma-chair")
	sc, _ := letter.SignCustody(&letter.Custody{Pouch: pouch, From: "ir/speaker", Delivered: true, OnBehalf: "ru/president"}, duma.Handle, duma.Signing, record.NewSalt(), record.Now(), w.Origin)
	if err := letter.Rewrite(&withOffline, f, sc); err != nil {
		t.Fatal(err)
	}
	f2, err := letter.ReadFile(&withOffline)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	vf, err = client.VerifyFile(f2, w.Verifier)
	if err != nil || len(vf.Steps) != 2 || vf.Steps[1].At != nil || !vf.Steps[1].Key || vf.Steps[1].Unproven == "" || vf.Proven() {
		t.Fatalf("custody signed offline: %v %+v", err, vf)
	}
	bare := &letter.FileHead{Tag: fd.Head.Tag, Custody: fd.Head.Custody}
	vf, err = client.VerifyFile(fetchedFile(t, bare, fd.Payload), nil)
	if err != nil || vf.Proven() || vf.Checkpoint != nil {
		t.Fatalf("a file without proofs: %v %+v", err, vf)
	}
}
