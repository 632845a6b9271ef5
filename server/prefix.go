package server

import (
	"errors"
	"net/http"
	"strings"

	"pouch.dev/api"
	"pouch.dev/internal/httpsig"
	"pouch.dev/record"
	"pouch.dev/store"
)

// maxPrefixCandidates bounds the records a prefix lookup reads from the
// store before keeping those the requester may read.
const maxPrefixCandidates = 64

// handleFindRecords resolves a short ID: the records whose ID starts with
// the prefix and that the requester may read (public and published
// records to anyone, private ones to a party who signs the request), so
// that a prefix tells nobody of a record they may not read.
//
// SPEC: spec/api.md#get-v1-records
func (c *Correspondence) handleFindRecords(w http.ResponseWriter, r *http.Request) {
	prefix := strings.ToLower(r.URL.Query().Get("prefix"))
	if len(prefix) < api.MinIDPrefix || len(prefix) > 2*len(record.ID{}) || strings.Trim(prefix, "0123456789abcdef") != "" {
		c.fail(w, r, errorf(http.StatusBadRequest, "give 8 to 64 hex digits of the ID", "prefix %q is not 8 to 64 hex digits", prefix))
		return
	}
	var as record.Handle
	if h, err := c.authenticate(r); err == nil {
		as = h
	} else if !errors.Is(err, httpsig.ErrUnsigned) {
		c.fail(w, r, err)
		return
	}
	es, err := c.st.List(r.Context(), store.Query{IDPrefix: prefix, Limit: maxPrefixCandidates})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	out := api.RecordMatches{Matches: []api.RecordMatch{}}
	for _, e := range es {
		if !e.Public && (as == "" || !c.mayRead(r.Context(), as, e)) {
			pub, err := c.publishedBy(r.Context(), e.ID, 0)
			if err != nil {
				c.fail(w, r, err)
				return
			}
			if pub == nil {
				continue
			}
		}
		if len(out.Matches) == api.MaxIDMatches {
			out.More = true
			break
		}
		out.Matches = append(out.Matches, api.RecordMatch{ID: e.ID, Kind: e.Kind, Index: e.Index, Time: e.Time})
	}
	writeJSONTo(w, http.StatusOK, out)
}
