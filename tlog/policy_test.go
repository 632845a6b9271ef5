package tlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"
)

// testKeys are fixed keys, so that policies in tests are readable data.
type testKey struct{ skey, vkey string }

func mustKey(t testing.TB, name string, cosig bool) testKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	if cosig {
		if vkey, err = fnote.VKeyToCosignatureV1(vkey); err != nil {
			t.Fatal(err)
		}
	}
	return testKey{skey, vkey}
}

func TestParsePolicy(t *testing.T) {
	lg := mustKey(t, "pouch.test/log", false)
	x1, x2, x3 := mustKey(t, "x1.example", true), mustKey(t, "x2.example", true), mustKey(t, "x3.example", true)
	y1 := mustKey(t, "y1.example", true)
	src := fmt.Sprintf(`# The C2SP example, two levels of groups.
log %s https://log.example/
	  
witness X1 %s
witness	X2   %s https://x2.example/witness
   witness X3 %s
group X-witnesses 2 X1 X2 X3
	# indented comment
witness Y1 %s
group Y-witnesses any Y1
group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y`, lg.vkey, x1.vkey, x2.vkey, x3.vkey, y1.vkey)
	p, err := ParsePolicy([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &Policy{
		Logs: []PolicyLog{{Key: lg.vkey, URL: "https://log.example/", Origin: "pouch.test/log", Line: 2}},
		Witnesses: []PolicyWitness{
			{Name: "X1", Key: x1.vkey, Line: 4},
			{Name: "X2", Key: x2.vkey, URL: "https://x2.example/witness", Line: 5},
			{Name: "X3", Key: x3.vkey, Line: 6},
			{Name: "Y1", Key: y1.vkey, Line: 9},
		},
		Groups: []PolicyGroup{
			{Name: "X-witnesses", K: 2, Members: []string{"X1", "X2", "X3"}, Line: 7},
			{Name: "Y-witnesses", K: 1, Members: []string{"Y1"}, Line: 10},
			{Name: "X-and-Y", K: 2, Members: []string{"X-witnesses", "Y-witnesses"}, Line: 11},
		},
		Quorum: "X-and-Y",
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", p, want)
	}
	// Canonical form, and back.
	m := p.Marshal()
	p2, err := ParsePolicy(m)
	if err != nil {
		t.Fatalf("the marshalled policy does not parse: %v\n%s", err, m)
	}
	if !bytes.Equal(p2.Marshal(), m) || !policyEqual(p, p2) {
		t.Fatalf("round trip changed the policy:\n%s\n%s", m, p2.Marshal())
	}
	if !strings.Contains(string(m), "group X-and-Y 2 X-witnesses Y-witnesses\n") {
		t.Fatalf("canonical form:\n%s", m)
	}

	// Names are opaque octets: a Kelvin sign is not a K, and a UTF-8
	// NEL (U+0085, a space to Unicode) is part of a name.
	odd := fmt.Sprintf("witness K %s\nwitness \u212a %s\nwitness a\u0085b %s\ngroup g 3 K \u212a a\u0085b\nquorum g\n", x1.vkey, x2.vkey, x3.vkey)
	if p, err := ParsePolicy([]byte(odd)); err != nil || len(p.Witnesses) != 3 || p.Witnesses[2].Name != "a\u0085b" {
		t.Fatalf("opaque names: %v %+v", err, p)
	}
	// quorum none needs no witness; a single witness can be the quorum.
	for _, s := range []string{"quorum none\n", "log " + lg.vkey + "\nquorum none", "witness W " + x1.vkey + "\nquorum W\n"} {
		if _, err := ParsePolicy([]byte(s)); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func policyEqual(a, b *Policy) bool {
	strip := func(p *Policy) *Policy {
		c := *p
		c.Logs = append([]PolicyLog(nil), p.Logs...)
		c.Witnesses = append([]PolicyWitness(nil), p.Witnesses...)
		c.Groups = append([]PolicyGroup(nil), p.Groups...)
		for i := range c.Logs {
			c.Logs[i].Line = 0
		}
		for i := range c.Witnesses {
			c.Witnesses[i].Line = 0
		}
		for i := range c.Groups {
			c.Groups[i].Line = 0
		}
		return &c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func TestParsePolicyRefusals(t *testing.T) {
	lg := mustKey(t, "pouch.test/log", false)
	w1, w2 := mustKey(t, "w1.example", true), mustKey(t, "w2.example", true)
	_, mlv, err := fnote.GenerateMLDSAKey("ml.example")
	if err != nil {
		t.Fatal(err)
	}
	// The same key as w1, as a plain Ed25519 (type 0x01) key.
	w1plain, err := VerifierKey(w1.skey)
	if err != nil {
		t.Fatal(err)
	}
	ecdsaType := "e.example+00000000+" + base64.StdEncoding.EncodeToString(append([]byte{0x02}, make([]byte, 32)...))
	badID := w1.vkey[:len("w1.example+")] + "00000000" + w1.vkey[len("w1.example+00000000"):]
	head := fmt.Sprintf("log %s\nwitness W1 %s\nwitness W2 %s\n", lg.vkey, w1.vkey, w2.vkey)
	for _, tc := range []struct {
		name, src string
		line      int
		msg       string
	}{
		{"no quorum", head, 0, "no quorum line"},
		{"empty", "", 0, "no quorum line"},
		{"two quorums", head + "quorum W1\nquorum W2\n", 5, "second quorum"},
		{"undefined quorum", head + "quorum W3\n", 4, `quorum "W3"`},
		{"quorum before definition", "quorum W1\n" + head, 1, `quorum "W1"`},
		{"quorum fields", head + "quorum W1 W2\n", 4, "quorum line"},
		{"unknown keyword", head + "witnesses W3 " + w2.vkey + "\nquorum none\n", 4, `unknown keyword "witnesses"`},
		{"keyword case", "Quorum none\n", 1, "unknown keyword"},
		{"duplicate witness name", head + "witness W1 " + mustKey(t, "w3.example", true).vkey + "\nquorum none\n", 4, `"W1" is already defined`},
		{"duplicate witness key", head + "witness W3 " + w1.vkey + "\nquorum none\n", 4, "already the key of witness W1"},
		{"same key, other type", head + "witness W3 " + w1plain + "\nquorum none\n", 4, "already the key of witness W1"},
		{"duplicate log", head + "log " + lg.vkey + "\nquorum none\n", 4, "already the key of the log on line 1"},
		{"log key as witness key", "log " + lg.vkey + "\nwitness L " + mustCosig(t, lg.vkey) + "\nquorum none\n", 2, "already the key of the log"},
		{"group name clash", head + "group W2 any W1\nquorum none\n", 4, `"W2" is already defined`},
		{"keyword as name", "witness any " + w1.vkey + "\nquorum none\n", 1, "keyword"},
		{"none as name", "witness none " + w1.vkey + "\nquorum none\n", 1, "keyword"},
		{"none as member", head + "group G any W1 none\nquorum G\n", 4, `"none" cannot be a group member`},
		{"undefined member", head + "group G any W1 W3\nquorum G\n", 4, `member "W3"`},
		{"member defined later", "group G any W1\n" + head + "quorum G\n", 1, `member "W1"`},
		{"self member", head + "group G any G\nquorum G\n", 4, `member "G"`},
		{"member twice in a group", head + "group G 1 W1 W1\nquorum G\n", 4, "already a group member on line 4"},
		{"member of two groups", head + "group G any W1\ngroup H any W1 W2\nquorum H\n", 5, "already a group member on line 4"},
		{"no members", head + "group G any\nquorum none\n", 4, "at least one member"},
		{"k zero", head + "group G 0 W1 W2\nquorum G\n", 4, "threshold"},
		{"k above n", head + "group G 3 W1 W2\nquorum G\n", 4, "threshold"},
		{"k leading zero", head + "group G 01 W1 W2\nquorum G\n", 4, "threshold"},
		{"k plus", head + "group G +1 W1 W2\nquorum G\n", 4, "threshold"},
		{"k word", head + "group G some W1 W2\nquorum G\n", 4, "threshold"},
		{"carriage return", "quorum none\r\n", 1, "carriage return"},
		{"NUL", "quorum none\n\x00\n", 2, "0x00"},
		{"DEL", "# \x7f\nquorum none\n", 1, "0x7f"},
		{"vertical tab", "quorum\vnone\n", 1, "0x0b"},
		{"log key not a key", "log pouch.test/log\nquorum none\n", 1, "not an Ed25519"},
		{"log key cosignature type", "log " + w1.vkey + "\nquorum none\n", 1, "not an Ed25519"},
		{"witness key wrong key ID", "witness W " + badID + "\nquorum none\n", 1, "key ID"},
		{"witness key of another type", "witness W " + ecdsaType + "\nquorum none\n", 1, "signature type 0x02"},
		{"log fields", "log\nquorum none\n", 1, "log line"},
		{"log extra field", "log " + lg.vkey + " https://a.example/ x\nquorum none\n", 1, "log line"},
		{"witness fields", "witness W\nquorum none\n", 1, "witness line"},
		{"relative URL", "witness W " + w1.vkey + " /witness\nquorum none\n", 1, "absolute http"},
		{"ftp URL", "witness W " + w1.vkey + " ftp://a.example/\nquorum none\n", 1, "absolute http"},
		{"inline comment is not a comment", "quorum none # no witness\n", 1, "quorum line"},
		{"too large", "#" + strings.Repeat("x", MaxPolicySize) + "\nquorum none\n", 0, "bytes"},
	} {
		_, err := ParsePolicy([]byte(tc.src))
		var pe *PolicyError
		if !errors.Is(err, ErrPolicy) || !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a PolicyError", tc.name, err)
			continue
		}
		if pe.Line != tc.line || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v (line %d), want line %d and %q", tc.name, err, pe.Line, tc.line, tc.msg)
		}
	}
	// ML-DSA-44 witness keys are cosignature keys too.
	if _, err := ParsePolicy([]byte("witness M " + mlv + "\nquorum M\n")); err != nil {
		t.Errorf("ML-DSA-44 witness key: %v", err)
	}
	// Limits.
	var b strings.Builder
	for i := 0; i <= MaxPolicyWitnesses; i++ {
		fmt.Fprintf(&b, "witness w%d %s\n", i, mustKey(t, fmt.Sprintf("w%d.example", i), true).vkey)
	}
	b.WriteString("quorum none\n")
	if _, err := ParsePolicy([]byte(b.String())); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "more than 64 witnesses") {
		t.Errorf("%d witnesses: %v", MaxPolicyWitnesses+1, err)
	}
}

func mustCosig(t *testing.T, vkey string) string {
	t.Helper()
	c, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPolicyAgainstFormats cross-checks ParsePolicy and the Verifier built
// from it against transparency-dev/formats' witness.ParsePolicy (which a
// Tessera log uses): on random policies both accept, every subset of
// cosigning witnesses satisfies both or neither.
func TestPolicyAgainstFormats(t *testing.T) {
	lg := mustKey(t, "pouch.test/log", false)
	ls, err := note.NewSigner(lg.skey)
	if err != nil {
		t.Fatal(err)
	}
	const nw = 5
	var ws []testKey
	var signers []note.Signer
	for i := range nw {
		k := mustKey(t, fmt.Sprintf("w%d.example", i), true)
		ws = append(ws, k)
		s, err := fnote.NewSignerForCosignatureV1(k.skey)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	text := string(CheckpointBody("pouch.test/log", 7, make([]byte, 32)))
	// Every subset of witnesses, as a checkpoint cosigned by them.
	cps := make([][]byte, 1<<nw)
	for set := range cps {
		ss := []note.Signer{ls}
		for i := range nw {
			if set&(1<<i) != 0 {
				ss = append(ss, signers[i])
			}
		}
		if cps[set], err = note.Sign(&note.Note{Text: text}, ss...); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	both := 0
	for range 60 {
		src := randomPolicy(rng, lg.vkey, ws)
		ours, err1 := ParsePolicy([]byte(src))
		theirs, err2 := fwitness.ParsePolicy([]byte(src))
		if err1 != nil || err2 != nil {
			continue
		}
		both++
		v, err := ours.Verifier("")
		if err != nil {
			t.Fatalf("%v\n%s", err, src)
		}
		for set, cp := range cps {
			_, err := v.Open(cp)
			if err != nil && !errors.Is(err, ErrNoQuorum) {
				t.Fatalf("cosigners %05b: %v\n%s", set, err, src)
			}
			if (err == nil) != theirs.Satisfied(cp) {
				t.Fatalf("cosigners %05b: ours %v, formats %v, for\n%s", set, err, theirs.Satisfied(cp), src)
			}
		}
	}
	if both < 25 {
		t.Fatalf("only %d of 60 random policies parsed with both parsers", both)
	}
}

// randomPolicy returns a policy over ws with random groups (each name a
// member at most once) and quorum; every witness has a URL, as formats
// requires.
func randomPolicy(rng *rand.Rand, logKey string, ws []testKey) string {
	var b strings.Builder
	fmt.Fprintf(&b, "log %s\n", logKey)
	var free []string // names not yet a member of a group
	for i, w := range ws {
		if rng.IntN(4) == 0 {
			continue
		}
		name := fmt.Sprintf("W%d", i)
		fmt.Fprintf(&b, "witness %s %s http://127.0.0.1:%d\n", name, w.vkey, 9000+i)
		free = append(free, name)
	}
	for g := 0; len(free) > 1 && rng.IntN(4) != 0; g++ {
		rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
		n := 1 + rng.IntN(len(free))
		members := free[:n]
		var k string
		switch r := rng.IntN(3); r {
		case 0:
			k = "any"
		case 1:
			k = "all"
		default:
			k = fmt.Sprint(1 + rng.IntN(n))
		}
		name := fmt.Sprintf("G%d", g)
		fmt.Fprintf(&b, "group %s %s %s\n", name, k, strings.Join(members, " "))
		free = append([]string{name}, free[n:]...)
	}
	switch {
	case len(free) == 0 || rng.IntN(10) == 0:
		b.WriteString("quorum none\n")
	default:
		fmt.Fprintf(&b, "quorum %s\n", free[rng.IntN(len(free))])
	}
	return b.String()
}

func FuzzParsePolicy(f *testing.F) {
	lg := mustKey(f, "pouch.test/log", false)
	w1, w2 := mustKey(f, "w1.example", true), mustKey(f, "w2.example", true)
	f.Add([]byte("quorum none\n"))
	f.Add([]byte(fmt.Sprintf("log %s\nwitness A %s https://a.example/\nwitness B %s\ngroup G 2 A B\nquorum G\n", lg.vkey, w1.vkey, w2.vkey)))
	f.Add([]byte(fmt.Sprintf("  # c\nwitness\tA %s\ngroup G any A\ngroup H all G\nquorum H", w1.vkey)))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error not matching ErrPolicy: %v", err)
			}
			return
		}
		m := p.Marshal()
		p2, err := ParsePolicy(m)
		if err != nil {
			t.Fatalf("marshalled policy does not parse: %v\n%s", err, m)
		}
		if !bytes.Equal(p2.Marshal(), m) || !policyEqual(p, p2) {
			t.Fatalf("round trip changed the policy:\n%s\n%s", m, p2.Marshal())
		}
		if len(p.Logs) == 1 {
			if _, err := p.Verifier(""); err != nil {
				t.Fatalf("a parsed policy gives no verifier: %v", err)
			}
		}
	})
}
