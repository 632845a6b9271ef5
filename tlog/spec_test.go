package tlog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"pouch.dev/record"
)

// TestSpecWorkedExample recomputes the worked example of spec/log.md
// ("Worked example" under "Checkpoints") and checks that every value the
// spec prints is there: the entries, their leaf hashes, the verifier key,
// the signed checkpoint and the inclusion proof. Run with -v to see them.
func TestSpecWorkedExample(t *testing.T) {
	const origin = "pouch.example/log"
	seed := sha256.Sum256([]byte("the worked example's log key"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	vkey, err := note.NewEd25519VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	// A signer key in the signed-note format: the verifier key's name and
	// hash, and the seed after the algorithm byte 0x01.
	parts := strings.Split(vkey, "+")
	skey := "PRIVATE+KEY+" + origin + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, seed[:]...))
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2015, 7, 14, 9, 0, 0, 0, time.UTC)
	ids := []string{
		"8aef8a7b8aaf540d44e41bd4e2f6c4e5aca0980a78f43c671f0d1d7d11940819",
		"c7020705e8ee07c640f42df94ea849167fb272d70bb31f1ce40a3fa9f99074b2",
		"d1c929c5d8437161ac3cb44fd68605c56a35e7a9336ad3dc266959d92f7e140e",
	}
	kinds := []record.Kind{record.KindHouse, record.KindHouse, record.KindStatement}
	var want []string
	var hashes [][]byte
	for i, h := range ids {
		id, err := record.ParseID(h)
		if err != nil {
			t.Fatal(err)
		}
		entry := record.LeafData(record.Leaf{Kind: kinds[i], ID: id, Time: start.Add(time.Duration(i) * time.Second).UnixMilli()})
		lh := LeafHash(entry)
		hashes = append(hashes, lh)
		want = append(want, fmt.Sprintf("leaf %d entry %x\n       hash  %x", i, entry, lh))
	}
	node := rfc6962.DefaultHasher.HashChildren(hashes[0], hashes[1])
	root := rfc6962.DefaultHasher.HashChildren(node, hashes[2])
	cp, err := signCheckpoint(signer, origin, 3, root)
	if err != nil {
		t.Fatal(err)
	}
	p := &Checkpoint{Origin: origin, Size: 3, Hash: root}
	if err := VerifyInclusion(p, 2, record.LeafData(record.Leaf{Kind: kinds[2], ID: mustID(t, ids[2]), Time: start.Add(2 * time.Second).UnixMilli()}), [][]byte{node}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "verifier key `"+vkey+"`", string(cp), "`"+base64.StdEncoding.EncodeToString(node)+"`",
		fmt.Sprintf("`%x`", start.UnixMilli()))
	spec, err := os.ReadFile("../spec/log.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		t.Logf("\n%s", w)
		if !strings.Contains(string(spec), w) {
			t.Errorf("spec/log.md does not show:\n%s", w)
		}
	}
}

func mustID(t *testing.T, h string) record.ID {
	id, err := record.ParseID(h)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
