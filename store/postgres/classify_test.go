package postgres

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"pouch.dev/store"
)

// TestClassify: PostgreSQL's disk-full and I/O errors, and a lost
// connection, are reported as store.ErrFull and store.ErrIO; a constraint
// violation is neither.
func TestClassify(t *testing.T) {
	for code, want := range map[string]error{
		"53100": store.ErrFull, // disk_full
		"58030": store.ErrIO,   // io_error
		"08006": store.ErrIO,   // connection_failure
		"57P01": store.ErrIO,   // admin_shutdown
		"23505": nil,           // unique_violation
	} {
		err := classify(fmt.Errorf("store: committing appends: %w", &pgconn.PgError{Code: code}))
		for _, e := range []error{store.ErrFull, store.ErrIO} {
			if errors.Is(err, e) != (e == want) {
				t.Errorf("SQLSTATE %s: %v; errors.Is(%v) = %v", code, err, e, errors.Is(err, e))
			}
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Errorf("SQLSTATE %s: the PostgreSQL error is lost: %v", code, err)
		}
	}
}
