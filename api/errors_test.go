package api

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"pouch.dev/directory"
)

// TestCodes: every code is unique and names one sentinel, and every
// sentinel in the table comes back from its own code, also when wrapped
// as the server's rules wrap them.
func TestCodes(t *testing.T) {
	seen := map[Code]bool{}
	for _, r := range refusals {
		if r.code == "" || seen[r.code] {
			t.Errorf("code %q empty or twice", r.code)
		}
		seen[r.code] = true
		if r.status < 400 || r.status > 599 {
			t.Errorf("code %q answered with status %d", r.code, r.status)
		}
		wrapped := fmt.Errorf("custody of pouch 3f2a…: %w", r.err)
		c, status := CodeOf(wrapped)
		if c != r.code || status != r.status {
			t.Errorf("%v: CodeOf = %q %d, want %q %d (shadowed by an earlier row?)", r.err, c, status, r.code, r.status)
		}
		if ErrorOf(c) != r.err {
			t.Errorf("ErrorOf(%q) = %v, want %v", c, ErrorOf(c), r.err)
		}
	}
	// A typed error of the directory that carries its reason.
	ge := &directory.GrantError{Grantee: "ru/duma-chair", Grantor: "ru/president", Reason: directory.ErrGrantExpired}
	if c, _ := CodeOf(ge); c != "grant-expired" || !errors.Is(ErrorOf(c), directory.ErrGrantExpired) {
		t.Errorf("a grant error: code %q", c)
	}
	if c, s := CodeOf(errors.New("something else")); c != "" || s != 0 {
		t.Errorf("an unknown error has code %q, status %d", c, s)
	}
	if ErrorOf("a-newer-servers-code") != nil {
		t.Error("an unknown code maps to a sentinel")
	}
}

// TestSpecListsCodes: spec/api.md#errors lists every code with its status.
func TestSpecListsCodes(t *testing.T) {
	spec, err := os.ReadFile("../spec/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refusals {
		if row := fmt.Sprintf("| `%s` | %d |", r.code, r.status); !strings.Contains(string(spec), row) {
			t.Errorf("spec/api.md does not list %s", row)
		}
	}
}
