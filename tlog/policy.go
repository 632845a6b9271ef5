package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// A Policy is a parsed C2SP tlog-policy file: the logs a client accepts,
// the witnesses it knows, and the quorum of witness cosignatures a
// checkpoint needs. For example:
//
//	log pouch.example/log+71cee552+AXLF8/7AWVk2r9y8c9qP3cdMX2nvS6Rl5kSpGlYwVyf3
//	witness iaea iaea.example/witness+2e3c9a1b+BK2Y... https://witness.iaea.example
//	witness ir ir.example/witness+c0ffee00+BNj1... https://witness.ir.example
//	group states any ir
//	group both all iaea states
//	quorum both
//
// ParsePolicy reads one; Marshal writes it back in canonical form;
// Policy.Verifier builds the Verifier that enforces it.
//
// SPEC: spec/log.md#witness-policy
type Policy struct {
	Logs      []PolicyLog
	Witnesses []PolicyWitness
	Groups    []PolicyGroup
	// Quorum names the witness or group whose cosignatures a checkpoint
	// needs, or is "none" (no cosignature needed).
	Quorum string
}

// A PolicyLog is a policy's "log <vkey> [<url>]" line.
type PolicyLog struct {
	Key    string // Ed25519 signed-note verifier key; its name is the origin
	URL    string // optional
	Origin string // the key's name
	Line   int    // where it was defined, for messages
}

// A PolicyWitness is a policy's "witness <name> <vkey> [<url>]" line.
type PolicyWitness struct {
	Name string // the name the policy gives it, used in groups and messages
	Key  string // cosignature/v1 verifier key
	URL  string // optional: its C2SP tlog-witness submission prefix
	Line int
}

// A PolicyGroup is a policy's "group <name> <k|any|all> <member>..." line:
// it is satisfied when K of its Members (witnesses or earlier groups) are.
type PolicyGroup struct {
	Name    string
	K       int
	Members []string
	Line    int
}

// Limits on a policy, above the C2SP recommendation (at least 32 logs,
// 32 witnesses and 32 groups). MaxPolicyWitnesses keeps a cosigned
// checkpoint under the 100 signatures a signed note may carry.
const (
	MaxPolicySize      = 64 << 10
	MaxPolicyLogs      = 32
	MaxPolicyWitnesses = 64
	MaxPolicyGroups    = 64
)

// QuorumNone is the predefined quorum that needs no cosignature.
const QuorumNone = "none"

// ErrPolicy is matched (errors.Is) by every error ParsePolicy returns for
// a policy that is not valid, and by Policy methods for a policy that does
// not fit their use.
var ErrPolicy = errors.New("invalid witness policy")

// A PolicyError is a policy that does not parse, with the line at fault.
type PolicyError struct {
	Line int // 1-based; 0 for the file as a whole
	Msg  string
}

func (e *PolicyError) Error() string {
	if e.Line == 0 {
		return "witness policy: " + e.Msg
	}
	return fmt.Sprintf("witness policy, line %d: %s", e.Line, e.Msg)
}

func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

// keywords may not be used as names, so that no line reads two ways.
var policyKeywords = map[string]bool{"log": true, "witness": true, "group": true, "quorum": true, "any": true, "all": true, QuorumNone: true}

// ParsePolicy parses a C2SP tlog-policy file strictly: every rule of the
// specification is enforced (character set, whitespace, comments, names
// defined before use, no duplicate keys or names, 1 ≤ k ≤ n, each name a
// group member at most once, exactly one quorum line), plus pouch's own:
// keys must verify as what they are used for and their key IDs must match,
// URLs must be absolute http(s) URLs, keywords are not names, and no key is
// both a log's and a witness's.
//
// SPEC: spec/log.md#witness-policy
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > MaxPolicySize {
		return nil, &PolicyError{0, fmt.Sprintf("%d bytes, more than the %d allowed", len(b), MaxPolicySize)}
	}
	p := &Policy{}
	// Names of witnesses and groups: witness index or -1-group index.
	names := map[string]int{}
	member := map[string]int{}  // name -> line where it was listed as a member
	keys := map[string]string{} // underlying public key -> what it is
	quorumLine := 0
	lines := bytes.Split(b, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, raw := range lines {
		n := i + 1
		perr := func(format string, a ...any) error {
			return &PolicyError{n, fmt.Sprintf(format, a...)}
		}
		for _, c := range raw {
			if c == '\t' || c >= 0x20 && c != 0x7f {
				continue
			}
			if c == '\r' {
				return nil, perr("carriage return (0x0d): save the file with Unix line endings (\\n only)")
			}
			return nil, perr("control character 0x%02x: only tab and newline are allowed", c)
		}
		f := policyFields(string(raw))
		if len(f) == 0 || f[0][0] == '#' {
			continue
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, perr(`a log line is "log <vkey> [<url>]", got %d fields`, len(f))
			}
			if len(p.Logs) == MaxPolicyLogs {
				return nil, perr("more than %d logs", MaxPolicyLogs)
			}
			v, err := NewNoteVerifier(f[1])
			if err != nil {
				return nil, perr("log key %q is not an Ed25519 signed-note verifier key (origin+keyid+key): %v", f[1], err)
			}
			pub, _ := vkeyPublic(f[1])
			if what, ok := keys[pub]; ok {
				return nil, perr("the key of log %s is already the key of %s", v.Name(), what)
			}
			keys[pub] = fmt.Sprintf("the log on line %d", n)
			l := PolicyLog{Key: f[1], Origin: v.Name(), Line: n}
			if len(f) == 3 {
				if l.URL, err = policyURL(f[2]); err != nil {
					return nil, perr("log %s: %v", v.Name(), err)
				}
			}
			p.Logs = append(p.Logs, l)
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, perr(`a witness line is "witness <name> <vkey> [<url>]", got %d fields`, len(f))
			}
			name := f[1]
			if err := checkNewName(name, names); err != nil {
				return nil, perr("witness %v", err)
			}
			if len(p.Witnesses) == MaxPolicyWitnesses {
				return nil, perr("more than %d witnesses", MaxPolicyWitnesses)
			}
			if _, err := witnessVerifier(f[2]); err != nil {
				return nil, perr("witness %s: %v", name, err)
			}
			pub, _ := vkeyPublic(f[2])
			if what, ok := keys[pub]; ok {
				return nil, perr("the key of witness %s is already the key of %s", name, what)
			}
			keys[pub] = fmt.Sprintf("witness %s (line %d)", name, n)
			w := PolicyWitness{Name: name, Key: f[2], Line: n}
			if len(f) == 4 {
				var err error
				if w.URL, err = policyURL(f[3]); err != nil {
					return nil, perr("witness %s: %v", name, err)
				}
			}
			names[name] = len(p.Witnesses)
			p.Witnesses = append(p.Witnesses, w)
		case "group":
			if len(f) < 4 {
				return nil, perr(`a group line is "group <name> <k|any|all> <member>...", with at least one member`)
			}
			name, ks, ms := f[1], f[2], f[3:]
			if err := checkNewName(name, names); err != nil {
				return nil, perr("group %v", err)
			}
			if len(p.Groups) == MaxPolicyGroups {
				return nil, perr("more than %d groups", MaxPolicyGroups)
			}
			var k int
			switch ks {
			case "any":
				k = 1
			case "all":
				k = len(ms)
			default:
				v, err := strconv.Atoi(ks)
				if err != nil || strconv.Itoa(v) != ks || v < 1 || v > len(ms) {
					return nil, perr("group %s: threshold %q is not any, all, or a decimal k with 1 ≤ k ≤ %d (its number of members)", name, ks, len(ms))
				}
				k = v
			}
			for _, m := range ms {
				if m == QuorumNone {
					return nil, perr("group %s: %q cannot be a group member", name, QuorumNone)
				}
				if _, ok := names[m]; !ok {
					return nil, perr("group %s: member %q is not a witness or group defined on an earlier line", name, m)
				}
				if at, ok := member[m]; ok {
					return nil, perr("group %s: %s is already a group member on line %d (each name may be a member once)", name, m, at)
				}
				member[m] = n
			}
			names[name] = -1 - len(p.Groups)
			p.Groups = append(p.Groups, PolicyGroup{Name: name, K: k, Members: ms, Line: n})
		case "quorum":
			if len(f) != 2 {
				return nil, perr(`a quorum line is "quorum <name>" or "quorum none", got %d fields`, len(f))
			}
			if quorumLine != 0 {
				return nil, perr("a second quorum line (the first is line %d)", quorumLine)
			}
			if _, ok := names[f[1]]; !ok && f[1] != QuorumNone {
				return nil, perr("quorum %q is not none or a witness or group defined on an earlier line", f[1])
			}
			p.Quorum, quorumLine = f[1], n
		default:
			return nil, perr("unknown keyword %q: a line is a log, witness, group or quorum definition, or a comment starting with #", f[0])
		}
	}
	if quorumLine == 0 {
		return nil, &PolicyError{0, `no quorum line: add "quorum <name>" naming the witness or group a checkpoint needs, or "quorum none"`}
	}
	return p, nil
}

// policyFields splits a line on runs of spaces and tabs, and only those:
// every other byte, non-ASCII included, is part of a field.
func policyFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}

func checkNewName(name string, names map[string]int) error {
	if policyKeywords[name] {
		return fmt.Errorf("name %q is a keyword; choose another name", name)
	}
	if _, ok := names[name]; ok {
		return fmt.Errorf("name %q is already defined", name)
	}
	return nil
}

func policyURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("URL %q is not an absolute http or https URL", s)
	}
	return s, nil
}

// vkeyPublic returns the public key a verifier key wraps, without its
// name, key ID or type: two keys are the same key if these are equal.
func vkeyPublic(vkey string) (string, byte) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return "", 0
	}
	b, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(b) < 2 {
		return "", 0
	}
	return string(b[1:]), b[0]
}

// Signature types of witness keys (C2SP signed-note).
const (
	sigTypeEd25519       = 0x01
	sigTypeCosignatureV1 = 0x04
	sigTypeMLDSA44       = 0x06
)

// witnessVerifier returns the cosignature verifier of witness key vkey:
// cosignature/v1 (type 0x04), ML-DSA-44 cosignature (0x06), or a plain
// Ed25519 note key (0x01), which signs cosignature/v1 under the same key,
// as package github.com/transparency-dev/formats/note treats it. The key
// ID written in vkey must be the key's.
func witnessVerifier(vkey string) (note.Verifier, error) {
	pub, typ := vkeyPublic(vkey)
	if pub == "" {
		return nil, fmt.Errorf("key %q is not a signed-note verifier key (name+keyid+base64 key)", vkey)
	}
	parts := strings.SplitN(vkey, "+", 3)
	id, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return nil, fmt.Errorf("key %q: key ID %q is not 8 hex digits", vkey, parts[1])
	}
	switch typ {
	case sigTypeEd25519:
		// x/mod's parser checks the key ID of a type 0x01 key.
		if _, err := note.NewVerifier(vkey); err != nil {
			return nil, fmt.Errorf("key %q: %v", vkey, err)
		}
	case sigTypeCosignatureV1, sigTypeMLDSA44:
		h := sha256.Sum256([]byte(parts[0] + "\n" + string(typ) + pub))
		if uint32(id) != binary.BigEndian.Uint32(h[:]) {
			return nil, fmt.Errorf("key %q: its key ID is not %s's (a copying error?)", vkey, parts[0])
		}
	default:
		return nil, fmt.Errorf("key %q has signature type 0x%02x, not a witness cosignature key (0x04 cosignature/v1, 0x06 ML-DSA-44, or 0x01 Ed25519)", vkey, typ)
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("key %q: %v", vkey, err)
	}
	return v, nil
}

// Marshal returns p in canonical form: logs, witnesses, groups (in their
// order) and the quorum, one line each, fields separated by one space,
// thresholds in decimal. ParsePolicy(p.Marshal()) gives p back, lines
// aside.
func (p *Policy) Marshal() []byte {
	var b bytes.Buffer
	for _, l := range p.Logs {
		b.WriteString("log " + l.Key)
		if l.URL != "" {
			b.WriteString(" " + l.URL)
		}
		b.WriteByte('\n')
	}
	for _, w := range p.Witnesses {
		b.WriteString("witness " + w.Name + " " + w.Key)
		if w.URL != "" {
			b.WriteString(" " + w.URL)
		}
		b.WriteByte('\n')
	}
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "group %s %d %s\n", g.Name, g.K, strings.Join(g.Members, " "))
	}
	fmt.Fprintf(&b, "quorum %s\n", p.Quorum)
	return b.Bytes()
}

// KOfN returns the policy that needs quorum cosignatures from the
// witnesses with keys witnessKeys (none if quorum is 0), for the log with
// key logKey. Each witness is named by its key's name, with "#2", "#3"...
// added if two keys share a name (and "#1" to a name that is a keyword).
func KOfN(logKey string, witnessKeys []string, quorum int) (*Policy, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "log %s\n", logKey)
	seen := map[string]int{}
	var names []string
	for _, k := range witnessKeys {
		name, _, _ := strings.Cut(k, "+")
		seen[name]++
		if seen[name] > 1 || policyKeywords[name] {
			name = fmt.Sprintf("%s#%d", name, seen[name])
		}
		names = append(names, name)
		fmt.Fprintf(&b, "witness %s %s\n", name, k)
	}
	switch {
	case quorum < 0 || quorum > len(witnessKeys):
		return nil, fmt.Errorf("%w: a quorum of %d cosignatures from %d witnesses can never be met", ErrPolicy, quorum, len(witnessKeys))
	case quorum == 0:
		b.WriteString("quorum none\n")
	default:
		// No key name holds a "+", so the group's name is not a witness's.
		g := fmt.Sprintf("%d-of-%d+witnesses", quorum, len(names))
		fmt.Fprintf(&b, "group %s %d %s\nquorum %s\n", g, quorum, strings.Join(names, " "), g)
	}
	return ParsePolicy([]byte(b.String()))
}

// WitnessConfigs returns the witnesses p names, with their URLs, for a log
// to ask for cosignatures. Every witness must have a URL.
func (p *Policy) WitnessConfigs() ([]WitnessConfig, error) {
	var out []WitnessConfig
	for _, w := range p.Witnesses {
		if w.URL == "" {
			return nil, fmt.Errorf("%w: witness %s (line %d) has no URL: a log needs each witness's submission URL (witness <name> <vkey> <url>)", ErrPolicy, w.Name, w.Line)
		}
		out = append(out, WitnessConfig{URL: w.URL, Key: w.Key, Name: w.Name})
	}
	return out, nil
}

// Verifier returns the Verifier of the log with verifier key logKey that
// requires p's quorum. With logKey "", p must list exactly one log, which
// is used; otherwise, if p lists logs, logKey must be one of them.
func (p *Policy) Verifier(logKey string) (*Verifier, error) {
	if logKey == "" {
		if len(p.Logs) != 1 {
			return nil, fmt.Errorf("%w: it lists %d logs; name the log's key (or list exactly one log in the policy)", ErrPolicy, len(p.Logs))
		}
		logKey = p.Logs[0].Key
	} else if len(p.Logs) > 0 {
		pub, _ := vkeyPublic(logKey)
		name, _, _ := strings.Cut(logKey, "+")
		found := false
		for _, l := range p.Logs {
			if lp, _ := vkeyPublic(l.Key); lp == pub && l.Origin == name {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: the log key %s is not one of the policy's logs", ErrPolicy, logKey)
		}
	}
	lv, err := NewNoteVerifier(logKey)
	if err != nil {
		return nil, fmt.Errorf("log key %q: %w", logKey, err)
	}
	v := &Verifier{Origin: lv.Name(), Log: lv}
	for _, w := range p.Witnesses {
		wv, err := witnessVerifier(w.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: witness %s: %v", ErrPolicy, w.Name, err)
		}
		v.Witnesses = append(v.Witnesses, wv)
		v.names = append(v.names, w.Name)
	}
	if p.Quorum == QuorumNone {
		v.quorum = &quorumNode{name: QuorumNone, group: true}
		return v, nil
	}
	nodes := map[string]*quorumNode{}
	for i, w := range p.Witnesses {
		nodes[w.Name] = &quorumNode{name: w.Name, witness: i}
	}
	for _, g := range p.Groups {
		n := &quorumNode{name: g.Name, k: g.K, group: true}
		for _, m := range g.Members {
			c, ok := nodes[m]
			if !ok {
				return nil, fmt.Errorf("%w: group %s: member %q is not defined before it", ErrPolicy, g.Name, m)
			}
			n.members = append(n.members, c)
		}
		nodes[g.Name] = n
	}
	q, ok := nodes[p.Quorum]
	if !ok {
		return nil, fmt.Errorf("%w: quorum %q is not defined", ErrPolicy, p.Quorum)
	}
	v.quorum = q
	return v, nil
}
