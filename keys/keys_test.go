package keys

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// testLogN keeps scrypt cheap in tests.
const testLogN = 10

func mustKeyFile(t testing.TB, p *Principal) []byte {
	t.Helper()
	b, err := p.MarshalKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyFileRoundTrip(t *testing.T) {
	p, err := Generate("ru/president")
	if err != nil {
		t.Fatal(err)
	}
	kf := mustKeyFile(t, p)
	q, err := ParseKeyFile(kf)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Public().Equal(p.Public()) || !q.Signing.(ed25519.PrivateKey).Equal(p.Signing) {
		t.Fatal("round trip changed the keys")
	}
	if !bytes.Equal(mustKeyFile(t, q), kf) {
		t.Fatal("re-encoding differs")
	}
	// A comment line that does not match the keys is caught.
	other, _ := Generate("ru/president")
	bad := strings.Replace(string(kf), p.Public().Age, other.Public().Age, 1)
	if _, err := ParseKeyFile([]byte(bad)); err == nil {
		t.Fatal("key file with a mismatched age comment accepted")
	}
	noHandle := strings.Replace(string(kf), "# handle: ru/president\n", "", 1)
	if _, err := ParseKeyFile([]byte(noHandle)); err == nil {
		t.Fatal("key file without a handle accepted")
	}
}

func TestEncryptedKey(t *testing.T) {
	p, _ := Generate("ir/speaker")
	enc, err := p.Encrypt("correct horse", testLogN)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(enc, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		t.Fatalf("not armored: %.40q", enc)
	}
	if _, err := Decrypt(enc, "wrong"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: got %v", err)
	}
	q, err := Decrypt(enc, "correct horse")
	if err != nil || !q.Public().Equal(p.Public()) {
		t.Fatalf("decrypt: %v", err)
	}
}

func TestAgeIdentityFileWorksWithAge(t *testing.T) {
	p, _ := Generate("ru/duma-chair")
	idf, err := p.AgeIdentityFile()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(idf))
	if err != nil || len(ids) != 1 {
		t.Fatalf("age cannot read the exported identity: %v", err)
	}
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, p.Recipient())
	io.WriteString(w, "hello")
	w.Close()
	r, err := age.Decrypt(&buf, ids...)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "hello" {
		t.Fatalf("got %q", b)
	}
}

func TestPublicFile(t *testing.T) {
	p, _ := Generate("ir/leader")
	b := p.Public().Marshal()
	q, err := ParsePublic(b)
	if err != nil || !q.Equal(p.Public()) {
		t.Fatalf("%v", err)
	}
	for _, bad := range []string{
		strings.Replace(string(b), `"handle"`, `"handel"`, 1),
		strings.Replace(string(b), "ir/leader", "IR/leader", 1),
		strings.Replace(string(b), "age1pq1", "age1", 1),
		string(b) + "{}",
	} {
		if _, err := ParsePublic([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestHome(t *testing.T) {
	h := &Home{Dir: t.TempDir(), ScryptLogN: testLogN}
	if _, err := h.Pick(""); err == nil {
		t.Fatal("Pick in an empty home")
	}
	a, _ := Generate("ir/leader")
	b, _ := Generate("ir/speaker")
	for _, p := range []*Principal{a, b} {
		if err := h.Save(p, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Save(a, "pw"); !errors.Is(err, ErrExists) {
		t.Fatalf("second save: %v", err)
	}
	hs, _ := h.List()
	if len(hs) != 2 || hs[0] != "ir/leader" || hs[1] != "ir/speaker" {
		t.Fatalf("List: %v", hs)
	}
	if _, err := h.Pick(""); err == nil || !strings.Contains(err.Error(), "--as") {
		t.Fatalf("Pick with two principals: %v", err)
	}
	if got, err := h.Pick("ir/speaker"); err != nil || got != "ir/speaker" {
		t.Fatalf("Pick: %v %v", got, err)
	}
	q, err := h.Load("ir/speaker", "pw")
	if err != nil || !q.Public().Equal(b.Public()) {
		t.Fatalf("Load: %v", err)
	}
	if _, err := h.Load("ir/speaker", "nope"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Load with a wrong passphrase: %v", err)
	}
	if _, err := h.Load("ru/president", "pw"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of a stranger: %v", err)
	}
	st, _ := os.Stat(h.keyPath("ir/leader"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode())
	}

	// Contacts.
	ru, _ := Generate("ru/president")
	if ok, err := h.Import(ru.Public()); err != nil || !ok {
		t.Fatalf("Import: %v %v", ok, err)
	}
	if ok, err := h.Import(ru.Public()); err != nil || ok {
		t.Fatalf("second Import: %v %v", ok, err)
	}
	ru2, _ := Generate("ru/president")
	if _, err := h.Import(ru2.Public()); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting Import: %v", err)
	}
	if _, err := h.Import(b.Public()); err != nil {
		t.Fatalf("importing an own principal's keys: %v", err)
	}
	a2, _ := Generate("ir/leader")
	if _, err := h.Import(a2.Public()); !errors.Is(err, ErrConflict) {
		t.Fatalf("import over an own principal: %v", err)
	}
	got, err := h.Lookup("ru/president")
	if err != nil || !got.Equal(ru.Public()) {
		t.Fatalf("Lookup: %v", err)
	}
	if _, err := h.Lookup("us/president"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup of a stranger: %v", err)
	}
	cs, _ := h.Contacts()
	if len(cs) != 1 || cs[0] != "ru/president" {
		t.Fatalf("Contacts: %v", cs)
	}
	// Nothing half-written is left behind.
	ents, _ := filepath.Glob(filepath.Join(h.Dir, "*", "*", ".tmp-*"))
	if len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
