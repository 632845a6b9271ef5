package main

// The command line against its specification, spec/cli.md: every verb
// and flag listed there, and the JSON every verb prints checked against
// the shapes written there. The shapes are read from the document's
// ```shape, ```result and ```event blocks (see spec/cli.md#envelope for
// their notation), so that the document cannot drift from the code.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/internal/scenario"
	"pouch.dev/record"
	"pouch.dev/store/sqlite"
)

// A shape is a JSON shape of spec/cli.md.
type shape struct {
	kind   string // "object", "array", "map", "name", "and"
	name   string
	fields map[string]*field
	elem   *shape
	parts  []*shape
}

type field struct {
	optional bool
	s        *shape
}

// shapeParser parses the notation of spec/cli.md#envelope.
type shapeParser struct {
	s   string
	pos int
}

func (p *shapeParser) skip() {
	for p.pos < len(p.s) && strings.ContainsRune(" \t\n", rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *shapeParser) peek() byte {
	p.skip()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *shapeParser) expect(c byte) error {
	if p.peek() != c {
		return fmt.Errorf("at %d of %q: want %q", p.pos, p.s, c)
	}
	p.pos++
	return nil
}

func (p *shapeParser) shape() (*shape, error) {
	first, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.peek() != '&' {
		return first, nil
	}
	and := &shape{kind: "and", parts: []*shape{first}}
	for p.peek() == '&' {
		p.pos++
		s, err := p.primary()
		if err != nil {
			return nil, err
		}
		and.parts = append(and.parts, s)
	}
	return and, nil
}

func (p *shapeParser) primary() (*shape, error) {
	switch c := p.peek(); {
	case c == '[':
		p.pos++
		e, err := p.shape()
		if err != nil {
			return nil, err
		}
		return &shape{kind: "array", elem: e}, p.expect(']')
	case c == '{':
		p.pos++
		if p.peek() == '*' {
			p.pos++
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			e, err := p.shape()
			if err != nil {
				return nil, err
			}
			return &shape{kind: "map", elem: e}, p.expect('}')
		}
		o := &shape{kind: "object", fields: map[string]*field{}}
		for p.peek() != '}' {
			if err := p.expect('"'); err != nil {
				return nil, err
			}
			end := strings.IndexByte(p.s[p.pos:], '"')
			if end < 0 {
				return nil, fmt.Errorf("%q: unterminated key", p.s)
			}
			key := p.s[p.pos : p.pos+end]
			p.pos += end + 1
			f := &field{}
			if p.peek() == '?' {
				p.pos++
				f.optional = true
			}
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			var err error
			if f.s, err = p.shape(); err != nil {
				return nil, err
			}
			if _, dup := o.fields[key]; dup {
				return nil, fmt.Errorf("%q: key %q twice", p.s, key)
			}
			o.fields[key] = f
			if p.peek() == ',' {
				p.pos++
			}
		}
		p.pos++
		return o, nil
	case c >= 'a' && c <= 'z':
		start := p.pos
		for p.pos < len(p.s) && (p.s[p.pos] >= 'a' && p.s[p.pos] <= 'z' || p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || p.s[p.pos] == '_') {
			p.pos++
		}
		return &shape{kind: "name", name: p.s[start:p.pos]}, nil
	}
	return nil, fmt.Errorf("at %d of %q: unexpected %q", p.pos, p.s, p.peek())
}

func parseShape(s string) (*shape, error) {
	p := &shapeParser{s: s}
	sh, err := p.shape()
	if err != nil {
		return nil, err
	}
	if p.skip(); p.pos != len(p.s) {
		return nil, fmt.Errorf("%q: trailing %q", s, p.s[p.pos:])
	}
	return sh, nil
}

// cliSpec is what spec/cli.md says.
type cliSpec struct {
	shapes   map[string]*shape // named shapes
	results  map[string]*shape // by form: "verify ID", "agent --status"
	events   map[string]*shape // by form and event: "line message"
	sections map[string]string // by verb: "key export"
	client   []string          // the client flags
	codes    []string          // the CLI's codes
}

var (
	fenceRE      = regexp.MustCompile("(?s)```(shape|result|event) ([^\n]+)\n(.*?)```")
	sectionRE    = regexp.MustCompile(`(?m)^### pouch ([a-z -]+?) \{#`)
	specFlagItem = regexp.MustCompile("(?m)^- `(--?[a-z][a-z0-9-]*)")
	codeRow      = regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\|")
)

func readCLISpec(t *testing.T) *cliSpec {
	t.Helper()
	b, err := os.ReadFile("../../spec/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	sp := &cliSpec{shapes: map[string]*shape{}, results: map[string]*shape{}, events: map[string]*shape{}, sections: map[string]string{}}
	for _, m := range fenceRE.FindAllStringSubmatch(doc, -1) {
		sh, err := parseShape(strings.TrimSpace(m[3]))
		if err != nil {
			t.Fatalf("spec/cli.md, %s %s: %v", m[1], m[2], err)
		}
		dst := map[string]map[string]*shape{"shape": sp.shapes, "result": sp.results, "event": sp.events}[m[1]]
		if _, dup := dst[m[2]]; dup {
			t.Fatalf("spec/cli.md: two %s blocks for %q", m[1], m[2])
		}
		dst[m[2]] = sh
	}
	locs := sectionRE.FindAllStringSubmatchIndex(doc, -1)
	for i, l := range locs {
		end := len(doc)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if j := strings.Index(doc[l[0]:end], "\n## "); j >= 0 {
			end = l[0] + j
		}
		sp.sections[doc[l[2]:l[3]]] = doc[l[0]:end]
	}
	section := func(heading string) string {
		i := strings.Index(doc, heading)
		if i < 0 {
			t.Fatalf("spec/cli.md has no %q", heading)
		}
		s := doc[i+len(heading):]
		if j := strings.Index(s, "\n## "); j >= 0 {
			s = s[:j]
		}
		if j := strings.Index(s, "\n### "); j >= 0 {
			s = s[:j]
		}
		return s
	}
	for _, m := range specFlagItem.FindAllStringSubmatch(section("### Client flags"), -1) {
		sp.client = append(sp.client, strings.TrimLeft(m[1], "-"))
	}
	for _, m := range codeRow.FindAllStringSubmatch(section("### Codes"), -1) {
		sp.codes = append(sp.codes, m[1])
	}
	if len(sp.results) < 30 || len(sp.sections) < 30 || len(sp.client) != 5 || len(sp.codes) < 20 {
		t.Fatalf("spec/cli.md: read %d results, %d verb sections, %d client flags and %d codes: is the document's layout what this test expects?",
			len(sp.results), len(sp.sections), len(sp.client), len(sp.codes))
	}
	return sp
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// check checks v against s, and returns what does not match, by path.
func (sp *cliSpec) check(v any, s *shape, path string) []string {
	switch s.kind {
	case "and":
		merged := &shape{kind: "object", fields: map[string]*field{}}
		for _, p := range s.parts {
			p = sp.resolve(p)
			if p.kind != "object" {
				return []string{path + ": & of a shape that is no object"}
			}
			for k, f := range p.fields {
				merged.fields[k] = f
			}
		}
		return sp.check(v, merged, path)
	case "object":
		o, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %s", path, js(v))}
		}
		var bad []string
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := s.fields[k]
			switch {
			case !snakeCase.MatchString(k):
				bad = append(bad, fmt.Sprintf("%s.%s: not snake_case", path, k))
			case !ok:
				bad = append(bad, fmt.Sprintf("%s.%s: not in the spec", path, k))
			default:
				bad = append(bad, sp.check(o[k], f.s, path+"."+k)...)
			}
		}
		for k, f := range s.fields {
			if _, ok := o[k]; !ok && !f.optional {
				bad = append(bad, fmt.Sprintf("%s.%s: missing", path, k))
			}
		}
		return bad
	case "array":
		a, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %s", path, js(v))}
		}
		var bad []string
		for i, e := range a {
			bad = append(bad, sp.check(e, s.elem, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return bad
	case "map":
		o, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want a map, got %s", path, js(v))}
		}
		var bad []string
		for k, e := range o {
			bad = append(bad, sp.check(e, s.elem, path+"["+k+"]")...)
		}
		return bad
	}
	str, isStr := v.(string)
	num, isNum := v.(float64)
	ok := true
	switch s.name {
	case "any":
	case "string":
		ok = isStr
	case "int":
		ok = isNum && num == float64(int64(num))
	case "number":
		ok = isNum
	case "bool":
		_, ok = v.(bool)
	case "id":
		_, err := record.ParseID(str)
		ok = isStr && err == nil && str == strings.ToLower(str)
	case "hex":
		_, err := hex.DecodeString(str)
		ok = isStr && str != "" && err == nil && str == strings.ToLower(str)
	case "base64":
		_, err := base64.StdEncoding.DecodeString(str)
		ok = isStr && err == nil
	case "handle":
		_, err := record.ParseHandle(str)
		ok = isStr && err == nil
	case "house":
		_, err := record.ParseHouse(str)
		ok = isStr && err == nil
	case "time":
		_, err := time.Parse(time.RFC3339Nano, str)
		ok = isStr && err == nil
	case "date":
		_, err := agreement.ParseDate(str)
		ok = isStr && err == nil
	default:
		named, found := sp.shapes[s.name]
		if !found {
			return []string{fmt.Sprintf("%s: the spec names an unknown shape or type %q", path, s.name)}
		}
		return sp.check(v, named, path)
	}
	if !ok {
		return []string{fmt.Sprintf("%s: want %s, got %s", path, s.name, js(v))}
	}
	return nil
}

// resolve follows a shape's name to the shape it names.
func (sp *cliSpec) resolve(s *shape) *shape {
	for s.kind == "name" && sp.shapes[s.name] != nil {
		s = sp.shapes[s.name]
	}
	return s
}

func js(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		b = append(b[:77], "..."...)
	}
	return string(b)
}

// verbFlags returns the flags of v, from its --help in flags-only mode.
func verbFlags(t *testing.T, v *verb) []string {
	t.Helper()
	var out bytes.Buffer
	ctx := &cmdContext{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }, flagsOnly: true, verb: v.name}
	v.run(ctx, []string{"--help"})
	help := out.String()
	if !strings.Contains(help, "Flags of pouch "+v.name) {
		t.Fatalf("pouch %s --help, flags only:\n%s", v.name, help)
	}
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(help, -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// allVerbs lists every verb and subcommand that runs.
func allVerbs() []*verb {
	var out []*verb
	for _, v := range verbs {
		if v.run != nil {
			out = append(out, v)
		}
		out = append(out, v.subs...)
	}
	slices.SortFunc(out, func(a, b *verb) int { return strings.Compare(a.name, b.name) })
	return out
}

// TestCLISpecFlags checks that spec/cli.md has a section for every verb
// and subcommand, naming each of its flags (and no flag it lacks), and
// either the shape of its JSON or that it has none.
func TestCLISpecFlags(t *testing.T) {
	sp := readCLISpec(t)
	seen := map[string]bool{}
	for _, v := range allVerbs() {
		sec, ok := sp.sections[v.name]
		if !ok {
			t.Errorf("spec/cli.md has no section \"### pouch %s\"", v.name)
			continue
		}
		seen[v.name] = true
		flags := verbFlags(t, v)
		client := strings.Contains(sec, "(#client-flags)")
		for _, f := range flags {
			listed := strings.Contains(sec, "`--"+f) || len(f) == 1 && strings.Contains(sec, "`-"+f+" ")
			if !listed && !(client && slices.Contains(sp.client, f)) {
				t.Errorf("spec/cli.md, pouch %s: flag --%s is not listed", v.name, f)
			}
		}
		for _, m := range specFlagItem.FindAllStringSubmatch(sec, -1) {
			if f := strings.TrimLeft(m[1], "-"); !slices.Contains(flags, f) {
				t.Errorf("spec/cli.md, pouch %s: lists --%s, which it does not have", v.name, f)
			}
		}
		hasJSON := slices.Contains(flags, "json")
		forms := 0
		for form := range sp.results {
			if formOf(form) == v {
				forms++
			}
		}
		for key := range sp.events {
			if form := key[:strings.LastIndexByte(key, ' ')]; formOf(form) == v {
				forms++
			}
		}
		switch {
		case hasJSON && forms == 0:
			t.Errorf("spec/cli.md, pouch %s: has --json, and no ```result or ```event block", v.name)
		case !hasJSON && forms > 0:
			t.Errorf("spec/cli.md, pouch %s: a ```result or ```event block, and no --json flag", v.name)
		case !hasJSON && !strings.Contains(sec, "no `--json`"):
			t.Errorf("spec/cli.md, pouch %s: has no --json, and its section does not say so", v.name)
		}
	}
	for name := range sp.sections {
		if !seen[name] && name != "version" {
			t.Errorf("spec/cli.md has a section for pouch %s, which is no verb", name)
		}
	}
}

// formOf returns the verb a form of spec/cli.md is of: "verify ID" and
// "agent --status" are forms of verify and agent, "key import" is the
// subcommand itself.
func formOf(form string) *verb {
	if v := verbNamed(form); v != nil {
		return v
	}
	top, rest, _ := strings.Cut(form, " ")
	if v := verbs[top]; v != nil {
		sub, _, _ := strings.Cut(rest, " ")
		if s := v.sub(sub); s != nil {
			return s
		}
		return v
	}
	return nil
}

// TestCLISpecCodes checks the codes table of spec/cli.md against the
// CLI's codes: the same, in the same order, and none an API code.
func TestCLISpecCodes(t *testing.T) {
	sp := readCLISpec(t)
	var have []string
	for _, c := range cliCodes {
		have = append(have, c.code)
		if api.ErrorOf(api.Code(c.code)) != nil {
			t.Errorf("the CLI code %q is also an API code", c.code)
		}
	}
	have = append(have, "failed")
	if !slices.Equal(sp.codes, have) {
		t.Errorf("spec/cli.md lists the codes\n%v\nthe CLI has\n%v", sp.codes, have)
	}
}

// specRun runs pouch with --json in the test's environment and checks
// every line it prints against spec/cli.md: the envelope, and the
// result (or event) of form. It returns the result of the last envelope.
type specRun struct {
	t       *testing.T
	sp      *cliSpec
	env     map[string]string
	checked map[string]bool
}

func (r *specRun) envelope(out, verb string) (map[string]any, []string) {
	var bad []string
	var e map[string]any
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		return nil, []string{fmt.Sprintf("not JSON: %v: %q", err, out)}
	}
	bad = append(bad, r.sp.check(e, &shape{kind: "name", name: "envelope"}, "envelope")...)
	if e["v"] != float64(JSONVersion) {
		bad = append(bad, fmt.Sprintf("envelope: v is %v, want %d", e["v"], JSONVersion))
	}
	if e["verb"] != verb {
		bad = append(bad, fmt.Sprintf("envelope: verb is %v, want %q", e["verb"], verb))
	}
	return e, bad
}

// ok runs args, which must succeed, and checks its one envelope against
// the result of form.
func (r *specRun) ok(form string, args ...string) map[string]any {
	r.t.Helper()
	out, errs, code := offRun(r.t, r.env, append(args, "--json")...)
	if code != 0 {
		r.t.Fatalf("pouch %s --json: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	if n := strings.Count(out, "\n"); n != 1 || !strings.HasSuffix(out, "\n") {
		r.t.Fatalf("pouch %s --json: want one line, got %d:\n%s", strings.Join(args, " "), n, out)
	}
	verb := args[0]
	if v := formOf(form); v != nil {
		verb = v.name
	}
	return r.result(form, verb, strings.TrimSpace(out))
}

// result checks one envelope of verb against the result of form.
func (r *specRun) result(form, verb, line string) map[string]any {
	r.t.Helper()
	sh, ok := r.sp.results[form]
	if !ok {
		r.t.Fatalf("spec/cli.md has no ```result %s", form)
	}
	e, bad := r.envelope(line, verb)
	if e != nil {
		if e["ok"] != true {
			bad = append(bad, "envelope: ok is not true")
		}
		bad = append(bad, r.sp.check(e["result"], sh, "result")...)
	}
	for _, b := range bad {
		r.t.Errorf("%s: %s\n%s", form, b, line)
	}
	r.checked["result "+form] = true
	res, _ := e["result"].(map[string]any)
	return res
}

// event checks one line of a stream against the event it names.
func (r *specRun) event(form, verb, line string) string {
	r.t.Helper()
	e, bad := r.envelope(line, verb)
	name, _ := e["event"].(string)
	sh, ok := r.sp.events[form+" "+name]
	if !ok {
		r.t.Fatalf("spec/cli.md has no ```event %s %s, which this line is:\n%s", form, name, line)
	}
	bad = append(bad, r.sp.check(e["result"], sh, "result")...)
	for _, b := range bad {
		r.t.Errorf("%s %s: %s\n%s", form, name, b, line)
	}
	r.checked["event "+form+" "+name] = true
	return name
}

// fail runs args, which must fail with code and exit status, and checks
// the envelope of the failure.
func (r *specRun) fail(code string, exit int, args ...string) *jsonError {
	r.t.Helper()
	out, errs, st := offRun(r.t, r.env, append(args, "--json")...)
	if st != exit {
		r.t.Fatalf("pouch %s --json: exit %d, want %d\n%s%s", strings.Join(args, " "), st, exit, out, errs)
	}
	verb := args[0]
	if v := verbs[args[0]]; v != nil && len(v.subs) > 0 && len(args) > 1 && v.sub(args[1]) != nil {
		verb = v.sub(args[1]).name
	}
	e, bad := r.envelope(strings.TrimSpace(out), verb)
	for _, b := range bad {
		r.t.Errorf("pouch %s: %s\n%s", strings.Join(args, " "), b, out)
	}
	je := failure(r.t, out)
	if je.Code != code || je.Exit != exit || e["ok"] != false {
		r.t.Errorf("pouch %s: error %+v, want code %q, exit %d", strings.Join(args, " "), je, code, exit)
	}
	// The same sentence and hint as on standard error.
	if !strings.Contains(errs, "pouch: "+je.Message+"\n") || je.Hint != "" && !strings.Contains(errs, "pouch: hint: "+je.Hint+"\n") {
		r.t.Errorf("pouch %s: the JSON error differs from standard error:\n%s%s", strings.Join(args, " "), out, errs)
	}
	r.checked["error"] = true
	return je
}

// waitLine waits until s holds at least n complete lines, and returns them.
func waitLine(t *testing.T, what string, s *screen, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out := s.String(); strings.Count(out, "\n") >= n {
			return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no line within 20 s:\n%s", what, s.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCLISpecJSON plays the reference scenario's first scenes through
// every verb with --json, against an in-process server in operator mode,
// and checks each envelope against spec/cli.md; then the failures a
// script meets. Every ```result and ```event block of the document must
// have been checked.
func TestCLISpecJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the scenario through every verb")
	}
	sp := readCLISpec(t)
	dir := t.TempDir()
	opPath := filepath.Join(dir, "operator.key")
	op, err := loadOrCreateEd25519(opPath, true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := scenario.Start(context.Background(), scenario.Options{Operator: op})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	env := offEnv(filepath.Join(dir, "home"))
	env["POUCH_SERVER"] = w.URL
	r := &specRun{t: t, sp: sp, env: env, checked: map[string]bool{}}
	str := func(m map[string]any, k string) string {
		t.Helper()
		s, ok := m[k].(string)
		if !ok {
			t.Fatalf("result has no string %q: %v", k, m)
		}
		return s
	}

	// Keys, houses, offices, a grant.
	for _, h := range []string{"ir/leader", "ir/speaker", "ru/president", "ru/duma-chair", "ru/fm"} {
		r.ok("init", "init", h)
	}
	r.ok("key list", "key", "list")
	pub := filepath.Join(dir, "president.pub")
	os.WriteFile(pub, []byte(offMust(t, env, "key", "export", "--as", "ru/president")), 0o644)
	(&specRun{t: t, sp: sp, env: offEnv(filepath.Join(dir, "other")), checked: r.checked}).ok("key import", "key", "import", pub)
	req := filepath.Join(dir, "ir.req")
	r.ok("house --request", "house", "ir", "--name", "Islamic Republic of Iran", "--request", "-o", req)
	r.ok("house approve", "house", "approve", "--yes", "--operator-key", opPath, req)
	r.ok("house", "house", "ru", "--operator-key", opPath)
	for _, h := range []string{"ir/leader", "ir/speaker", "ru/president", "ru/duma-chair", "ru/fm"} {
		r.ok("admit", "admit", h)
	}
	grant := r.ok("grant", "grant", "--as", "ru/president", "--to", "ru/duma-chair", "--from", "ir/leader", "--for", "720h", "receive")

	// A letter sealed offline, inspected, verified, submitted.
	md := filepath.Join(dir, "letter.md")
	os.WriteFile(md, []byte(offLetter), 0o644)
	file := filepath.Join(dir, "letter.pouch")
	r.ok("seal", "seal", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker", "-o", file, md)
	r.ok("inspect", "inspect", file)
	r.ok("verify FILE", "verify", file)
	r.ok("submit", "submit", file)

	// Scene 1 through the server.
	r.ok("send --dry-run", "send", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker", "--dry-run", md)
	id := str(r.ok("send", "send", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker", md), "id")
	r.ok("inbox", "inbox", "--as", "ir/speaker")
	r.fail("not-a-party", 1, "take", "--as", "ru/fm", id)
	r.ok("take", "take", "--as", "ir/speaker", id[:8])
	r.ok("deliver", "deliver", "--as", "ru/duma-chair", id)
	r.ok("verify ID", "verify", "--as", "ir/leader", id)
	r.ok("open", "open", "--as", "ru/president", id)
	r.ok("fetch", "fetch", "--as", "ru/president", id, "-o", filepath.Join(dir, "fetched.pouch"))
	r.ok("publish", "publish", "--as", "ru/duma-chair", "--delivery", id)
	r.ok("reply", "reply", "--as", "ru/president", "--via", "ru/fm", id, md)

	// The Leader's inbox, streamed.
	{
		ictx, cancel := context.WithCancel(context.Background())
		var out screen
		done := make(chan int, 1)
		go func() {
			done <- runMain(&cmdContext{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard, getenv: func(k string) string { return env[k] }, base: ictx},
				[]string{"inbox", "--as", "ir/leader", "--follow", "--json"})
		}()
		lines := waitLine(t, "inbox --follow", &out, 1)
		cancel()
		if st := <-done; st != 0 {
			t.Fatalf("inbox --follow: exit %d", st)
		}
		for _, l := range lines {
			r.event("inbox --follow", "inbox", l)
		}
	}

	// A second letter, handed over on a secure line by the Speaker; the
	// President's end prints its events, signs delivery, and keeps the
	// call record, which verify then checks.
	{
		id2 := str(r.ok("send", "send", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker", md), "id")
		r.ok("take", "take", "--as", "ir/speaker", id2)
		call := filepath.Join(dir, "call.record")
		var presOut, presErr, spErr screen
		done := make(chan int, 2)
		get := func(k string) string { return env[k] }
		go func() {
			done <- runMain(&cmdContext{stdin: strings.NewReader("Received.\n"), stdout: &presOut, stderr: &presErr, getenv: get},
				[]string{"line", "--as", "ru/president", "--script", "--json", "--save", dir, "--record", call, "--linger", "20s", "ir/speaker"})
		}()
		go func() {
			done <- runMain(&cmdContext{stdin: strings.NewReader("The Leader's letter.\n"), stdout: io.Discard, stderr: &spErr, getenv: get},
				[]string{"line", "--as", "ir/speaker", "--script", "--pouch", id2, "--linger", "300ms", "ru/president"})
		}()
		for range 2 {
			select {
			case st := <-done:
				if st != 0 {
					t.Fatalf("line: exit %d\n%s\n%s", st, presErr.String(), spErr.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("the line did not end\n%s\n%s", presErr.String(), spErr.String())
			}
		}
		events := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(presOut.String()), "\n") {
			events[r.event("line", "line", l)] = true
		}
		if len(events) != 4 {
			t.Errorf("the line printed the events %v, want message, pouch, call_record and custody", events)
		}
		r.ok("verify RECORD", "verify", call)
	}

	// Scene 7's events: a letter that asks for consent and has a
	// deadline, refused; another, accepted; the evidence of the first,
	// checked with no network.
	{
		refused := str(r.ok("send", "send", "--as", "ir/leader", "--to", "ru/president", "--via", "ir/speaker", "--consent", "--deliver-by", "168h", md), "id")
		r.ok("take", "take", "--as", "ir/speaker", refused)
		r.ok("refuse", "refuse", "--as", "ru/president", "--reason", "declined", "--text", "Not by this route.", refused)
		accepted := str(r.ok("send", "send", "--as", "ir/leader", "--to", "ru/president", "--consent", md), "id")
		r.ok("accept", "accept", "--as", "ru/president", accepted)
		bundle := filepath.Join(dir, "refused.evidence")
		r.ok("evidence", "evidence", "--as", "ir/leader", refused, "-o", bundle)
		r.ok("verify BUNDLE", "verify", bundle)
	}

	// An agreement and a statement.
	{
		ag, text := filepath.Join(dir, "ag.json"), filepath.Join(dir, "text.txt")
		os.WriteFile(text, []byte("The parties agree.\n"), 0o644)
		os.WriteFile(ag, []byte(`{"name": "ir-ru", "title": "A treaty", "force": {},
  "parties": [{"house": "ir", "signers": ["ir/leader"]}, {"house": "ru", "signers": ["ru/president"]}],
  "verifiers": ["ru/duma-chair"], "clauses": [{"id": "trade", "title": "Trade"}]}`), 0o644)
		agID := str(r.ok("agreement register", "agreement", "register", "--as", "ir/leader", ag, text), "id")
		waitIntegrated(t, w)
		r.ok("agreement sign", "agreement", "sign", "--as", "ir/leader", "--party", "ir", "--date", "2026-01-02", agID)
		r.ok("agreement sign", "agreement", "sign", "--as", "ru/president", "--party", "ru", "--date", "2026-01-03", agID)
		waitIntegrated(t, w)
		r.ok("agreement attest", "agreement", "attest", "--as", "ru/duma-chair", "--party", "ir", "--clause", "trade",
			"--from", "2026-01-03", "--to", "2026-02-01", "--date", "2026-02-02", "--note", "R-1", agID)
		r.ok("agreement withdraw", "agreement", "withdraw", "--as", "ir/leader", "--party", "ir", "--date", "2027-01-01", agID)
		waitIntegrated(t, w)
		r.ok("agreement status", "agreement", "status", "--at", "2026-06-01", agID)
		sid := str(r.ok("statement open", "statement", "open", "--as", "ir/leader", "--title", "A statement", text), "id")
		waitIntegrated(t, w)
		r.ok("statement cosign", "statement", "cosign", "--as", "ru/president", sid)
		waitIntegrated(t, w)
		r.ok("statement show", "statement", "show", sid)
	}

	// Revocations.
	r.ok("revoke grant", "revoke", "grant", "--as", "ru/president", str(grant, "id"))
	r.ok("revoke key", "revoke", "key", "ru/fm")

	// The agent.
	startAgentInProcess(t, env)
	r.ok("agent", "agent")
	r.ok("unlock", "unlock", "--as", "ir/leader")
	r.ok("agent --status", "agent", "--status")
	r.ok("lock", "lock")
	r.ok("agent --stop", "agent", "--stop")

	// The desk, until cancelled.
	{
		uctx, cancel := context.WithCancel(context.Background())
		var out screen
		done := make(chan int, 1)
		go func() {
			done <- runMain(&cmdContext{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard, getenv: func(k string) string { return env[k] }, base: uctx},
				[]string{"ui", "--as", "ru/president", "--json"})
		}()
		lines := waitLine(t, "ui", &out, 1)
		cancel()
		if st := <-done; st != 0 {
			t.Fatalf("ui: exit %d", st)
		}
		r.result("ui", "ui", lines[0])
	}
	r.ok("demo", "demo", "--scene", "5")
	latFile := filepath.Join(dir, "latencies.txt")
	r.ok("bench", "bench", "--n", "16", "--workers", "2", "--latencies", latFile)
	checkLatencies(t, latFile, 16)
	r.ok("version", "version")

	// A migration (of an empty deployment: TestMigrate copies a full one).
	if st, err := sqlite.Open(filepath.Join(dir, "src.db")); err != nil {
		t.Fatal(err)
	} else {
		st.Close()
	}
	r.ok("migrate", "migrate", "--from", filepath.Join(dir, "src.db"), "--to", filepath.Join(dir, "dst.db"))

	// The failures a script meets: each an envelope with its code.
	r.fail("usage", 2, "take", "--bogus")
	r.fail("usage", 2, "inbox", "--as", "ir/leader", "--server", "127.0.0.1:8470")
	r.fail("no-such-file", 1, "verify", filepath.Join(dir, "missing.pouch"))
	noise := filepath.Join(dir, "noise.pouch")
	os.WriteFile(noise, bytes.Repeat([]byte{0x5a, 0x17, 0xc3, 0x08}, 1024), 0o644)
	r.fail("not-a-pouch-file", 1, "inspect", noise)
	r.fail("usage", 2, "inbox")
	r.fail("unreachable", 1, "inbox", "--as", "ir/leader", "--server", "http://127.0.0.1:1")
	notPouch := httptest.NewServer(http.NotFoundHandler())
	defer notPouch.Close()
	r.fail("not-a-pouch-server", 1, "inbox", "--as", "ir/leader", "--server", notPouch.URL)
	out, _, code := offRun(t, env, "bogus", "--json")
	if e := failure(t, out); code != 2 || e.Code != "usage" {
		t.Errorf("an unknown verb: exit %d, %+v", code, e)
	}

	// Every shape of the document was checked.
	for form := range sp.results {
		if !r.checked["result "+form] {
			t.Errorf("spec/cli.md: the result of %q was not checked", form)
		}
	}
	for key := range sp.events {
		if !r.checked["event "+key] {
			t.Errorf("spec/cli.md: the event %q was not checked", key)
		}
	}
}

// checkLatencies checks the file pouch bench --latencies wrote: n lines,
// each the time its request was due and its latency, in µs, the times
// never decreasing and every latency positive.
func checkLatencies(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pouch bench --latencies: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("pouch bench --latencies: %d lines, want %d:\n%s", len(lines), n, b)
	}
	last := int64(-1)
	for i, l := range lines {
		var due, lat int64
		if k, err := fmt.Sscanf(l, "%d %d", &due, &lat); k != 2 || err != nil {
			t.Fatalf("line %d %q: want two integers: %v", i+1, l, err)
		}
		if due < last || lat <= 0 {
			t.Errorf("line %d %q: due %d after %d, latency %d", i+1, l, due, last, lat)
		}
		last = due
	}
}
