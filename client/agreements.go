package client

import (
	"context"
	"fmt"
	"net/url"

	"pouch.dev/agreement"
	"pouch.dev/api"
	"pouch.dev/record"
)

// Agreements lists the agreements and statements in the log.
func (c *Client) Agreements(ctx context.Context) ([]api.AgreementSummary, error) {
	var v []api.AgreementSummary
	err := c.do(ctx, "GET", "/v1/agreements", nil, "", nil, &v)
	return v, err
}

// Agreement fetches an agreement and the actions the server accepted on it.
// It is the server's account: a client that must not trust the server
// replays the records themselves (agreement.Replay), each proven in the log.
func (c *Client) Agreement(ctx context.Context, id record.ID) (*api.AgreementView, error) {
	var v api.AgreementView
	if err := c.do(ctx, "GET", "/v1/agreements/"+id.String(), nil, "", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// AgreementStatus asks the server for the status of agreement id on day at
// (the server's today if at is empty), as derived by the server's replay of
// the log.
func (c *Client) AgreementStatus(ctx context.Context, id record.ID, at agreement.Date) (*agreement.Status, error) {
	p := "/v1/agreements/" + id.String() + "/status"
	if at != "" {
		p += "?at=" + url.QueryEscape(string(at))
	}
	var v agreement.Status
	if err := c.do(ctx, "GET", p, nil, "", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Statement asks the server for a statement and its signatories in a log
// of size size (every co-signature so far if size is negative).
func (c *Client) Statement(ctx context.Context, id record.ID, size int64) (*api.StatementView, error) {
	p := "/v1/statements/" + id.String()
	if size >= 0 {
		p += fmt.Sprintf("?at=%d", size)
	}
	var v api.StatementView
	if err := c.do(ctx, "GET", p, nil, "", nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
