package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"pouch.dev/api"
	"pouch.dev/record"
)

// writeAccepted writes the very answer writeJSONTo writes, whatever the
// record's kind, place and time.
func TestWriteAccepted(t *testing.T) {
	var id record.ID
	for i := range id {
		id[i] = byte(i * 7)
	}
	utc := time.Date(2026, 11, 27, 23, 41, 31, 91_000_000, time.UTC)
	times := []time.Time{
		utc,
		utc.Truncate(time.Second),
		utc.Add(123_456_789),
		utc.In(time.FixedZone("east", 5*3600+30*60)),
		utc.In(time.FixedZone("west", -8*3600)),
		utc.In(time.FixedZone("odd", 3600+7)),
		utc.In(time.FixedZone("far", 25*3600)),
		time.UnixMilli(utc.UnixMilli()),
		{},
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	kinds := []record.Kind{record.KindTag, record.KindCustody, "a/b.c-d_e9", "", "x<y", "é", "a\"b", "A"}
	for _, tm := range times {
		for _, k := range kinds {
			for _, idx := range []uint64{0, 7, 1<<64 - 1} {
				a := &api.Accepted{ID: id, Kind: k, Index: idx, Time: tm}
				want, got := httptest.NewRecorder(), httptest.NewRecorder()
				writeJSONTo(want, http.StatusCreated, a)
				writeAccepted(got, a)
				if got.Code != want.Code || got.Body.String() != want.Body.String() ||
					got.Header().Get("Content-Length") != want.Header().Get("Content-Length") ||
					got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
					t.Errorf("%+v: writeAccepted wrote %d %q (%v), writeJSONTo %d %q (%v)", a, got.Code, got.Body, got.Header(), want.Code, want.Body, want.Header())
				}
			}
		}
	}
}
