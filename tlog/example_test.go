package tlog_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"pouch.dev/record"
	"pouch.dev/tlog"
)

// The C2SP tile paths of the hash tile and the entry bundle that hold leaf
// 1,234,567 of a log of 2,000,000 leaves.
func ExampleTilePath_Path() {
	n := uint64(1234567)
	fmt.Println(tlog.TilePath{Level: 0, Index: n / 256, Width: 256}.Path())
	fmt.Println(tlog.TilePath{Level: tlog.EntriesLevel, Index: n / 256, Width: 256}.Path())
	// Output:
	// tile/0/x004/822
	// tile/entries/x004/822
}

// A log entry is the CBOR array [kind, id, time, private]; its leaf hash
// is RFC 6962's, SHA-256(0x00 || entry), here checked independently.
func ExampleLeafHash() {
	var id record.ID // the SHA-256 of a record's bytes
	entry := record.LeafData(record.Leaf{Kind: record.KindCustody, ID: id, Time: 1612792800000, Private: true})
	fmt.Printf("entry %x...%x\n", entry[:10], entry[len(entry)-10:])
	fmt.Printf("leaf hash %x\n", tlog.LeafHash(entry))
	sum := sha256.Sum256(append([]byte{0}, entry...))
	fmt.Println(bytes.Equal(sum[:], tlog.LeafHash(entry)))
	// Output:
	// entry 8467637573746f647958...1b0000017781f12300f5
	// leaf hash 30bd7f8ebacd180d15282be7dbcd1a012fbb7ec327721794319801bd8db1b9ac
	// true
}
