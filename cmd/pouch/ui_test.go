package main

import (
	"bytes"
	"strings"
	"testing"
)

// The desk listens on the loopback only: any other address is a usage
// error, refused before anything else happens.
func TestUIListensOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":8480", "[::]:0", "192.168.1.10:8480", "example.org:80"} {
		var out, errb bytes.Buffer
		ctx := &cmdContext{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
		if code := runMain(ctx, []string{"ui", "--listen", addr}); code != 2 {
			t.Errorf("pouch ui --listen %s: exit %d, want 2 (%s)", addr, code, errb.String())
		}
		if !strings.Contains(errb.String(), "loopback only") {
			t.Errorf("pouch ui --listen %s says %q", addr, errb.String())
		}
	}
}
