package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"pouch.dev/api"
	"pouch.dev/record"
)

// Errors of Resolve, matched with errors.Is.
var (
	// ErrShortPrefix: an ID prefix of fewer than api.MinIDPrefix hex
	// digits, or not hex.
	ErrShortPrefix = fmt.Errorf("an ID prefix is at least %d hex digits", api.MinIDPrefix)
	// ErrNoMatch: no record the caller may read has an ID with that
	// prefix.
	ErrNoMatch = errors.New("no record you may read has an ID with that prefix")
	// ErrAmbiguous: several records the caller may read have an ID with
	// that prefix (an *AmbiguousError lists them).
	ErrAmbiguous = errors.New("ambiguous ID prefix")
)

// An AmbiguousError lists the records an ID prefix matches.
type AmbiguousError struct {
	Prefix  string
	Matches []api.RecordMatch
	More    bool // the server knows of more than Matches
}

func (e *AmbiguousError) Error() string {
	var ids []string
	for _, m := range e.Matches {
		ids = append(ids, fmt.Sprintf("%s (%s, log index %d)", m.ID, m.Kind, m.Index))
	}
	more := ""
	if e.More {
		more = ", and more"
	}
	return fmt.Sprintf("%v: %s matches %s%s", ErrAmbiguous, e.Prefix, strings.Join(ids, ", "), more)
}

// Is reports whether target is ErrAmbiguous.
func (e *AmbiguousError) Is(target error) bool { return target == ErrAmbiguous }

// Matches asks the server which records that as may read (nil: public
// ones only) have an ID that starts with prefix. Every match is checked to
// start with it: the answer is otherwise the server's word, and a caller
// proves whatever it then fetches by its full ID.
//
// SPEC: spec/api.md#get-v1-records
func (c *Client) Matches(ctx context.Context, prefix string, as *Identity) (*api.RecordMatches, error) {
	prefix = strings.ToLower(prefix)
	if len(prefix) < api.MinIDPrefix || len(prefix) > 2*len(record.ID{}) || strings.Trim(prefix, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%w: %q", ErrShortPrefix, prefix)
	}
	if as != nil {
		// A signed request names the log it is for.
		if err := c.anchorOnce(ctx); err != nil {
			return nil, err
		}
	}
	var m api.RecordMatches
	if err := c.do(ctx, "GET", "/v1/records?"+url.Values{"prefix": {prefix}}.Encode(), nil, "", as, &m); err != nil {
		return nil, err
	}
	for _, x := range m.Matches {
		if !strings.HasPrefix(x.ID.String(), prefix) {
			return nil, fmt.Errorf("%w: asked for IDs starting with %s, the server answered %s", ErrMismatch, prefix, x.ID)
		}
	}
	return &m, nil
}

// Resolve returns the ID of the one record, readable by as and of one of
// kinds (any kind if none), whose ID starts with prefix: 8 to 64 hex
// digits, as people type the IDs pouch prints. A full ID is returned as it
// is, without asking the server. Several matches are an *AmbiguousError
// (ErrAmbiguous); none is ErrNoMatch; too few digits ErrShortPrefix.
func (c *Client) Resolve(ctx context.Context, prefix string, as *Identity, kinds ...record.Kind) (record.ID, error) {
	if len(prefix) == 2*len(record.ID{}) {
		return record.ParseID(strings.ToLower(prefix))
	}
	m, err := c.Matches(ctx, prefix, as)
	if err != nil {
		return record.ID{}, err
	}
	var keep []api.RecordMatch
	for _, x := range m.Matches {
		if len(kinds) == 0 || slices.Contains(kinds, x.Kind) {
			keep = append(keep, x)
		}
	}
	switch {
	case m.More:
		// More than a page of matches: ambiguous, whatever the kinds.
	case len(keep) == 1:
		return keep[0].ID, nil
	case len(keep) == 0:
		what := "record"
		if len(kinds) > 0 {
			var ks []string
			for _, k := range kinds {
				ks = append(ks, string(k))
			}
			what = strings.Join(ks, " or ") + " record"
		}
		if len(m.Matches) > 0 {
			return record.ID{}, fmt.Errorf("%w: %s is the prefix of no %s you may read (it matches a %s record)", ErrNoMatch, prefix, what, m.Matches[0].Kind)
		}
		return record.ID{}, fmt.Errorf("%w: %s", ErrNoMatch, prefix)
	}
	if len(keep) == 0 {
		keep = m.Matches
	}
	return record.ID{}, &AmbiguousError{Prefix: strings.ToLower(prefix), Matches: keep, More: m.More}
}

// anchorOnce anchors the client on the server's log (anchor), unless it
// knows its log already (Origin, or an earlier anchor), so that it can
// sign requests for it.
func (c *Client) anchorOnce(ctx context.Context) error {
	if c.Origin != "" || c.anchored.Load() != nil {
		return nil
	}
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	if c.Trust == nil {
		c.Trust = &Trust{}
	}
	_, _, _, err := c.anchor(ctx)
	return err
}
