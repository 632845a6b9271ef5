// Package api holds the wire types of pouch's HTTP API: the JSON answers
// and the CBOR submissions that server and client exchange, and the error
// codes that carry a refusal's reason across the wire. Both package server
// and package client import it; the client never imports the server.
//
// The API is described in spec/api.md (the correspondence) and spec/log.md
// (the log's routes).
package api

import (
	"time"

	"pouch.dev/agreement"
	"pouch.dev/directory"
	"pouch.dev/record"
)

// RecordView is a stored record with its place in the log.
type RecordView struct {
	ID          record.ID   `json:"id"`
	Kind        record.Kind `json:"kind"`
	Index       uint64      `json:"index"`
	Time        time.Time   `json:"time"`
	Public      bool        `json:"public"`
	PublishedBy *record.ID  `json:"published_by,omitempty"` // the publish record that made a private record public
	Signed      []byte      `json:"signed"`                 // the encoded record.Signed (base64 in JSON)
}

// RecordMatch is one record whose ID starts with the prefix asked for.
type RecordMatch struct {
	ID    record.ID   `json:"id"`
	Kind  record.Kind `json:"kind"`
	Index uint64      `json:"index"`
	Time  time.Time   `json:"time"`
}

// RecordMatches is the JSON of GET /v1/records?prefix=HEX: the records
// the requester may read whose ID starts with the prefix, in index order,
// at most MaxIDMatches; More says that there are others.
//
// SPEC: spec/api.md#get-v1-records
type RecordMatches struct {
	Matches []RecordMatch `json:"matches"`
	More    bool          `json:"more,omitempty"`
}

// MinIDPrefix is the fewest hex digits of an ID prefix that resolves to a
// record; MaxIDMatches is the most matches one answer lists.
const (
	MinIDPrefix  = 8
	MaxIDMatches = 8
)

// HopView is one accepted custody record of a pouch.
type HopView struct {
	ID       record.ID     `json:"id"`
	By       record.Handle `json:"by"`
	As       record.Handle `json:"as"` // the envoy carried for, or the addressee delivered for
	Delivery bool          `json:"delivery"`
	Index    uint64        `json:"index"`
	Time     time.Time     `json:"time"`
}

// PouchView is a pouch's tag and custody so far.
type PouchView struct {
	ID        record.ID       `json:"id"`
	From      record.Handle   `json:"from"`
	To        record.Handle   `json:"to"`
	Via       []record.Handle `json:"via,omitempty"`
	Letter    string          `json:"letter"` // the letter's ID, as in its signed header
	Thread    *record.ID      `json:"thread,omitempty"`
	Size      uint64          `json:"size"` // the sealed payload's size
	Index     uint64          `json:"index"`
	Time      time.Time       `json:"time"`
	Custody   []HopView       `json:"custody"`
	Delivered bool            `json:"delivered"`
	// Next names whom the pouch awaits: the next envoy, or the addressee
	// (or its receive delegates) for delivery. Empty once delivered,
	// refused or reported not delivered.
	Next record.Handle `json:"next,omitempty"`
	// The sender's requests for evidence, from the tag: a deadline for
	// delivery, consent before it, an access record before the
	// addressee's side takes the payload.
	DeliverBy *time.Time `json:"deliver_by,omitempty"`
	Consent   bool       `json:"consent,omitempty"`
	Access    bool       `json:"access,omitempty"`
	// Events are the pouch's other events so far, in log order:
	// acceptance, refusal, access, non-delivery
	// (spec/evidence.md#events).
	Events []EventView `json:"events,omitempty"`
	// Outcome is "delivered", "refused" or "not-delivered" once the pouch
	// has one, with the reason code of a refusal or non-delivery in
	// Reason; empty while it travels.
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// EventView is one accepted pouch event other than custody.
type EventView struct {
	ID     record.ID     `json:"id"`
	Kind   record.Kind   `json:"kind"`
	By     record.Handle `json:"by"`
	Reason string        `json:"reason,omitempty"` // a refusal's or non-delivery's reason code
	Index  uint64        `json:"index"`
	Time   time.Time     `json:"time"`
}

// InboxItem is a pouch in a principal's inbox.
type InboxItem struct {
	PouchView
	Role     string `json:"role"`     // sender, addressee, delegate, envoy
	Awaiting bool   `json:"awaiting"` // the principal may take custody or delivery now
}

// KeyView is one admitted key of an office.
type KeyView struct {
	Handle       record.Handle `json:"handle"`
	Key          []byte        `json:"key"`
	Recipient    string        `json:"recipient"`
	Holder       string        `json:"holder,omitempty"`
	Admit        record.ID     `json:"admit"`
	Index        uint64        `json:"index"`
	Time         time.Time     `json:"time"`
	SupersededAt *uint64       `json:"superseded_at,omitempty"`
	RevokedAt    *uint64       `json:"revoked_at,omitempty"`
}

// PrincipalView is an office's current key and history.
type PrincipalView struct {
	Handle  record.Handle `json:"handle"`
	Current *KeyView      `json:"current,omitempty"`
	// HeldAt is the key that held the office at the index asked for with
	// ?index=N.
	HeldAt  *KeyView  `json:"held_at,omitempty"`
	History []KeyView `json:"history"`
}

// HouseView is a founded house.
type HouseView struct {
	House     string    `json:"house"`
	Name      string    `json:"name,omitempty"`
	Registrar []byte    `json:"registrar"`
	ID        record.ID `json:"id"`
	Index     uint64    `json:"index"`
	Time      time.Time `json:"time"`
}

// ReaderView is one principal a letter will be sealed to.
type ReaderView struct {
	Handle    record.Handle `json:"handle"`
	Key       []byte        `json:"key"` // Ed25519 public key
	Recipient string        `json:"recipient"`
	Role      string        `json:"role"`
	Grant     *record.ID    `json:"grant,omitempty"`
	NotAfter  *time.Time    `json:"not_after,omitempty"`
}

// SealView answers "whom must a letter from F to T be sealed to now".
type SealView struct {
	From    record.Handle `json:"from"`
	To      record.Handle `json:"to"`
	Readers []ReaderView  `json:"readers"`
}

// GrantView is a logged grant.
type GrantView struct {
	ID           record.ID           `json:"id"`
	From         record.Handle       `json:"from"`
	To           record.Handle       `json:"to"`
	Abilities    []directory.Ability `json:"abilities"`
	Counterparts []record.Handle     `json:"counterparts,omitempty"`
	Thread       *record.ID          `json:"thread,omitempty"`
	Purpose      string              `json:"purpose,omitempty"`
	NotBefore    *time.Time          `json:"not_before,omitempty"`
	NotAfter     *time.Time          `json:"not_after,omitempty"`
	Private      bool                `json:"private"`
	Index        uint64              `json:"index"`
	Time         time.Time           `json:"time"`
	RevokedAt    *uint64             `json:"revoked_at,omitempty"`
}

// AgreementSummary is one agreement or statement in GET /v1/agreements.
//
// SPEC: spec/api.md#agreements
type AgreementSummary struct {
	ID    record.ID     `json:"id"`
	Kind  record.Kind   `json:"kind"` // agreement or statement
	Name  string        `json:"name,omitempty"`
	Title string        `json:"title"`
	By    record.Handle `json:"by"`    // depositary or opener
	Index uint64        `json:"index"` // log index of its record
	// Parties in force on the server's today (agreements); co-signatures
	// so far (statements).
	Count int `json:"count"`
}

// AgreementView is GET /v1/agreements/{id}: the agreement's body and the
// actions accepted on it, in log order.
type AgreementView struct {
	ID         record.ID            `json:"id"`
	Index      uint64               `json:"index"`
	Depositary record.Handle        `json:"depositary"`
	Agreement  *agreement.Agreement `json:"agreement"`
	Actions    []*agreement.Action  `json:"actions"`
	Rejected   int                  `json:"rejected"`
}

// StatementView is GET /v1/statements/{id}: a statement and its
// signatories in a log of size Size.
type StatementView struct {
	ID          record.ID             `json:"id"`
	Index       uint64                `json:"index"`
	Opener      record.Handle         `json:"opener"`
	Statement   *agreement.Statement  `json:"statement"`
	Size        uint64                `json:"size"` // the log size the roll is taken at
	Count       int                   `json:"count"`
	Signatories []agreement.Signatory `json:"signatories"`
}

// BatchResult is one pouch's outcome in a batch: Accepted, or Error.
type BatchResult struct {
	*Accepted `json:",omitempty"`
	Error     *ErrorBody `json:"refused,omitempty"`
	Status    int        `json:"status"`
}

// MaxPouchBatch is the most pouches one POST /v1/pouches/batch may carry.
const MaxPouchBatch = 1024

// RecordsPage is GET /v1/log/records: the records of some kinds in a range
// of the log that the requester may read, in index order. Next, if not
// zero, is where the next page starts.
//
// SPEC: spec/api.md#log-records
type RecordsPage struct {
	Records []RecordView `json:"records"`
	Next    uint64       `json:"next,omitempty"`
}

// MaxRecordsPage is the most records one page of GET /v1/log/records
// holds.
const MaxRecordsPage = 1000

// ErrorBody is the JSON of every error response.
//
// SPEC: spec/api.md#errors
type ErrorBody struct {
	Error string `json:"error"`          // what is wrong, for people
	Hint  string `json:"hint,omitempty"` // how to fix it, where there is a fix
	Code  Code   `json:"code,omitempty"` // the rule that refused, for programs (ErrorOf)
}

// Limits is the JSON of GET /v1/limits: how large a letter the server
// accepts. MaxAttachments is the limit people meet, on a letter's
// attachments together (record.MaxAttachmentsSize unless the deployment
// set a lower one); MaxPayload is the largest sealed payload it accepts,
// record.PayloadLimit(MaxAttachments), and MaxPouchFile the largest
// .pouch file of such a payload. A client checks a letter against them
// before it seals it.
//
// SPEC: spec/api.md#get-v1-limits
type Limits struct {
	MaxAttachments int64 `json:"max_attachments"`
	MaxPayload     int64 `json:"max_payload"`
	MaxPouchFile   int64 `json:"max_pouch_file"`
}

// LogInfo is the JSON of GET /v1/log.
//
// SPEC: spec/log.md#http-api
type LogInfo struct {
	Origin     string   `json:"origin"`
	Key        string   `json:"key"`  // the log's verifier key
	Size       uint64   `json:"size"` // the published tree size
	Checkpoint string   `json:"checkpoint"`
	Witnesses  []string `json:"witnesses,omitempty"` // verifier keys of the witnesses the log asks
}

// InclusionProof is the JSON of GET /v1/log/proof/inclusion.
//
// SPEC: spec/log.md#http-api
type InclusionProof struct {
	Index uint64      `json:"index"`
	Size  uint64      `json:"size"`
	ID    record.ID   `json:"id"`
	Kind  record.Kind `json:"kind"`
	Leaf  []byte      `json:"leaf"`  // the log entry, record.LeafData: kind, id, time of sequencing, private
	Proof [][]byte    `json:"proof"` // RFC 6962 audit path, leaf to root
	// Checkpoint is the signed checkpoint of Size, when the request did
	// not name a size.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// ConsistencyProof is the JSON of GET /v1/log/proof/consistency.
//
// SPEC: spec/log.md#http-api
type ConsistencyProof struct {
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	Proof [][]byte `json:"proof"`
}

// ProofView is a record's inclusion proof in the tree of a signed
// checkpoint: enough to check, offline, that the log holds the record at
// Index.
//
// SPEC: spec/api.md#proofs
type ProofView struct {
	ID         record.ID   `json:"id"`
	Kind       record.Kind `json:"kind"`
	Index      uint64      `json:"index"`
	Size       uint64      `json:"size"`
	Leaf       []byte      `json:"leaf"`       // the log entry proven: record.LeafData, with the time of sequencing
	Hashes     [][]byte    `json:"hashes"`     // RFC 6962 inclusion proof, leaf to root
	Checkpoint string      `json:"checkpoint"` // the C2SP signed-note checkpoint of Size, with cosignatures
}

// Accepted is the answer to a submitted record: its place in the log.
type Accepted struct {
	ID    record.ID   `json:"id"`
	Kind  record.Kind `json:"kind"`
	Index uint64      `json:"index"`
	Time  time.Time   `json:"time"`
}

// CheckpointsAround is the answer of GET /v1/log/checkpoints?around=I:
// the last published checkpoint whose tree does not hold leaf I, and the
// first that does, if the log has them.
type CheckpointsAround struct {
	Before *SizedCheckpoint `json:"before,omitempty"`
	After  *SizedCheckpoint `json:"after,omitempty"`
}

// SizedCheckpoint is a signed checkpoint, with its cosignatures, and its
// tree size.
type SizedCheckpoint struct {
	Size       uint64 `json:"size"`
	Checkpoint string `json:"checkpoint"`
}

// PouchSubmission is the CBOR body of POST /v1/pouches: a signed tag and
// the sealed payload whose SHA-256 it names.
//
// SPEC: spec/api.md#post-pouches
type PouchSubmission struct {
	Tag     []byte `cbor:"tag"`     // an encoded record.Signed of kind tag
	Payload []byte `cbor:"payload"` // the age file
}
