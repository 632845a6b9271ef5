package jcpoa

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"filippo.io/age"

	"pouch.dev/agreement"
	"pouch.dev/directory"
	"pouch.dev/internal/testkeys"
	"pouch.dev/record"
)

// server is what a pouch server does with these records: one log, the
// directory and the agreement registry fed in log order, each record
// checked before it is appended.
type server struct {
	t    *testing.T
	dir  *directory.Directory
	reg  *agreement.Registry
	log  []agreement.Entry // every record, as sequenced
	regs map[string]ed25519.PrivateKey
	now  time.Time
}

func newServer(t *testing.T) *server {
	d := directory.New(directory.Config{Mode: directory.ModeOpen})
	return &server{t: t, dir: d, reg: agreement.NewRegistry(agreement.Offices(d)), regs: map[string]ed25519.PrivateKey{},
		now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

// submit checks s and appends it; on refusal nothing is appended.
func (sv *server) submit(s *record.Signed) error {
	r, err := s.Open()
	if err != nil {
		return err
	}
	e := agreement.Entry{Signed: s, Index: uint64(len(sv.log)), Time: sv.now.UnixMilli()}
	pos := directory.Pos{Index: e.Index, Time: sv.now}
	if agreement.IsKind(r.Kind) {
		if err := sv.reg.Check(e); err != nil {
			return err
		}
		if err := sv.reg.Apply(e); err != nil {
			sv.t.Fatalf("Apply after Check: %v", err)
		}
	} else if err := sv.dir.Apply(s, r, pos); err != nil {
		return err
	}
	sv.log = append(sv.log, e)
	return nil
}

func (sv *server) must(s *record.Signed) {
	sv.t.Helper()
	if err := sv.submit(s); err != nil {
		sv.t.Fatal(err)
	}
}

func (sv *server) signDir(kind record.Kind, by record.Handle, k ed25519.PrivateKey, body any) *record.Signed {
	s, err := record.Sign(&record.Record{Kind: kind, By: []record.Handle{by}, Time: sv.now.UnixMilli()}, body, k)
	if err != nil {
		sv.t.Fatal(err)
	}
	return s
}

// admitAll founds every house of the scenario and admits its offices with
// their testkeys.Key.
func (sv *server) admitAll() {
	for _, h := range Principals() {
		house := h.House()
		if sv.regs[house] == nil {
			seed := sha256.Sum256([]byte("registrar/" + house))
			k := ed25519.NewKeyFromSeed(seed[:])
			sv.regs[house] = k
			sv.must(sv.signDir(record.KindHouse, directory.Registrar(house), k, &directory.House{House: house, Registrar: k.Public().(ed25519.PublicKey)}))
		}
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			sv.t.Fatal(err)
		}
		sv.must(sv.signDir(record.KindAdmit, directory.Registrar(house), sv.regs[house],
			&directory.Admit{Handle: h, Key: testkeys.Key(h).Public().(ed25519.PublicKey), Recipient: id.Recipient().String()}))
	}
}

// The scenario played against the real directory, as a server would, and
// replayed by a client from the log alone.
func TestRegistryWithDirectory(t *testing.T) {
	sv := newServer(t)
	sv.admitAll()
	sc, err := Build("", testkeys.Key, sv.now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	for _, steps := range [][]Step{sc.JCPOA, sc.Statement, sc.Deal} {
		for _, s := range steps {
			sv.must(s.Signed)
		}
	}
	for _, b := range append(sc.BadJCPOA, sc.BadStatement...) {
		n := len(sv.log)
		if err := sv.submit(b.Signed); !errors.Is(err, b.Reason) || len(sv.log) != n {
			t.Errorf("%s: %v, want %v and nothing appended", b.Say, err, b.Reason)
		}
	}
	ags := sv.reg.Agreements()
	if len(ags) != 2 || len(sv.reg.Statements()) != 1 {
		t.Fatalf("%d agreements, %d statements", len(ags), len(sv.reg.Statements()))
	}
	jc := sv.reg.Agreement(ags[0])
	if n := jc.Status("2017-06-01").PartiesInForce; n != 7 {
		t.Errorf("2017: %d parties", n)
	}
	if n := jc.Status("2019-06-01").PartiesInForce; n != 6 {
		t.Errorf("2019: %d parties", n)
	}
	if sv.reg.Agreement(ags[1]).InForce("2026-01-01") {
		t.Errorf("the draft deal is in force")
	}
	if n := sv.reg.Statement(sv.reg.Statements()[0]).Count(); n != Experts {
		t.Errorf("statement: %d co-signatures", n)
	}

	// The Russian Foreign Minister's key is revoked. A new attestation
	// with it is refused; the one made before still counts.
	sv.must(sv.signDir(record.KindKeyRevoke, "ru/registrar", sv.regs["ru"], &directory.KeyRevoke{Handle: "ru/fm", Key: testkeys.Key("ru/fm").Public().(ed25519.PublicKey)}))
	late, err := record.Sign(&record.Record{Kind: record.KindAttest, By: []record.Handle{"ru/fm"}, Time: sv.now.UnixMilli() + 5},
		&agreement.Attest{Agreement: ags[0], Party: "ir", Clause: ClauseNuclear, From: "2019-01-01", To: "2019-12-31", Date: "2020-01-01"}, testkeys.Key("ru/fm"))
	if err != nil {
		t.Fatal(err)
	}
	err = sv.submit(late)
	if !errors.Is(err, agreement.ErrWrongKey) || !errors.Is(err, directory.ErrKeyRevoked) {
		t.Fatalf("attestation with a revoked key: %v", err)
	}
	t.Log(err)

	// A client replays the log from scratch with the final directory:
	// keys are judged as of each record's index, so the result is the same.
	var entries []agreement.Entry
	for _, e := range sv.log {
		r, _ := e.Signed.Open()
		if id, ok := agreement.Target(r); (ok && id == ags[0]) || e.Signed.ID() == ags[0] {
			entries = append(entries, e)
		}
	}
	tl, err := agreement.Replay(agreement.Offices(sv.dir), entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Rejected()) != 0 || len(tl.Status("2020-01-01").Attestations) != 2 {
		t.Fatalf("client replay: %d rejected, %+v", len(tl.Rejected()), tl.Status("2020-01-01").Attestations)
	}
}
