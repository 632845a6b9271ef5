package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"pouch.dev/store"
	"pouch.dev/store/postgres"
	"pouch.dev/store/sqlite"
)

// A dbSpec names a store: a PostgreSQL database (a postgres:// URL), or an
// SQLite file (a path, or a data folder that holds pouch.db).
type dbSpec struct {
	url  string // postgres://... or postgresql://...
	path string // the SQLite file
}

func (d dbSpec) String() string {
	if d.url != "" {
		return redactURL(d.url)
	}
	return d.path
}

// isPostgresURL reports whether s names a PostgreSQL database.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// parseDB reads a --db value: a postgres:// URL, or a path. A path that
// is a folder names its pouch.db (a server's data folder).
func parseDB(s string) (dbSpec, error) {
	if isPostgresURL(s) {
		return dbSpec{url: s}, nil
	}
	if strings.Contains(s, "://") {
		return dbSpec{}, usagef("give a postgres://USER@HOST:PORT/DB URL, or the path of a SQLite file or data folder",
			"%q is not a store pouch knows (only postgres:// URLs and SQLite paths)", redactURL(s))
	}
	if fi, err := os.Stat(s); err == nil && fi.IsDir() {
		return dbSpec{path: filepath.Join(s, "pouch.db")}, nil
	}
	return dbSpec{path: s}, nil
}

// openDB opens the store d names.
func openDB(ctx context.Context, d dbSpec) (store.Store, error) {
	if d.url != "" {
		st, err := postgres.Open(ctx, d.url, postgres.Options{})
		switch {
		case errors.Is(err, store.ErrNewerSchema):
			return nil, withHint(err, "run the newer pouch that wrote %s", d)
		case err != nil && strings.Contains(err.Error(), "cannot reach"):
			return nil, withHint(err, "check that PostgreSQL runs and answers at %s (pg_isready -d URL), and the URL's user, host, port and database", d)
		case err != nil:
			return nil, withHint(err, "check the --db URL, such as postgres://pouch@127.0.0.1:5432/pouch?sslmode=disable")
		}
		return st, nil
	}
	st, err := sqlite.Open(d.path)
	switch {
	case errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrIO):
		return nil, withHint(err, "the disk of %s is full or failing: free space or check the device, then start again", filepath.Dir(d.path))
	case errors.Is(err, store.ErrNewerSchema):
		return nil, withHint(err, "run the newer pouch that wrote %s", d.path)
	case err != nil:
		return nil, err
	}
	return st, nil
}

// redactURL hides the password of a URL, for messages.
func redactURL(s string) string {
	at := strings.Index(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	cred := s[scheme+3 : at]
	if i := strings.Index(cred, ":"); i >= 0 {
		return s[:scheme+3] + cred[:i] + ":xxxxx" + s[at:]
	}
	return s
}
