package client

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/record"
)

// sign signs a record of kind k with body by the identities, in order.
func (c *Client) sign(k record.Kind, private bool, body any, by ...*Identity) (*record.Signed, error) {
	r := &record.Record{Kind: k, Origin: c.Origin, Time: c.now().UnixMilli()}
	keys := make([]crypto.Signer, len(by))
	for i, id := range by {
		r.By = append(r.By, id.Handle)
		keys[i] = id.Signing
	}
	if private {
		r.Salt = record.NewSalt()
	}
	return record.Sign(r, body, keys...)
}

// Registrar returns the identity of a house's registrar, from its key.
func Registrar(house string, key crypto.Signer) *Identity {
	return &Identity{Handle: directory.Registrar(house), Signing: key}
}

// Operator returns the identity of the deployment's operator, from its key.
func Operator(key crypto.Signer) *Identity {
	return &Identity{Handle: directory.OperatorHandle, Signing: key}
}

// FoundHouse submits a house record signed by registrar, and countersigned
// by operator unless it is nil (open mode).
func (c *Client) FoundHouse(ctx context.Context, house, name string, registrar, operator *Identity) (*api.Accepted, error) {
	by := []*Identity{registrar}
	if operator != nil {
		by = append(by, operator)
	}
	s, err := c.sign(record.KindHouse, false, &directory.House{House: house, Name: name, Registrar: registrar.SigningPublic()}, by...)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, s)
}

// Conditions of a founding request the operator's client checks against
// the server before countersigning.
var (
	ErrWrongLog   = errors.New("the request is for another log")
	ErrWrongHouse = errors.New("the request founds another house")
)

// RequestHouse makes the founding request of house (spec/directory.md,
// founding request) for the server's log (c.Origin), signed by registrar,
// the new house's registrar key: what founds a house on a server in
// operator mode without the operator's key leaving the operator. Nothing
// is submitted: the founder sends the request's Marshal to the operator,
// who approves it with ApproveHouse. A house already founded on the
// server is refused (directory.ErrHouseTaken).
func (c *Client) RequestHouse(ctx context.Context, house, name string, registrar *Identity) (*directory.FoundingRequest, error) {
	if registrar.Handle != directory.Registrar(house) {
		return nil, fmt.Errorf("the registrar of %s signs as %s, not %s", house, directory.Registrar(house), registrar.Handle)
	}
	if err := c.houseFree(ctx, house); err != nil {
		return nil, err
	}
	return directory.NewFoundingRequest(house, name, registrar.Signing, c.Origin, c.now().UnixMilli())
}

// CheckHouseRequest checks a founding request, parsed by
// directory.ParseFoundingRequest, against the server before its operator
// countersigns it: it is for the server's log (ErrWrongLog), its house is
// not founded yet (directory.ErrHouseTaken) and, if want is not empty, it
// founds house want (ErrWrongHouse).
func (c *Client) CheckHouseRequest(ctx context.Context, q *directory.FoundingRequest, want string) error {
	h := q.House.House
	if want != "" && h != want {
		return fmt.Errorf("%w: it founds house %s, not %s", ErrWrongHouse, h, want)
	}
	if o := q.Record.Origin; o != "" && c.Origin != "" && o != c.Origin {
		return fmt.Errorf("%w: the request of house %s is for log %q; this server's log is %q", ErrWrongLog, h, o, c.Origin)
	}
	return c.houseFree(ctx, h)
}

// houseFree checks that house is not founded on the server.
func (c *Client) houseFree(ctx context.Context, house string) error {
	hs, err := c.Houses(ctx)
	if err != nil {
		return err
	}
	for _, v := range hs {
		if v.House == house {
			return fmt.Errorf("%w: house %s was founded at log index %d (record %s)", directory.ErrHouseTaken, house, v.Index, v.ID.Short())
		}
	}
	return nil
}

// ApproveHouse checks a founding request as CheckHouseRequest does (with
// no expected house), countersigns it with operator, the deployment's
// operator key, and submits the house record. The server refuses it
// (directory.ErrNotAuthorised) if operator is not its operator key.
func (c *Client) ApproveHouse(ctx context.Context, q *directory.FoundingRequest, operator *Identity) (*api.Accepted, error) {
	if operator.Handle != directory.OperatorHandle {
		return nil, fmt.Errorf("a founding request is countersigned as %s, not %s", directory.OperatorHandle, operator.Handle)
	}
	if err := c.CheckHouseRequest(ctx, q, ""); err != nil {
		return nil, err
	}
	s, err := q.Countersign(operator.Signing)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, s)
}

// Admit submits an admit record: the registrar admits (or rotates) the
// holder of handle with signing key key and age recipient.
func (c *Client) Admit(ctx context.Context, registrar *Identity, handle record.Handle, key ed25519.PublicKey, recipient, holder string) (*api.Accepted, error) {
	s, err := c.sign(record.KindAdmit, false, &directory.Admit{Handle: handle, Key: key, Recipient: recipient, Holder: holder}, registrar)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, s)
}

// RevokeKey submits a key-revoke record, signed by the registrar or the
// key's holder.
func (c *Client) RevokeKey(ctx context.Context, by *Identity, handle record.Handle, key ed25519.PublicKey, reason string) (*api.Accepted, error) {
	s, err := c.sign(record.KindKeyRevoke, false, &directory.KeyRevoke{Handle: handle, Key: key, Reason: reason}, by)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, s)
}

// Grant submits a grant from from; private grants are served only to
// their parties.
func (c *Client) Grant(ctx context.Context, from *Identity, g *directory.Grant, private bool) (*api.Accepted, error) {
	s, err := c.sign(record.KindGrant, private, g, from)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, s)
}

// RevokeGrant submits a grant-revoke record by the grant's grantor.
func (c *Client) RevokeGrant(ctx context.Context, from *Identity, grant record.ID, reason string) (*api.Accepted, error) {
	s, err := c.sign(record.KindGrantRevoke, false, &directory.GrantRevoke{Grant: grant, Reason: reason}, from)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, s)
}

// Publish makes one of by's private records public: anyone can then fetch
// it and its proof, and nothing else is revealed (a delivery receipt
// published says that a letter was delivered, not what it says).
func (c *Client) Publish(ctx context.Context, by *Identity, id record.ID) (*api.Accepted, error) {
	s, err := c.sign(record.KindPublish, false, &ledger.Publish{Record: id}, by)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, s)
}
