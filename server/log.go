package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"pouch.dev/api"
	"pouch.dev/record"
	"pouch.dev/store"
	"pouch.dev/tlog"
)

func (s *Server) registerLog() {
	s.Handle("GET /checkpoint", http.HandlerFunc(s.handleCheckpoint))
	s.Handle("GET /tile/{path...}", http.HandlerFunc(s.handleTile))
	s.Handle("GET /v1/log", http.HandlerFunc(s.handleLogInfo))
	s.Handle("GET /v1/log/checkpoints/{size}", http.HandlerFunc(s.handleOldCheckpoint))
	s.Handle("GET /v1/log/checkpoints", http.HandlerFunc(s.handleCheckpointsAround))
	s.Handle("GET /v1/log/proof/inclusion", http.HandlerFunc(s.handleInclusion))
	s.Handle("GET /v1/log/proof/consistency", http.HandlerFunc(s.handleConsistency))
}

// immutable is the Cache-Control of tiles and entry bundles: a given path
// never changes.
const immutable = "public, max-age=31536000, immutable"

// SPEC: spec/log.md#tiles
func (s *Server) handleCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, _ := s.log.Checkpoint()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(cp)
}

// SPEC: spec/log.md#tiles
func (s *Server) handleTile(w http.ResponseWriter, r *http.Request) {
	tp, err := tlog.ParseTilePath(r.URL.Path)
	if err != nil {
		s.fail(w, http.StatusNotFound, err.Error(), "tile paths are tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>] (C2SP tlog-tiles)")
		return
	}
	var b []byte
	if tp.Level == tlog.EntriesLevel {
		b, err = s.log.EntryBundle(r.Context(), tp.Index, tp.Width)
	} else {
		b, err = s.log.Tile(r.Context(), tp.Level, tp.Index, tp.Width)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, tlog.ErrNotIntegrated) {
		s.fail(w, http.StatusNotFound, err.Error(), "the published tree does not cover this tile yet; read /checkpoint first")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", immutable)
	w.Write(b)
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.lg.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	s.fail(w, http.StatusInternalServerError, "internal error", "")
}

func (s *Server) handleLogInfo(w http.ResponseWriter, r *http.Request) {
	cp, size := s.log.Checkpoint()
	info := api.LogInfo{Origin: s.log.Origin(), Key: s.log.VerifierKey(), Size: size, Checkpoint: string(cp)}
	for _, wc := range s.log.Witnesses() {
		info.Witnesses = append(info.Witnesses, wc.Key)
	}
	w.Header().Set("Cache-Control", "no-cache")
	s.writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleOldCheckpoint(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseUint(r.PathValue("size"), 10, 64)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "checkpoint size: "+err.Error(), "")
		return
	}
	cp, err := s.st.Checkpoint(r.Context(), size)
	if errors.Is(err, store.ErrNotFound) {
		s.failErr(w, http.StatusNotFound, fmt.Errorf("no checkpoint of size %d was published: %w", size, err), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp)
}

// handleCheckpointsAround serves the published checkpoints nearest leaf
// ?around=I: the last whose tree does not hold the leaf and the first
// whose tree does, each with its cosignatures, so that witnesses'
// timestamps bound the leaf's time from both sides
// (spec/evidence.md#time-bounds).
//
// SPEC: spec/log.md#http-api
func (s *Server) handleCheckpointsAround(w http.ResponseWriter, r *http.Request) {
	i, ok, err := queryUint(r, "around")
	if err != nil || !ok {
		s.fail(w, http.StatusBadRequest, "give the leaf index: ?around=I", "")
		return
	}
	b, a, err := s.st.CheckpointsAround(r.Context(), i)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	_, published := s.log.Checkpoint()
	var out api.CheckpointsAround
	if b.Note != nil && b.Size <= published {
		out.Before = &api.SizedCheckpoint{Size: b.Size, Checkpoint: string(b.Note)}
	}
	if a.Note != nil && a.Size <= published {
		out.After = &api.SizedCheckpoint{Size: a.Size, Checkpoint: string(a.Note)}
	}
	s.writeJSON(w, http.StatusOK, out)
}

func queryUint(r *http.Request, name string) (uint64, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("parameter %s=%q is not a number", name, v)
	}
	return n, true, nil
}

func (s *Server) handleInclusion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var st *store.Stored
	var err error
	index, haveIndex, err := queryUint(r, "index")
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	if idStr := r.URL.Query().Get("id"); idStr != "" {
		id, perr := record.ParseID(idStr)
		if perr != nil {
			s.fail(w, http.StatusBadRequest, perr.Error(), "")
			return
		}
		st, err = s.st.Get(ctx, id)
	} else if haveIndex {
		st, err = s.st.GetByIndex(ctx, index)
	} else {
		s.fail(w, http.StatusBadRequest, "name the leaf", "add ?index=N or ?id=HEX")
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		s.failErr(w, http.StatusNotFound, err, "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	size, haveSize, err := queryUint(r, "size")
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	var cp []byte
	if !haveSize {
		var n uint64
		cp, n = s.log.Checkpoint()
		if n <= st.Index && r.URL.Query().Get("wait") != "" {
			wctx, cancel := context.WithTimeout(ctx, s.cfg.ProofWait)
			cp, n, _ = s.log.WaitCheckpoint(wctx, st.Index+1)
			cancel()
		}
		size = n
	}
	if st.Index >= size {
		s.fail(w, http.StatusNotFound, fmt.Sprintf("record %s at index %d is not in the tree of size %d yet", st.ID.Short(), st.Index, size),
			"retry in a moment, or add ?wait=1 to wait for the next checkpoint")
		return
	}
	p, err := s.log.Inclusion(ctx, st.Index, size)
	if errors.Is(err, tlog.ErrNotIntegrated) {
		s.fail(w, http.StatusNotFound, err.Error(), "ask for a size no larger than the published checkpoint's")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, api.InclusionProof{
		Index: st.Index, Size: size, ID: st.ID, Kind: st.Kind,
		Leaf: record.LeafData(st.Leaf(st.Sequenced)), Proof: p, Checkpoint: string(cp),
	})
}

func (s *Server) handleConsistency(w http.ResponseWriter, r *http.Request) {
	from, ok, err := queryUint(r, "from")
	if err == nil && !ok {
		err = errors.New("parameter from is missing")
	}
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error(), "ask /v1/log/proof/consistency?from=OLD&to=NEW")
		return
	}
	to, ok, err := queryUint(r, "to")
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	if !ok {
		_, to = s.log.Checkpoint()
	}
	p, err := s.log.Consistency(r.Context(), from, to)
	if errors.Is(err, tlog.ErrNotIntegrated) {
		s.fail(w, http.StatusNotFound, err.Error(), "ask for sizes no larger than the published checkpoint's")
		return
	}
	if err != nil && from > to {
		s.fail(w, http.StatusBadRequest, err.Error(), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, api.ConsistencyProof{From: from, To: to, Proof: p})
}
