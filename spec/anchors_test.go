package spec_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// root is the repository's root, from this package's folder.
const root = ".."

// explicitID matches an explicit anchor anywhere in a line.
var explicitID = regexp.MustCompile(`\{#([A-Za-z0-9_-]+)\}`)

// headingID matches an explicit id at the end of a heading: "## Dates {#dates}".
var headingID = regexp.MustCompile(`\s*\{#([A-Za-z0-9_-]+)\}\s*$`)

// slug is the anchor GitHub makes of a heading's text: lower case, every
// character but letters, digits, spaces, '-' and '_' dropped, spaces
// turned into '-'.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of the Markdown file at path, outside fenced
// code blocks: each heading's text's slug, and every explicit {#id}, on a
// heading or in the text ("Roles {#roles}: ...").
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	fenced := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range explicitID.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		if !strings.HasPrefix(text, " ") {
			continue
		}
		if m := headingID.FindStringSubmatch(text); m != nil {
			out[m[1]] = true
			text = text[:len(text)-len(m[0])]
		}
		text = strings.ReplaceAll(text, "`", "")
		out[slug(text)] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// reference matches a reference to a specification or a design note:
// spec/FILE.md or docs/FILE.md, and an optional #anchor. FILE is lower
// case; "spec/FILE.md" itself, which documents the convention, is not a
// reference.
var reference = regexp.MustCompile(`\b(spec|docs)/([a-z0-9-]+\.md)(#[A-Za-z0-9_-]+)?`)

// scanned says which files may hold references.
func scanned(path string) bool {
	switch filepath.Ext(path) {
	case ".go", ".md", ".js", ".html", ".tmpl", ".css", ".txt":
		return true
	}
	return filepath.Base(path) == "run"
}

// TestReferencesResolve checks every reference to a specification or a
// design note in the repository ("// SPEC: spec/FILE.md#anchor" in code,
// spec/FILE.md#anchor or docs/FILE.md#anchor in text): the document
// exists, and so does the heading its anchor names. It fails on none found, so that it cannot pass by looking in the
// wrong place.
func TestReferencesResolve(t *testing.T) {
	cache := map[string]map[string]bool{}
	var refs, broken []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "screenshots":
				return filepath.SkipDir
			}
			return nil
		}
		if !scanned(path) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range reference.FindAllStringSubmatch(line, -1) {
				file, anchor := filepath.Join(m[1], m[2]), strings.TrimPrefix(m[3], "#")
				refs = append(refs, m[0])
				where := rel + ":" + itoa(i+1) + ": " + m[0]
				as, ok := cache[file]
				if !ok {
					if _, err := os.Stat(filepath.Join(root, file)); err != nil {
						broken = append(broken, where+": no such document")
						cache[file] = nil
						continue
					}
					as = anchors(t, filepath.Join(root, file))
					cache[file] = as
				}
				if as == nil {
					broken = append(broken, where+": no such document")
					continue
				}
				if anchor != "" && !as[anchor] {
					broken = append(broken, where+": no heading with this anchor")
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) < 100 {
		t.Fatalf("found %d references to spec/ in the repository; expected well over 100: is the root right?", len(refs))
	}
	sort.Strings(broken)
	for _, b := range broken {
		t.Error(b)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"GET /v1/records":                  "get-v1records",
		"Verifying a file against the log": "verifying-a-file-against-the-log",
		"The `--json` envelope":            "the---json-envelope",
		"Post-quantum only":                "post-quantum-only",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// link matches a Markdown link's target.
var link = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinksResolve checks every relative link of the repository's Markdown
// documents: the file it names exists, and for a Markdown file, so does
// the heading its anchor names ("#anchor" alone: in the same document).
func TestLinksResolve(t *testing.T) {
	cache := map[string]map[string]bool{}
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Ext(path) != ".md" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fenced := false
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "```") {
				fenced = !fenced
			}
			if fenced {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				n++
				where := rel + ":" + itoa(i+1) + ": " + target
				file, anchor, _ := strings.Cut(target, "#")
				dest := path
				if file != "" {
					dest = filepath.Join(filepath.Dir(path), file)
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: no such file", where)
					continue
				}
				if anchor == "" || filepath.Ext(dest) != ".md" {
					continue
				}
				as, ok := cache[dest]
				if !ok {
					as = anchors(t, dest)
					cache[dest] = as
				}
				if !as[anchor] {
					t.Errorf("%s: no heading with this anchor", where)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found %d relative links in the repository's documents; expected more: is the root right?", n)
	}
}
