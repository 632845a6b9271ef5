// Package directory holds pouch's directory — houses, offices and their
// keys, grants — and its authorisation rules, as pure functions over the
// records of the log.
//
// A Directory is a state machine. The server applies every record in log
// order with Apply, giving each its log index and sequencing time (a Pos);
// before a record is appended, Check says whether the directory as of now
// allows it. Queries answer as of any point of the log:
//
//   - which key held an office at log index N (KeyAt), and whether a key is
//     current or was revoked (CurrentKey, CheckKey);
//   - whom a letter to an addressee must be sealed to (SealTo): the
//     addressee and its current receive delegates for that sender and thread;
//   - whether a principal may receive for, carry for or disclose for another
//     (MayReceive, MayCarry, MayDisclose).
//
// The rules that combine these with a pouch's route (custody, delivery),
// with disclosures and with the other kinds are package ledger's.
//
// The deployment's own house, pouch, is founded by no house record: the
// operator admits its one office, EvidenceHandle, with the genesis key.
//
// The package does no I/O and keeps no clock: time comes from the log.
//
// # Founding houses
//
// In operator mode (the default of a deployment) a house record must be
// countersigned by the operator key made at the server's first start, as
// OperatorHandle. The founder signs a FoundingRequest (the house record
// with the registrar's signature alone, as PEM text to send by mail); the
// operator parses it (ParseFoundingRequest), checks it and countersigns
// it (Countersign) without the operator's key leaving its machine. In
// open mode the first house record for a name wins; it is in the log for
// everyone to see. Open mode is for demos and tests.
//
// The rules are written down in spec/directory.md.
package directory

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"pouch.dev/record"
)

// A Pos is a point in the log: a record's leaf index and its sequencing
// time, the authoritative time of the record.
type Pos struct {
	Index uint64
	Time  time.Time
}

// Mode says who may found a house.
type Mode int

const (
	// ModeOperator: the operator key countersigns every house record.
	ModeOperator Mode = iota
	// ModeOpen: the first claim of a house name wins.
	ModeOpen
)

func (m Mode) String() string {
	if m == ModeOpen {
		return "open"
	}
	return "operator"
}

// ParseMode parses a founding rule as Mode.String writes it.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "operator":
		return ModeOperator, nil
	case "open":
		return ModeOpen, nil
	}
	return 0, fmt.Errorf("founding rule %q (want \"operator\" or \"open\")", s)
}

// Config fixes a directory's founding rule. The zero Config means: learn
// it from the log's genesis record (index 0); a directory made with
// another Config still requires a genesis record, if one comes, to agree
// with it.
type Config struct {
	Mode     Mode
	Operator ed25519.PublicKey // the operator's key; required in ModeOperator
	// Partial says the directory holds only the records its reader may
	// read, as a client's does: the private grants of others are missing
	// from it. A revocation of a grant it does not hold is then kept,
	// checked only for its signer's key, and applied to the grant if the
	// grant is applied later (a rebuild in log order does that). A
	// server's directory, which holds every record, is never Partial.
	Partial bool
}

func (c Config) zero() bool { return c.Mode == ModeOperator && len(c.Operator) == 0 }

// unknownRevoke is a revocation of a grant a Partial directory does not
// hold.
type unknownRevoke struct {
	by  record.Handle
	pos Pos
}

// GenesisRecord signs the genesis record of a log with origin: founding
// rule cfg.Mode and operator key op, the key of cfg.Operator.
//
// SPEC: spec/directory.md#genesis
func GenesisRecord(origin string, mode Mode, op crypto.Signer, claimed int64) (*record.Signed, error) {
	pub, ok := op.Public().(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("genesis: the operator key is not an Ed25519 key")
	}
	b := &Genesis{Origin: origin, Founding: mode.String(), Operator: pub}
	if err := b.check(); err != nil {
		return nil, err
	}
	r := &record.Record{Kind: record.KindGenesis, Origin: origin, By: []record.Handle{OperatorHandle}, Time: claimed}
	return record.Sign(r, b, op)
}

// A HouseEntry is a founded house.
type HouseEntry struct {
	House     string
	Name      string
	Registrar ed25519.PublicKey
	ID        record.ID
	Pos       Pos
}

// A GenesisEntry is a log's applied genesis record.
type GenesisEntry struct {
	Genesis Genesis
	ID      record.ID
	Pos     Pos
}

// A KeyEntry is one holder's key of an office, from its admit record.
type KeyEntry struct {
	Handle    record.Handle
	Key       ed25519.PublicKey
	Recipient string
	Holder    string
	ID        record.ID // the admit record
	Admitted  Pos
	// Superseded is set when a later admit rotated the office to a new
	// key; Revoked when a key-revoke record revoked this key.
	Superseded *Pos
	Revoked    *Pos
	RevokeID   record.ID
}

// ValidAt reports whether e may sign for its handle in a record at index.
func (e *KeyEntry) ValidAt(index uint64) bool {
	return e.Admitted.Index < index &&
		(e.Superseded == nil || index < e.Superseded.Index) &&
		(e.Revoked == nil || index < e.Revoked.Index)
}

// A GrantEntry is a logged grant.
type GrantEntry struct {
	ID      record.ID
	From    record.Handle
	Grant   Grant
	Private bool
	Pos     Pos
	Revoked *Pos
}

// NotAfter returns the expiry time, or the zero time.
func (g *GrantEntry) NotAfter() time.Time {
	if g.Grant.NotAfter == 0 {
		return time.Time{}
	}
	return time.UnixMilli(g.Grant.NotAfter).UTC()
}

// A Directory is the state of houses, offices and grants after applying
// a prefix of the log. It is not safe for concurrent use: the server
// guards it with a lock.
type Directory struct {
	cfg     Config
	genesis *GenesisEntry // the log's genesis record, once applied
	next    uint64        // the index after the last applied record
	houses  map[string]*HouseEntry
	offices map[record.Handle][]*KeyEntry // in admit order
	grants  map[record.ID]*GrantEntry
	granted map[record.Handle][]*GrantEntry // by grantee
	grantor map[record.Handle][]*GrantEntry // by grantor
	byKey   map[string]*KeyEntry            // by public key bytes
	// unknownRevokes are revocations of grants a Partial directory does
	// not hold, by grant ID.
	unknownRevokes map[record.ID]unknownRevoke
	// replaying: Replay is applying a record this package accepted
	// before.
	replaying bool
}

// New returns an empty directory with founding rule cfg.
func New(cfg Config) *Directory {
	return &Directory{
		cfg:     cfg,
		houses:  map[string]*HouseEntry{},
		offices: map[record.Handle][]*KeyEntry{},
		grants:  map[record.ID]*GrantEntry{},
		granted: map[record.Handle][]*GrantEntry{},
		grantor: map[record.Handle][]*GrantEntry{},
		byKey:   map[string]*KeyEntry{},

		unknownRevokes: map[record.ID]unknownRevoke{},
	}
}

// Config returns the directory's founding rule.
func (d *Directory) Config() Config { return d.cfg }

// Genesis returns the log's genesis record, once applied.
func (d *Directory) Genesis() (*GenesisEntry, bool) { return d.genesis, d.genesis != nil }

// Next returns the log index the next applied record must have at least:
// one past the last applied record.
func (d *Directory) Next() uint64 { return d.next }

// IsDirectoryKind reports whether records of kind k change the directory.
func IsDirectoryKind(k record.Kind) bool {
	switch k {
	case record.KindGenesis, record.KindHouse, record.KindAdmit, record.KindKeyRevoke, record.KindGrant, record.KindGrantRevoke:
		return true
	}
	return false
}

// Check reports whether the signed record s (decoded as r) may be
// appended at pos: its signers' keys are theirs at pos, and for the
// directory kinds, its signer has authority for it. Signatures themselves
// must have been verified (record.Verify). Kind-specific rules of other
// kinds (custody routes, disclosures) are checked by the caller with the
// other methods.
//
// SPEC: spec/directory.md#authority
func (d *Directory) Check(s *record.Signed, r *record.Record, pos Pos) error {
	_, err := d.check(s, r, pos)
	return err
}

// Apply checks s as Check does and, if it is allowed, applies it at pos.
// Records must be applied in log order.
func (d *Directory) Apply(s *record.Signed, r *record.Record, pos Pos) error {
	if pos.Index < d.next {
		return fmt.Errorf("%w: record at index %d after index %d", ErrOutOfOrder, pos.Index, d.next-1)
	}
	apply, err := d.check(s, r, pos)
	if err != nil {
		return err
	}
	if apply != nil {
		apply()
	}
	d.next = pos.Index + 1
	return nil
}

// Replay applies s as Apply does, for a record whose very bytes this
// package has applied before: a client replaying the records of its own
// View, which it proved and applied when they were new, into a fresh
// directory at each start. Every rule is judged again but one: an
// admitted recipient, which Apply parses (about 100 µs for a hybrid age
// recipient, most of a View's replay), is not parsed again; its size is
// still checked. A record not applied before must go through Apply.
func (d *Directory) Replay(s *record.Signed, r *record.Record, pos Pos) error {
	d.replaying = true
	defer func() { d.replaying = false }()
	return d.Apply(s, r, pos)
}

// check returns the state change s makes, or nil if it makes none.
func (d *Directory) check(s *record.Signed, r *record.Record, pos Pos) (func(), error) {
	if len(s.Sigs) != len(r.By) {
		return nil, fmt.Errorf("%w: %s record: %d signatures for %d signers", record.ErrMalformedRecord, r.Kind, len(s.Sigs), len(r.By))
	}
	id := s.ID()
	if r.Kind == record.KindGenesis {
		return d.checkGenesis(s, r, id, pos)
	}
	// SPEC: spec/directory.md#authority
	if g := d.genesis; g != nil && r.Origin != "" && r.Origin != g.Genesis.Origin {
		return nil, fmt.Errorf("%w: the %s record names log %q; this log is %q", ErrWrongLog, r.Kind, r.Origin, g.Genesis.Origin)
	}
	if pos.Index == 0 && d.cfg.zero() {
		return nil, fmt.Errorf("%w: the first record of a log is its genesis record, not a %s record", ErrGenesis, r.Kind)
	}
	// The other kinds' rules say the same of theirs.
	// SPEC: spec/directory.md#visibility
	if r.Private() && IsDirectoryKind(r.Kind) && r.Kind.AlwaysPublic() {
		return nil, fmt.Errorf("%w: a %s record is public: it carries no salt, so that every client can read it", ErrMalformedBody, r.Kind)
	}
	switch r.Kind {
	case record.KindHouse:
		return d.checkHouse(s, r, id, pos)
	case record.KindAdmit:
		return d.checkAdmit(s, r, id, pos)
	case record.KindKeyRevoke:
		return d.checkKeyRevoke(s, r, id, pos)
	case record.KindGrant:
		return d.checkGrant(s, r, id, pos)
	case record.KindGrantRevoke:
		return d.checkGrantRevoke(s, r, id, pos)
	}
	for i, h := range r.By {
		if err := d.CheckKey(h, s.Sigs[i].Key, pos.Index); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// SPEC: spec/directory.md#genesis
func (d *Directory) checkGenesis(s *record.Signed, r *record.Record, id record.ID, pos Pos) (func(), error) {
	var b Genesis
	if err := r.DecodeBody(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if pos.Index != 0 || d.genesis != nil {
		return nil, fmt.Errorf("%w: a genesis record at log index %d; only the first record of a log is one", ErrGenesis, pos.Index)
	}
	if len(r.By) != 1 || r.By[0] != OperatorHandle || !bytes.Equal(s.Sigs[0].Key, b.Operator) {
		return nil, fmt.Errorf("%w: the genesis record is signed as %s by the operator key it names", ErrGenesis, OperatorHandle)
	}
	if r.Private() || r.Origin != b.Origin {
		return nil, fmt.Errorf("%w: the genesis record is public and names its log's origin %q in the record too", ErrGenesis, b.Origin)
	}
	mode, _ := ParseMode(b.Founding)
	if !d.cfg.zero() && (d.cfg.Mode != mode || (mode == ModeOperator && !bytes.Equal(d.cfg.Operator, b.Operator))) {
		return nil, fmt.Errorf("%w: the log was founded in %s mode with operator key %s, this directory expects %s mode with %s",
			ErrGenesis, mode, keyShort(b.Operator), d.cfg.Mode, keyShort(d.cfg.Operator))
	}
	return func() {
		d.genesis = &GenesisEntry{Genesis: b, ID: id, Pos: pos}
		d.cfg = Config{Mode: mode, Operator: ed25519.PublicKey(b.Operator), Partial: d.cfg.Partial}
	}, nil
}

// checkHouseRecord checks what a house record must be on its own, with
// no directory: its body, and that its first signer is the house's
// registrar with the key the body names. Founding requests are checked
// by it too.
//
// SPEC: spec/directory.md#house
func checkHouseRecord(s *record.Signed, r *record.Record) (*House, error) {
	var b House
	if err := r.DecodeBody(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if r.By[0] != Registrar(b.House) {
		return nil, fmt.Errorf("%w: a house record for %s must be signed first as %s, not %s", ErrNotAuthorised, b.House, Registrar(b.House), r.By[0])
	}
	if len(s.Sigs) == 0 || !bytes.Equal(s.Sigs[0].Key, b.Registrar) {
		return nil, fmt.Errorf("%w: the house record for %s is not signed by the registrar key it names", ErrNotAuthorised, b.House)
	}
	return &b, nil
}

// SPEC: spec/directory.md#house
func (d *Directory) checkHouse(s *record.Signed, r *record.Record, id record.ID, pos Pos) (func(), error) {
	pb, err := checkHouseRecord(s, r)
	if err != nil {
		return nil, err
	}
	b := *pb
	if h, ok := d.houses[b.House]; ok {
		return nil, fmt.Errorf("%w: house %s was founded at log index %d", ErrHouseTaken, b.House, h.Pos.Index)
	}
	if d.cfg.zero() {
		return nil, fmt.Errorf("%w: the log has no genesis record, so no rule to found a house by", ErrGenesis)
	}
	switch d.cfg.Mode {
	case ModeOperator:
		if len(r.By) != 2 || r.By[1] != OperatorHandle || !bytes.Equal(s.Sigs[1].Key, d.cfg.Operator) {
			return nil, fmt.Errorf("%w: this deployment admits houses with its operator's countersignature (as %s); ask its operator", ErrNotAuthorised, OperatorHandle)
		}
	case ModeOpen:
		if len(r.By) != 1 {
			return nil, fmt.Errorf("%w: in open mode a house record is signed by its registrar alone", ErrNotAuthorised)
		}
	}
	return func() {
		d.houses[b.House] = &HouseEntry{House: b.House, Name: b.Name, Registrar: ed25519.PublicKey(b.Registrar), ID: id, Pos: pos}
	}, nil
}

func (d *Directory) registrarSigned(s *record.Signed, r *record.Record, house string) error {
	if house == DeploymentHouse {
		return d.operatorSigned(s, r)
	}
	h, ok := d.houses[house]
	if !ok {
		return fmt.Errorf("%w %q: found it first with a house record", ErrUnknownHouse, house)
	}
	if len(r.By) != 1 || r.By[0] != Registrar(house) {
		return fmt.Errorf("%w: %s records of house %s are signed by %s alone", ErrNotAuthorised, r.Kind, house, Registrar(house))
	}
	if !bytes.Equal(s.Sigs[0].Key, h.Registrar) {
		return &KeyError{Handle: r.By[0], Key: s.Sigs[0].Key, Reason: ErrKeyNotCurrent, Detail: "not the registrar key of the house record"}
	}
	return nil
}

// operatorSigned checks that a record of the deployment's own house is
// signed as OperatorHandle alone, by the operator key of the log's
// genesis record.
//
// SPEC: spec/directory.md#the-deployments-house
func (d *Directory) operatorSigned(s *record.Signed, r *record.Record) error {
	if len(d.cfg.Operator) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: the log has no genesis record naming its operator, who alone admits offices of the house %s", ErrGenesis, DeploymentHouse)
	}
	if len(r.By) != 1 || r.By[0] != OperatorHandle || !bytes.Equal(s.Sigs[0].Key, d.cfg.Operator) {
		return fmt.Errorf("%w: %s records of the deployment's house %s are signed as %s alone, with the operator key of the log's genesis record",
			ErrNotAuthorised, r.Kind, DeploymentHouse, OperatorHandle)
	}
	return nil
}

// SPEC: spec/directory.md#admit
func (d *Directory) checkAdmit(s *record.Signed, r *record.Record, id record.ID, pos Pos) (func(), error) {
	var b Admit
	if err := r.DecodeBody(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if err := b.check(!d.replaying); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if err := d.registrarSigned(s, r, b.Handle.House()); err != nil {
		return nil, err
	}
	if e, ok := d.byKey[string(b.Key)]; ok {
		return nil, fmt.Errorf("%w: key %s was already admitted for %s at log index %d; make a new key", ErrNotAuthorised, keyShort(b.Key), e.Handle, e.Admitted.Index)
	}
	return func() {
		e := &KeyEntry{Handle: b.Handle, Key: ed25519.PublicKey(b.Key), Recipient: b.Recipient, Holder: b.Holder, ID: id, Admitted: pos}
		keys := d.offices[b.Handle]
		for _, old := range keys {
			if old.Superseded == nil {
				p := pos
				old.Superseded = &p
			}
		}
		d.offices[b.Handle] = append(keys, e)
		d.byKey[string(b.Key)] = e
	}, nil
}

// SPEC: spec/directory.md#key-revoke
func (d *Directory) checkKeyRevoke(s *record.Signed, r *record.Record, id record.ID, pos Pos) (func(), error) {
	var b KeyRevoke
	if err := r.DecodeBody(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	e := d.byKey[string(b.Key)]
	if e == nil || e.Handle != b.Handle {
		return nil, &KeyError{Handle: b.Handle, Key: b.Key, Reason: ErrKeyNotCurrent, Detail: "it was never admitted for this office"}
	}
	if e.Revoked != nil {
		return nil, &KeyError{Handle: b.Handle, Key: b.Key, Reason: ErrKeyRevoked, Index: e.Revoked.Index, Time: e.Revoked.Time}
	}
	// The registrar, or the holder of the key itself (as long as the key is
	// valid), may revoke it.
	if len(r.By) == 1 && r.By[0] == b.Handle && bytes.Equal(s.Sigs[0].Key, b.Key) {
		if err := d.CheckKey(b.Handle, b.Key, pos.Index); err != nil {
			return nil, err
		}
	} else if err := d.registrarSigned(s, r, b.Handle.House()); err != nil {
		return nil, err
	}
	return func() {
		p := pos
		e.Revoked = &p
		e.RevokeID = id
	}, nil
}

// SPEC: spec/directory.md#grant
func (d *Directory) checkGrant(s *record.Signed, r *record.Record, id record.ID, pos Pos) (func(), error) {
	var b Grant
	if err := r.DecodeBody(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	if len(r.By) != 1 {
		return nil, fmt.Errorf("%w: a grant is signed by its grantor alone", ErrNotAuthorised)
	}
	from := r.By[0]
	if from == b.To {
		return nil, fmt.Errorf("%w: %s cannot grant itself", ErrNotAuthorised, from)
	}
	if err := d.CheckKey(from, s.Sigs[0].Key, pos.Index); err != nil {
		return nil, err
	}
	if _, err := d.CurrentKey(b.To, pos.Index); err != nil {
		return nil, fmt.Errorf("grant to %s: %w", b.To, err)
	}
	return func() {
		g := &GrantEntry{ID: id, From: from, Grant: b, Private: r.Private(), Pos: pos}
		d.grants[id] = g
		d.granted[b.To] = append(d.granted[b.To], g)
		d.grantor[from] = append(d.grantor[from], g)
	}, nil
}

// SPEC: spec/directory.md#grant-revoke
func (d *Directory) checkGrantRevoke(s *record.Signed, r *record.Record, id record.ID, pos Pos) (func(), error) {
	var b GrantRevoke
	if err := r.DecodeBody(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	g, ok := d.grants[b.Grant]
	if !ok && d.cfg.Partial {
		// A private grant this reader cannot read: its revocation is
		// public. Check what can be checked, and keep it.
		if len(r.By) != 1 {
			return nil, fmt.Errorf("%w: a grant is revoked by its grantor alone", ErrNotAuthorised)
		}
		if err := d.CheckKey(r.By[0], s.Sigs[0].Key, pos.Index); err != nil {
			return nil, err
		}
		if _, dup := d.unknownRevokes[b.Grant]; dup {
			return nil, fmt.Errorf("%w: grant %s was revoked already", ErrGrantRevoked, b.Grant.Short())
		}
		return func() { d.unknownRevokes[b.Grant] = unknownRevoke{by: r.By[0], pos: pos} }, nil
	}
	if !ok {
		return nil, fmt.Errorf("%w: grant %s is not in the log", ErrNoGrant, b.Grant.Short())
	}
	if len(r.By) != 1 || r.By[0] != g.From {
		return nil, fmt.Errorf("%w: only the grantor %s may revoke grant %s", ErrNotAuthorised, g.From, b.Grant.Short())
	}
	if err := d.CheckKey(g.From, s.Sigs[0].Key, pos.Index); err != nil {
		return nil, err
	}
	if g.Revoked != nil {
		return nil, &GrantError{Grantee: g.Grant.To, Grantor: g.From, Grant: g.ID, Reason: ErrGrantRevoked, Index: g.Revoked.Index}
	}
	return func() {
		p := pos
		g.Revoked = &p
	}, nil
}

// House returns a founded house.
func (d *Directory) House(name string) (*HouseEntry, bool) {
	h, ok := d.houses[name]
	return h, ok
}

// Houses returns the founded houses in founding order.
func (d *Directory) Houses() []*HouseEntry {
	var hs []*HouseEntry
	for _, h := range d.houses {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b *HouseEntry) int { return int(a.Pos.Index) - int(b.Pos.Index) })
	return hs
}

// History returns every key ever admitted for h, oldest first.
func (d *Directory) History(h record.Handle) []*KeyEntry { return d.offices[h] }

// Handles returns every admitted handle.
func (d *Directory) Handles() []record.Handle {
	var hs []record.Handle
	for h := range d.offices {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return hs
}

// KeyAt returns the key that held h for records at log index.
func (d *Directory) KeyAt(h record.Handle, index uint64) (*KeyEntry, error) {
	keys := d.offices[h]
	if len(keys) == 0 {
		return nil, &KeyError{Handle: h, Reason: ErrUnknownPrincipal}
	}
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].ValidAt(index) {
			return keys[i], nil
		}
	}
	last := keys[len(keys)-1]
	if last.Revoked != nil && last.Revoked.Index <= index {
		return nil, &KeyError{Handle: h, Key: last.Key, Reason: ErrKeyRevoked, Index: last.Revoked.Index, Time: last.Revoked.Time}
	}
	return nil, &KeyError{Handle: h, Reason: ErrKeyNotCurrent, Detail: fmt.Sprintf("no key held it at log index %d", index)}
}

// CurrentKey returns h's key for a record appended now (at index d.Next(),
// or at index if larger).
func (d *Directory) CurrentKey(h record.Handle, index uint64) (*KeyEntry, error) {
	return d.KeyAt(h, max(index, d.next))
}

// CheckKey reports whether key may sign for h in a record at index.
func (d *Directory) CheckKey(h record.Handle, key []byte, index uint64) error {
	e := d.byKey[string(key)]
	if e == nil || e.Handle != h {
		if len(d.offices[h]) == 0 {
			return &KeyError{Handle: h, Key: key, Reason: ErrUnknownPrincipal}
		}
		return &KeyError{Handle: h, Key: key, Reason: ErrKeyNotCurrent, Detail: "it was never admitted for this office"}
	}
	if e.ValidAt(index) {
		return nil
	}
	if e.Revoked != nil && e.Revoked.Index <= index {
		return &KeyError{Handle: h, Key: key, Reason: ErrKeyRevoked, Index: e.Revoked.Index, Time: e.Revoked.Time}
	}
	if e.Superseded != nil && e.Superseded.Index <= index {
		return &KeyError{Handle: h, Key: key, Reason: ErrKeyNotCurrent, Index: e.Superseded.Index,
			Detail: fmt.Sprintf("a new holder was admitted at log index %d", e.Superseded.Index)}
	}
	return &KeyError{Handle: h, Key: key, Reason: ErrKeyNotCurrent, Detail: fmt.Sprintf("it was admitted only at log index %d", e.Admitted.Index)}
}

// KeyOwner returns the entry of a public key, if it was ever admitted.
func (d *Directory) KeyOwner(key []byte) (*KeyEntry, bool) {
	e, ok := d.byKey[string(key)]
	return e, ok
}

// Grant returns a logged grant.
func (d *Directory) Grant(id record.ID) (*GrantEntry, bool) {
	g, ok := d.grants[id]
	return g, ok
}

// GrantsTo returns the grants ever made to h, in log order.
func (d *Directory) GrantsTo(h record.Handle) []*GrantEntry { return d.granted[h] }

// GrantsFrom returns the grants ever made by h, in log order.
func (d *Directory) GrantsFrom(h record.Handle) []*GrantEntry { return d.grantor[h] }
