package main

import (
	"strings"
	"testing"
)

// pouch serve --db: anything but a postgres:// URL is a usage error, and a
// database that does not answer fails with a hint to check it; the URL's
// password is never printed.
func TestServeBadDB(t *testing.T) {
	for _, bad := range []string{"mysql://root@127.0.0.1/x", "/tmp/pouch.db", "postgres"} {
		_, errs, code := offRun(t, offEnv(t.TempDir()), "serve", "--data", t.TempDir(), "--db", bad)
		if code != 2 || !strings.Contains(errs, "--db") || !strings.Contains(errs, "postgres://") {
			t.Errorf("--db %s: exit %d\n%s", bad, code, errs)
		}
	}
	_, errs, code := offRun(t, offEnv(t.TempDir()), "serve", "--data", t.TempDir(), "--db", "postgres://pouch:secret@127.0.0.1:1/pouch?sslmode=disable&connect_timeout=2")
	if code != 1 || !strings.Contains(errs, "cannot reach") || !strings.Contains(errs, "pg_isready") {
		t.Errorf("an unreachable database: exit %d\n%s", code, errs)
	}
	if strings.Contains(errs, "secret") {
		t.Errorf("the error shows the URL's password:\n%s", errs)
	}
}
