package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"pouch.dev/internal/pgtest"
	"pouch.dev/internal/scenario"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/store/sqlite"
)

// deployment plays scene 1 of the scenario on an in-process server whose
// data is in a folder, and returns the folder and the scene's pouch.
func deployment(t *testing.T) (string, record.ID) {
	t.Helper()
	dir := t.TempDir()
	w, err := scenario.Start(context.Background(), scenario.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := scenario.Play(context.Background(), w, 1); err != nil {
		w.Close()
		t.Fatal(err)
	}
	pouch := w.Facts["scene1.pouch"]
	w.Close()
	return dir, pouch
}

// snapshot reads what a migration must keep: the log's state, every
// record, and the payload of pouch.
func snapshot(t *testing.T, path string, pouch record.ID) (store.LogState, []*store.Stored, []byte) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	state, err := st.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.List(ctx, store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.OpenPayload(ctx, pouch)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return state, recs, p
}

func checkSameDeployment(t *testing.T, a, b string, pouch record.ID) {
	t.Helper()
	sa, ra, pa := snapshot(t, a, pouch)
	sb, rb, pb := snapshot(t, b, pouch)
	if sa.Checkpoint == nil || !strings.Contains(string(sa.Checkpoint), "\n\n") {
		t.Fatalf("the source has no signed checkpoint: %q", sa.Checkpoint)
	}
	if !bytes.Equal(sa.Checkpoint, sb.Checkpoint) || sa.Size != sb.Size || sa.TreeSize != sb.TreeSize {
		t.Fatalf("after the round trip the state is %d/%d %q,\nbefore %d/%d %q", sb.Size, sb.TreeSize, sb.Checkpoint, sa.Size, sa.TreeSize, sa.Checkpoint)
	}
	if len(ra) != len(rb) {
		t.Fatalf("%d records before, %d after", len(ra), len(rb))
	}
	for i := range ra {
		x, y := ra[i], rb[i]
		if x.ID != y.ID || x.Index != y.Index || !x.Time.Equal(y.Time) || !bytes.Equal(x.Signed, y.Signed) || x.Public != y.Public ||
			fmt.Sprint(x.Parties) != fmt.Sprint(y.Parties) || fmt.Sprint(x.Refs) != fmt.Sprint(y.Refs) {
			t.Fatalf("record %d differs after the round trip:\n%+v\n%+v", i, x, y)
		}
	}
	if len(pa) == 0 || !bytes.Equal(pa, pb) {
		t.Fatalf("the pouch's payload: %d bytes before, %d after, or different", len(pa), len(pb))
	}
}

// TestMigrate copies a deployment from its SQLite file to another with
// pouch migrate, and checks that everything came across; a second copy
// into the same target is refused.
func TestMigrate(t *testing.T) {
	dir, pouch := deployment(t)
	dst := filepath.Join(t.TempDir(), "copy.db")
	env := offEnv(t.TempDir())
	out, errs, code := offRun(t, env, "migrate", "--from", dir, "--to", dst)
	if code != 0 || !strings.Contains(out, "checked: the latest checkpoint") || !strings.Contains(errs, "records") {
		t.Fatalf("migrate: exit %d\n%s\n%s", code, out, errs)
	}
	checkSameDeployment(t, filepath.Join(dir, "pouch.db"), dst, pouch)
	_, errs, code = offRun(t, env, "migrate", "--from", dir, "--to", dst)
	if code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("migrate into a store that is not empty: exit %d\n%s", code, errs)
	}
	_, errs, code = offRun(t, env, "migrate", "--from", filepath.Join(t.TempDir(), "none.db"), "--to", filepath.Join(t.TempDir(), "x.db"))
	if code != 1 || !strings.Contains(errs, "none.db") {
		t.Fatalf("migrate from a file that does not exist: exit %d\n%s", code, errs)
	}
}

// TestMigratePostgres: SQLite → PostgreSQL → SQLite gives back the same
// log, byte for byte: records, times, payloads, the signed and cosigned
// checkpoint.
func TestMigratePostgres(t *testing.T) {
	db := pgtest.DB(t)
	dir, pouch := deployment(t)
	env := offEnv(t.TempDir())
	back := filepath.Join(t.TempDir(), "back.db")
	for _, step := range [][2]string{{dir, db}, {db, back}} {
		out, errs, code := offRun(t, env, "migrate", "--from", step[0], "--to", step[1])
		if code != 0 || !strings.Contains(out, "checked: the latest checkpoint") {
			t.Fatalf("migrate --from %s --to %s: exit %d\n%s\n%s", step[0], step[1], code, out, errs)
		}
		t.Logf("%s%s", errs, out)
	}
	checkSameDeployment(t, filepath.Join(dir, "pouch.db"), back, pouch)
}
