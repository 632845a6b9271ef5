package server

import (
	"errors"
	"io"
	"net/http"
	"time"

	"pouch.dev/record"
	"pouch.dev/store"
)

// This file is the minimal write endpoint, POST /v1/records, served when no
// correspondence API is configured (Config.API is nil). It checks
// signatures only; the correspondence API replaces it with the full entry
// point, which also checks every record against the directory and grants.

// Appended is the JSON answer to POST /v1/records: the record's place in
// the log.
type Appended struct {
	ID    record.ID   `json:"id"`
	Kind  record.Kind `json:"kind"`
	Index uint64      `json:"index"`
	Time  time.Time   `json:"time"`
}

func (s *Server) registerRecords() {
	s.Handle("POST /v1/records", http.HandlerFunc(s.handleAppend))
}

func (s *Server) handleAppend(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, record.MaxRecordSize))
	if err != nil {
		s.fail(w, http.StatusRequestEntityTooLarge, "record too large", "a signed record is at most 256 KiB")
		return
	}
	signed, rec, err := record.Verify(b)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error(), "send one signed record in deterministic CBOR")
		return
	}
	e := &store.Entry{
		ID:      signed.ID(),
		Kind:    rec.Kind,
		Signed:  b,
		Public:  !rec.Private(),
		Parties: rec.By,
	}
	seq, err := s.st.Append(r.Context(), []*store.Entry{e})
	if errors.Is(err, store.ErrDuplicate) {
		s.fail(w, http.StatusConflict, err.Error(), "this record is already in the log; sign a new one")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, Appended{ID: e.ID, Kind: e.Kind, Index: seq[0].Index, Time: seq[0].Time})
}
