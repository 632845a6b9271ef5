package ledger

import (
	"fmt"

	"pouch.dev/directory"
	"pouch.dev/letter"
	"pouch.dev/record"
)

// CheckTag checks a pouch's tag st at pos: the sender's key holds its
// office, the addressee and every envoy hold a key, a deadline is after
// pos and the deployment's evidence office holds a key to report the
// pouch's non-delivery at it, and a reply's thread names a pouch of this
// log (known reports whether the log holds a pouch
// with that ID). The tag's signature and body were checked by
// letter.VerifyTag; its payload is the server's and the reader's business.
//
// SPEC: spec/api.md#post-pouches
func CheckTag(d *directory.Directory, st *letter.SignedTag, pos Pos, known func(record.ID) bool) error {
	if err := d.Check(st.Signed, st.Record, pos); err != nil {
		return err
	}
	t := st.Tag
	for _, h := range append([]record.Handle{t.To}, t.Via...) {
		if _, err := d.KeyAt(h, pos.Index); err != nil {
			return fmt.Errorf("route: %w", err)
		}
	}
	// SPEC: spec/evidence.md#deadlines
	if dl, ok := t.Deadline(); ok {
		if !dl.After(pos.Time) {
			return fmt.Errorf("%w: pouch with a deadline of %s, sequenced at %s: a deadline must be after the pouch is logged",
				ErrOverdue, dl.Format("2006-01-02T15:04:05.000Z"), pos.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		if _, err := d.KeyAt(directory.EvidenceHandle, pos.Index); err != nil {
			return fmt.Errorf("%w: this deployment has no office %s to sign a non-delivery at its deadline, so a pouch here carries no deadline (%v)",
				directory.ErrNotAuthorised, directory.EvidenceHandle, err)
		}
	}
	if t.Thread != nil && !known(*t.Thread) {
		return fmt.Errorf("%w: thread %s is not a pouch of this log", ErrThread, t.Thread.Short())
	}
	return nil
}
