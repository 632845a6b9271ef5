package jcpoa

import (
	"strings"
	"testing"

	"pouch.dev/agreement"
)

func TestHistory(t *testing.T) {
	_, tl := jcpoa(t)
	var sb strings.Builder
	if err := agreement.History(&sb, tl, "2021-01-01"); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"2015-07-14  enters into force with 7 parties",
		"2018-05-08  us withdraws (us/president",
		"6 parties remain",
		"2020-10-18  clause arms-embargo lapses (sunset)",
		"2016-01-16  clause arms-embargo becomes active (effective date)",
		"2017-09-13  ru/fm attests that ir complied with nuclear",
		"2020-05-30  attestation missing: iaea/dg",
		"2015-07-14 to 2018-05-07  7  ir us uk fr ru cn de",
		"2018-05-08 onwards",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q", want)
		}
	}
}

func TestWriteRoll(t *testing.T) {
	sc, dir := build(t)
	roll, err := agreement.ReplayStatement(dir, Entries(sc.Statement, 1, now))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	agreement.WriteRoll(&sb, roll, 3)
	t.Log("\n" + sb.String())
	if !strings.Contains(sb.String(), "85 co-signatures") || !strings.Contains(sb.String(), "and 82 more") {
		t.Errorf("roll:\n%s", sb.String())
	}
}
