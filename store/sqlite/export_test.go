package sqlite

import (
	"context"
	"fmt"
	"time"
)

// SetMaxPageCount caps the database file at n pages on the writer's
// connection (SQLite's max_page_count), so that a test fills the "disk":
// SQLite then fails as it does on a full one, with SQLITE_FULL.
func (s *Store) SetMaxPageCount(n int) error {
	_, err := s.w.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA max_page_count = %d`, n))
	return err
}

// WriterPragma reads a setting of the writer's connection.
func (s *Store) WriterPragma(name string) (string, error) {
	var v string
	err := s.w.QueryRowContext(context.Background(), `PRAGMA `+name).Scan(&v)
	return v, err
}

// MmapSize is the most of the file each connection maps.
const MmapSize = mmapSize

// SetPartyFlush sets when the parties rows waiting are written (rows
// waiting, or the age of the oldest), for stores opened after, until
// the returned function restores the defaults.
func SetPartyFlush(rows int, age time.Duration) (restore func()) {
	r, a := partyFlushRows, partyFlushAge
	partyFlushRows, partyFlushAge = rows, age
	return func() { partyFlushRows, partyFlushAge = r, a }
}
