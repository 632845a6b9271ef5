package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// result decodes the one envelope a verb printed with --json, checks that
// it is a success of version 1, and decodes its result into v.
func result(t *testing.T, out string, v any) {
	t.Helper()
	var e struct {
		V      int             `json:"v"`
		Verb   string          `json:"verb"`
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  *jsonError      `json:"error"`
	}
	if strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("want one envelope, got:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("not a JSON envelope: %v\n%s", err, out)
	}
	if e.V != JSONVersion || !e.OK || e.Error != nil || e.Verb == "" {
		t.Fatalf("not a successful envelope of version %d:\n%s", JSONVersion, out)
	}
	if v != nil {
		if err := json.Unmarshal(e.Result, v); err != nil {
			t.Fatalf("result: %v\n%s", err, out)
		}
	}
}

// failure decodes the envelope of a failed verb and returns its error.
func failure(t *testing.T, out string) *jsonError {
	t.Helper()
	var e struct {
		V     int        `json:"v"`
		OK    bool       `json:"ok"`
		Error *jsonError `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("not a JSON envelope: %v\n%s", err, out)
	}
	if e.V != JSONVersion || e.OK || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not a failed envelope of version %d:\n%s", JSONVersion, out)
	}
	return e.Error
}
