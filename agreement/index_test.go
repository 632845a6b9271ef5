package agreement_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"pouch.dev/agreement"
	"pouch.dev/record"
)

// The index kept current action by action gives the same status as one
// built from scratch, whatever the order of the actions' dates.
func TestIncrementalIndex(t *testing.T) {
	l, tl, id := newTimeline(t, threeParties())
	r := rand.New(rand.NewPCG(1, 2))
	day := func() agreement.Date { return agreement.Date("2019-01-01").AddDays(r.IntN(800)) }
	probe := []agreement.Date{"2018-12-31", "2019-03-01", "2019-06-15", "2019-12-31", "2020-04-15", "2020-09-01", "2021-03-01"}
	signed := map[string]bool{}
	for i := 0; i < 300; i++ {
		var e agreement.Entry
		switch house := []string{"aa", "bb", "cc"}[r.IntN(3)]; {
		case i%25 == 0 && !signed[house]:
			e = l.add(record.KindAgreementSign, record.Handle(house+"/fm"), &agreement.Sign{Agreement: id, Party: house, Date: day()})
		case i%37 == 0 && signed[house]:
			e = l.add(record.KindAgreementWithdraw, record.Handle(house+"/fm"), &agreement.Withdraw{Agreement: id, Party: house, Date: "2023-01-01"})
		default:
			d := day()
			clause := []string{"core", "done", "temp"}[r.IntN(3)]
			e = l.add(record.KindAttest, "vv/dg", &agreement.Attest{Agreement: id, Party: house, Clause: clause, From: d.AddDays(-r.IntN(60)), To: d, Date: d.AddDays(r.IntN(10))})
		}
		if err := tl.Apply(e); err == nil {
			if e.Signed != nil {
				rr, _ := e.Signed.Open()
				if rr.Kind == record.KindAgreementSign {
					signed[string(rr.By[0].House())] = true
				}
				if rr.Kind == record.KindAgreementWithdraw {
					signed[string(rr.By[0].House())] = false
				}
			}
		}
		tl.Status(probe[i%len(probe)]) // keeps the index built, so Apply updates it
	}
	fresh, err := agreement.Replay(fakeDir{}, l.entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh.Actions()) != len(tl.Actions()) {
		t.Fatalf("replay accepted %d actions, the live timeline %d", len(fresh.Actions()), len(tl.Actions()))
	}
	for _, d := range probe {
		a, b := tl.Status(d), fresh.Status(d)
		a.Rejected, b.Rejected = 0, 0 // the live timeline was not replayed
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: incremental index differs from a fresh one:\n%+v\n%+v", d, a, b)
		}
	}
	if st := tl.Status("2021-03-01"); len(st.Attestations) == 0 {
		t.Fatal("no attestations exercised")
	}
}
