// Package columns encodes the list-valued columns that the SQL stores
// (store/sqlite, store/postgres) keep of an entry: its parties as handles
// separated by newlines (a handle holds none, spec/records.md#handles), and
// its refs as their 32-byte IDs end to end.
package columns

import (
	"strings"

	"pouch.dev/record"
)

// JoinHandles encodes hs for a parties column.
func JoinHandles(hs []record.Handle) string {
	var b strings.Builder
	for i, h := range hs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(string(h))
	}
	return b.String()
}

// SplitHandles decodes a parties column.
func SplitHandles(s string) []record.Handle {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, "\n")
	hs := make([]record.Handle, len(parts))
	for i, p := range parts {
		hs[i] = record.Handle(p)
	}
	return hs
}

// JoinIDs encodes ids for a refs column.
func JoinIDs(ids []record.ID) []byte {
	b := make([]byte, 0, 32*len(ids))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// SplitIDs decodes a refs column.
func SplitIDs(b []byte) []record.ID {
	if len(b) == 0 {
		return nil
	}
	ids := make([]record.ID, len(b)/32)
	for i := range ids {
		copy(ids[i][:], b[32*i:])
	}
	return ids
}
