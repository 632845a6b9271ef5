package testvectors

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors from the generator")

const dir = "../../testdata/vectors"

// seed makes the vectors reproducible.
const seed = 20210208

func generate(t *testing.T) []*Vector {
	cryptotest.SetGlobalRandom(t, seed)
	vs, err := Generate(rand.NewChaCha8([32]byte{'p', 'o', 'u', 'c', 'h'}))
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func encode(v *Vector) []byte {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// load reads every vector file, rejecting unknown fields.
func load(t *testing.T) map[string]*Vector {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no test vectors in %s: regenerate them with -update", dir)
	}
	vs := map[string]*Vector{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var v Vector
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v.Name+".json" != filepath.Base(p) {
			t.Fatalf("%s: names vector %q", p, v.Name)
		}
		vs[v.Name] = &v
	}
	return vs
}

// TestVectors runs every checked-in vector through its decoder.
func TestVectors(t *testing.T) {
	vs := load(t)
	kinds := map[string]int{}
	for name, v := range vs {
		kinds[v.Kind]++
		t.Run(name, func(t *testing.T) {
			if err := Check(v); err != nil {
				t.Fatalf("%s (%s): %v", v.Name, v.Comment, err)
			}
		})
	}
	for _, k := range []string{"record", "pouch", "disclosure", "commitment", "public-key", "key-file", "markdown"} {
		if kinds[k] == 0 {
			t.Errorf("no vectors of kind %q", k)
		}
	}
}

// TestVectorsReproducible regenerates the vectors and compares them with
// the checked-in files byte for byte: a change to a wire format shows up
// here. With -update it rewrites the files instead.
func TestVectorsReproducible(t *testing.T) {
	vs := generate(t)
	if *update {
		old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, p := range old {
			os.Remove(p)
		}
		os.MkdirAll(dir, 0o755)
		for _, v := range vs {
			if err := os.WriteFile(filepath.Join(dir, v.Name+".json"), encode(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("wrote %d vectors to %s", len(vs), dir)
		return
	}
	onDisk := load(t)
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
		d, ok := onDisk[v.Name]
		if !ok {
			t.Errorf("vector %s is not checked in: run with -update", v.Name)
			continue
		}
		if !bytes.Equal(encode(d), encode(v)) {
			t.Errorf("vector %s differs from the generator's: the format changed (run with -update if that was meant)", v.Name)
		}
	}
	if len(onDisk) != len(vs) {
		sort.Strings(names)
		t.Errorf("%d vectors on disk, the generator makes %d (%s)", len(onDisk), len(vs), strings.Join(names, ", "))
	}
}

// The harness fails on an unknown key in a vector file.
func TestUnknownKeysRejected(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"name":"x","kind":"record","expect":"ok","surprise":1}`))
	dec.DisallowUnknownFields()
	var v Vector
	if err := dec.Decode(&v); err == nil {
		t.Fatal("a vector with an unknown key was accepted")
	}
	if err := Check(&Vector{Kind: "no-such-kind", Expect: "ok"}); err == nil {
		t.Fatal("a vector of an unknown kind passed")
	}
	if err := Check(&Vector{Kind: "markdown", Input: []byte("## x"), Expect: "ErrNoSuchError"}); err == nil {
		t.Fatal("an unknown expectation passed")
	}
}
