package scenario

// The cases that must fail: each is refused by the rule it names, matched
// with errors.Is on the sentinel the refusal's code maps to (api.ErrorOf),
// so a case fails when another rule refuses; and the log is measured
// before and after, against the in-process server and a remote one alike,
// so a case fails when anything was stored.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"pouch.dev/api"
	"pouch.dev/client"
	"pouch.dev/record"
	"pouch.dev/store"
)

// Refuse checks that err is the server's refusal by the rule want: err
// matches want with errors.Is (a client.Error unwraps to the sentinel of
// its code), and its message says each of says. It records the refusal in
// the report. want must name a rule and no says may be empty: a check
// that cannot fail is no check.
func (w *World) Refuse(who, what string, err, want error, says ...string) error {
	if want == nil {
		return w.Report.Fail("%s %s: the case names no rule that must refuse it", who, what)
	}
	if err == nil {
		return w.Report.Fail("%s %s: %v", who, what, errUnexpected)
	}
	if !errors.Is(err, want) {
		code := api.Code("none")
		var ce *client.Error
		if errors.As(err, &ce) {
			code = ce.Code
		}
		return w.Report.Fail("%s %s: refused by another rule than %q: %v (code %s)", who, what, want, err, code)
	}
	for _, s := range says {
		if s == "" {
			return w.Report.Fail("%s %s: an empty expected text matches any message", who, what)
		}
		if !strings.Contains(err.Error(), s) {
			return w.Report.Fail("%s %s: refused, but the message %q does not say %q", who, what, err, s)
		}
	}
	w.Report.Refused(who, what, err)
	return nil
}

// A refusalCase is one action that must fail.
type refusalCase struct {
	who, what string
	want      error      // the rule that must refuse it
	says      []string   // what the refusal's message must say
	record    *record.ID // the refused record, which must not be in the log; nil for a replay, or when the action signs it unseen
	act       func() error
}

// refuse plays one case that must fail: it measures the log, acts, checks
// that the action was refused by the rule named (Refuse), that the log
// did not grow, and that the refused record, if named, is not in it.
func (w *World) refuse(ctx context.Context, c refusalCase) error {
	before, err := w.logSize(ctx)
	if err != nil {
		return err
	}
	if err := w.Refuse(c.who, c.what, c.act(), c.want, c.says...); err != nil {
		return err
	}
	if c.record == nil {
		return w.sameSize(ctx, before)
	}
	return w.nothingStored(ctx, *c.record, before)
}

// logSize returns the number of records the log holds, every one that was
// sequenced, integrated into the published tree or not. In-process it is
// the store's count. Against a remote server it is the size of the
// server's signed checkpoint, verified with the log's key and consistent
// with every checkpoint this world saw before (the verifying client's
// View, caught up with the log), plus the
// records sequenced since: the log is asked for the inclusion proof of
// each next index, which it gives once the record is integrated, until it
// answers that it holds no record at that index (code not-found).
//
// SPEC: spec/log.md#http-api
func (w *World) logSize(ctx context.Context) (uint64, error) {
	if w.Store != nil {
		ls, err := w.Store.State(ctx)
		if err != nil {
			return 0, w.Report.Fail("reading the log's size: %v", err)
		}
		return ls.Size, nil
	}
	// Bounded: each round either ends or finds one more record, and the
	// scenario appends none meanwhile.
	for range 64 {
		v, err := w.Client.View(ctx, nil)
		if err != nil {
			return 0, w.Report.Fail("the log's checkpoint: %v", err)
		}
		held, err := w.holdsIndex(ctx, v.Size())
		if err != nil {
			return 0, w.Report.Fail("the log's size: %v", err)
		}
		if !held {
			return v.Size(), nil
		}
	}
	return 0, w.Report.Fail("the log's size: it keeps growing while the scenario waits")
}

// holdsIndex reports whether the remote log holds a record at index n,
// waiting for the record to be integrated if it does.
func (w *World) holdsIndex(ctx context.Context, n uint64) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/v1/log/proof/inclusion?index=%d&wait=1", w.URL, n), nil)
	if err != nil {
		return false, err
	}
	hc := w.Client.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		return true, nil
	}
	var eb api.ErrorBody
	json.Unmarshal(b, &eb)
	if resp.StatusCode == http.StatusNotFound && errors.Is(api.ErrorOf(eb.Code), store.ErrNotFound) {
		return false, nil
	}
	return false, fmt.Errorf("GET /v1/log/proof/inclusion?index=%d: %s: %s", n, resp.Status, strings.TrimSpace(string(b)))
}

// sameSize checks that the log still holds before records.
func (w *World) sameSize(ctx context.Context, before uint64) error {
	after, err := w.logSize(ctx)
	if err != nil {
		return err
	}
	if after != before {
		return w.Report.Fail("the log grew from %d to %d records after a refusal", before, after)
	}
	w.Report.Info("nothing stored: the log still holds %d records", after)
	return nil
}

// nothingStored checks that the refused record id is not in the log and
// that the log still holds before records.
func (w *World) nothingStored(ctx context.Context, id record.ID, before uint64) error {
	if _, err := w.Client.Record(ctx, id, nil); !errors.Is(err, store.ErrNotFound) {
		return w.Report.Fail("the refused record %s: want not found, got %v", id.Short(), err)
	}
	after, err := w.logSize(ctx)
	if err != nil {
		return err
	}
	if after != before {
		return w.Report.Fail("the log grew from %d to %d records after a refusal", before, after)
	}
	w.Report.Info("nothing stored: record %s is not in the log, which still holds %d records", id.Short(), after)
	return nil
}
