package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptrace"
	"testing"

	"pouch.dev/letter"
)

// An acknowledgement carries its Content-Length, so that it is sent in
// one piece and a client that reads the JSON and closes the body (the
// client package, with Go's json.Decoder) keeps its connection for the
// next request: a chunked answer, flushed before its last chunk, made
// every submission cost the server a new connection.
func TestAcknowledgementKeepsConnection(t *testing.T) {
	p := openSQLitePair(t)
	ppl := people(t, p, "ir/leader", "ru/president")
	from, to := ppl["ir/leader"], ppl["ru/president"]
	var reused, fresh int
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if ci.Reused {
			reused++
		} else {
			fresh++
		}
	}}
	p.a.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	const n = 5
	for range n {
		var b bytes.Buffer
		sealed, err := letter.Seal(&b, &letter.SealRequest{Author: from, To: to.Public(),
			Sections: []letter.Section{{Title: "Talks", Text: "Geneva, Tuesday."}}, Origin: agOrigin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.a.SubmitPouch(ctx, sealed.Tag.Signed, b.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if fresh != 1 || reused != n-1 {
		t.Errorf("%d submissions one after the other took %d new connections and reused %d, want 1 and %d", n, fresh, reused, n-1)
	}
	// The answer itself: one body of the length it names, not chunked.
	resp, err := p.a.HTTP.Get(p.a.URL + "/v1/limits")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength <= 0 || len(resp.TransferEncoding) != 0 {
		t.Errorf("GET /v1/limits: Content-Length %d, Transfer-Encoding %q; want a length, not chunked", resp.ContentLength, resp.TransferEncoding)
	}
}
