package record

// Limits on every decoded structure, in one place. A decoder that meets
// input beyond a limit rejects it with ErrTooLarge; nothing is truncated.
//
// SPEC: spec/records.md#limits
const (
	// MaxRecordSize is the largest encoded signed record accepted (a
	// Signed, with its signatures). A statement co-signature, a custody
	// record or a grant is a few hundred bytes; an agreement with 200
	// parties and its clauses stays well below this.
	MaxRecordSize = 256 << 10

	// MaxSignatures is the most signatures one record may carry.
	MaxSignatures = 8

	// MaxSigners is the most principals a record's "by" field may name.
	MaxSigners = MaxSignatures

	// MaxHandleLen is the longest principal handle, "house/name".
	MaxHandleLen = 97
	// MaxHouseLen is the longest house name.
	MaxHouseLen = 32
	// MaxOfficeLen is the longest office name inside a house.
	MaxOfficeLen = 64

	// MaxOriginLen is the longest log origin a record may name.
	MaxOriginLen = 256

	// SaltSize is the size of the random salt of a private record.
	SaltSize = 16

	// MaxArrayElements and MaxMapPairs bound any CBOR array or map.
	MaxArrayElements = 4096
	MaxMapPairs      = 256
	// MaxNesting bounds CBOR nesting depth.
	MaxNesting = 16
)

// Limits on agreement and statement bodies (spec/agreement.md#limits).
const (
	// MaxParties is the most parties one agreement may invite.
	MaxParties = 256
	// MaxPartySigners is the most offices named as signers for one party.
	MaxPartySigners = 8
	// MaxVerifiers is the most verifiers one agreement may name.
	MaxVerifiers = 32
	// MaxClauses is the most clauses one agreement may have.
	MaxClauses = 64
	// MaxTitleLen is the longest title of an agreement, clause or
	// statement, in bytes.
	MaxTitleLen = 512
	// MaxLabelLen is the longest agreement name or clause ID.
	MaxLabelLen = 64
	// MaxNoteLen is the longest free-text note of an attestation.
	MaxNoteLen = 1024
)

// Limits on letters, pouches and .pouch files (spec/letter.md#limits).
const (
	// LetterIDSize is the size of a letter's random ID.
	LetterIDSize = 16
	// SectionSaltSize is the size of a section's commitment salt.
	SectionSaltSize = 32
	// MaxSections is the most sections one letter may have.
	MaxSections = 256
	// MaxSectionTitleLen is the longest section title, in bytes.
	MaxSectionTitleLen = 1024
	// MaxLetterText is the most text (titles and bodies) one letter may
	// hold, in bytes.
	MaxLetterText = 4 << 20
	// MaxReaders is the most principals one letter may be sealed to.
	MaxReaders = 64
	// MaxVia is the most envoys on one pouch's route.
	MaxVia = 16
	// MaxAttachments is the most attachments one letter may carry.
	MaxAttachments = 64
	// MaxAttachmentNameLen is the longest attachment name, in bytes.
	MaxAttachmentNameLen = 255
	// MaxAttachmentsSize is the most bytes the attachments of one letter
	// may hold together: the one limit on a letter's size that people
	// meet. Every path accepts a letter within it, whatever its text and
	// readers: sealing, a server's POST /v1/pouches, a secure line. The
	// limits on the payload and the .pouch file below add the overhead of
	// the letter's text, age's header and age's chunks to it. A deployment
	// may set a lower limit, which its server advertises (GET /v1/limits).
	//
	// SPEC: spec/letter.md#limits
	MaxAttachmentsSize = 1 << 30
	// MaxAgeHeader is the largest age header of a payload: MaxReaders
	// hybrid post-quantum stanzas take about 100 KiB.
	MaxAgeHeader = 256 << 10
	// MaxPlaintext is the largest plaintext of a payload: its first item
	// (the signed header and the sections), then each attachment as a
	// CBOR byte string (a head of at most 9 bytes, then its content).
	MaxPlaintext = MaxPouchHead + MaxAttachments*9 + MaxAttachmentsSize
	// MaxPayloadSize is the largest sealed payload (an age file) of one
	// pouch: the largest age header, age's 16-byte nonce, and the
	// largest plaintext in chunks of 64 KiB, each with a 16-byte tag
	// (PayloadLimit(MaxAttachmentsSize)).
	MaxPayloadSize = MaxAgeHeader + ageNonce + MaxPlaintext + ageTag*(MaxPlaintext/ageChunk+1)
	// MaxPouchFile is the largest .pouch file: its head, the byte-string
	// head of its payload, and the payload.
	MaxPouchFile = MaxPouchHead + 9 + MaxPayloadSize
	// MaxCustody is the most custody records a .pouch file may carry.
	MaxCustody = 64
	// MaxFileRecords is the most directory and call records a .pouch
	// file may carry besides its tag and custody.
	MaxFileRecords = 64
	// MaxProofs is the most proofs a .pouch file may carry: one for each
	// of its records.
	MaxProofs = 1 + MaxCustody + MaxFileRecords
	// MaxProofSize is the largest single proof in a .pouch file.
	MaxProofSize = 16 << 10
	// MaxReasonText is the longest free text a refusal gives with its
	// reason code, in bytes.
	MaxReasonText = 1024
	// MaxPouchHead is the largest first item of a .pouch file (tag,
	// custody, records and proofs) and of a letter payload's plaintext (header and
	// sections).
	MaxPouchHead = MaxLetterText + 4*MaxRecordSize
)

// Limits on evidence bundles (spec/evidence.md#limits).
const (
	// MaxBundleRecords is the most records an evidence bundle may carry:
	// the pouch's events and the records their signatures rest on.
	MaxBundleRecords = 256
	// MaxBundleTimes is the most events an evidence bundle bounds in
	// time, each with a checkpoint before and after it.
	MaxBundleTimes = 128
	// MaxCheckpointSize is the largest signed checkpoint (a note with its
	// cosignatures) an evidence bundle may carry.
	MaxCheckpointSize = 16 << 10
	// MaxBundleSize is the largest evidence bundle.
	MaxBundleSize = 8 << 20
)

// age v1's payload format (age-encryption.org/v1): a 16-byte nonce, then
// the plaintext in chunks of 64 KiB, each sealed with a 16-byte
// ChaCha20-Poly1305 tag; an empty plaintext is one empty chunk.
const (
	ageNonce = 16
	ageChunk = 64 << 10
	ageTag   = 16
)

// PayloadLimit returns the largest payload of a letter whose attachments
// hold at most attachments bytes together (MaxAttachmentsSize at most):
// the payload limit of a deployment that lowers the limit on attachments.
// PayloadLimit(MaxAttachmentsSize) is MaxPayloadSize.
//
// SPEC: spec/letter.md#limits
func PayloadLimit(attachments int64) int64 {
	attachments = max(0, min(attachments, MaxAttachmentsSize))
	pt := int64(MaxPouchHead+MaxAttachments*9) + attachments
	return MaxAgeHeader + ageNonce + pt + ageTag*(pt/ageChunk+1)
}
