package scenario

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/agreement/jcpoa"
	"pouch.dev/internal/testkeys"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// TestExamples checks that the files in examples/, which the README's
// examples use, are the scenario's own: the letters of scenes 1 to 3, the
// JCPOA as scene 4 registers it, and the texts of scenes 4 and 5.
func TestExamples(t *testing.T) {
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, want := range map[string][]letter.Section{"leader.md": leaderLetter, "reply.md": putinReply, "rouhani.md": rouhaniLetter} {
		got, err := letter.ParseMarkdown(read(name))
		if err != nil {
			t.Fatalf("examples/%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("examples/%s is not the scenario's letter:\n%+v\nwant\n%+v", name, got, want)
		}
	}
	if !bytes.Equal(read("jcpoa.txt"), jcpoa.JCPOAText) || !bytes.Equal(read("statement.txt"), jcpoa.StatementText) {
		t.Error("examples/jcpoa.txt or examples/statement.txt is not the scenario's text")
	}
	dec := json.NewDecoder(bytes.NewReader(read("jcpoa.json")))
	dec.DisallowUnknownFields()
	var got agreement.Agreement
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("examples/jcpoa.json: %v", err)
	}
	got.Text = agreement.Digest(read("jcpoa.txt"))
	sc, err := jcpoa.Build("pouch.example/log", testkeys.Key, time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	_, r, err := record.Verify(sc.JCPOA[0].Signed.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var want agreement.Agreement
	if err := record.Unmarshal(r.Body, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, &want) {
		t.Errorf("examples/jcpoa.json is not the JCPOA scene 4 registers:\n%+v\nwant\n%+v", got, want)
	}
}
