package agreement_test

import (
	"slices"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
	"pouch.dev/internal/testkeys"
	"pouch.dev/record"
)

// The JCPOA's IAEA attestation of Iran, expected every 365 days, is
// overdue on 2020-09-15: the depositary, every party in force and the
// IAEA are told; the United States, withdrawn, is not.
func TestAlerts(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC).UnixMilli()
	sc, err := jcpoa.Build("pouch.example/log", testkeys.Key, now)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := agreement.Replay(testkeys.NewDirectory(jcpoa.Principals()...), jcpoa.Entries(sc.JCPOA, 100, now))
	if err != nil {
		t.Fatal(err)
	}
	if as := tl.Alerts("2017-06-01"); len(as) != 0 {
		t.Fatalf("alerts on 2017-06-01: %+v", as)
	}
	as := tl.Alerts("2020-09-15")
	if len(as) != 1 {
		t.Fatalf("alerts on 2020-09-15: %+v", as)
	}
	a := as[0]
	if a.By != "iaea/dg" || a.Party != "ir" || a.Clause != jcpoa.ClauseNuclear || a.Due == "" || a.Agreement != tl.ID() {
		t.Fatalf("alert: %+v", a)
	}
	role := map[record.Handle]string{}
	for _, n := range a.Notify {
		role[n.Handle] = n.Role
	}
	for h, want := range map[record.Handle]string{jcpoa.Depositary: agreement.RoleDepositary, "ir/fm": agreement.RoleParty,
		"ru/president": agreement.RoleParty, "iaea/dg": agreement.RoleVerifier} {
		if role[h] != want {
			t.Errorf("%s: role %q, want %q", h, role[h], want)
		}
	}
	if _, ok := role["us/president"]; ok {
		t.Errorf("the withdrawn United States is told: %+v", a.Notify)
	}
	mine := agreement.For(as, "iaea/dg")
	if len(mine) != 1 || !slices.Equal(mine[0].Notify, []agreement.Notice{{Handle: "iaea/dg", Role: agreement.RoleVerifier}}) {
		t.Fatalf("the IAEA's alerts: %+v", mine)
	}
	if len(agreement.For(as, "us/president")) != 0 {
		t.Fatal("alerts for the United States")
	}
}
