package ledger

import (
	"fmt"

	"pouch.dev/record"
)

// A Publish is the body of a publish record: a party makes one of its
// private records public. From then on the private record is served to
// anyone, with its proof; nothing else is revealed.
//
// SPEC: spec/api.md#publish
type Publish struct {
	Record record.ID `cbor:"record"`
}

// ParsePublish decodes the body of a publish record, which is public.
func ParsePublish(r *record.Record) (*Publish, error) {
	if r.Kind != record.KindPublish {
		return nil, fmt.Errorf("%w: a %s record is not a publish record", record.ErrMalformedRecord, r.Kind)
	}
	var b Publish
	if err := r.DecodeBody(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", record.ErrMalformedRecord, err)
	}
	if r.Private() {
		return nil, fmt.Errorf("%w: a publish record is public (no salt)", record.ErrMalformedRecord)
	}
	return &b, nil
}

// CheckPublish checks that by may publish a private record whose parties
// (those the record is served to) are parties: by must be one of them,
// and the record must not be public already.
//
// SPEC: spec/api.md#publish
func CheckPublish(target record.ID, parties []record.Handle, public bool, by record.Handle) error {
	if public {
		return fmt.Errorf("%w: record %s", ErrPublished, target.Short())
	}
	for _, p := range parties {
		if p == by {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not a party to record %s and cannot publish it", ErrNotParty, by, target.Short())
}
