package tlog_test

import (
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

// A log entry is the CBOR array [kind, id]; its leaf hash is RFC 6962's,
// SHA-256(0x00 || entry), here checked independently.
func ExampleLeafHash() {
	var id record.ID // the SHA-256 of a record's bytes
	entry := record.LeafData(record.KindCustody, id)
	fmt.Printf("entry %x...\n", entry[:10])
	fmt.Printf("leaf hash %x\n", tlog.LeafHash(entry))
	// Output:
	// entry 8267637573746f647958...
	// leaf hash 60bbf86044ea5bd5191fd34383c3d9f84ac0ef2ecaffd1607021a9022ea865da
}
