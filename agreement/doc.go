// Package agreement implements pouch's multilateral agreements and joint
// statements as pure functions over the records of the log: no I/O, no
// clock. The rules are written down in spec/agreement.md.
//
// # Records
//
// Six record kinds (record.KindAgreement and the five after it) carry the
// bodies Agreement, Sign, Withdraw, Attest, Statement and Cosign. A
// depositary registers an Agreement: a text digest, invited parties (each a
// house and the offices that may sign for it), an entry-into-force rule
// (all parties or n of them), named verifiers and clauses with effective
// and sunset dates or triggers. Parties sign and withdraw; verifiers attest
// a party's compliance with a clause for a period. A Statement is opened
// for co-signature by anyone.
//
// Dates are calendar days, Date ("2015-07-14"); the log's sequencing time
// is authoritative for when each record was made.
//
// # Timelines and status
//
// A Timeline is an agreement's history. Replay builds it from the
// agreement's records in log order (each an Entry: the signed record, its
// log index and sequencing time), checking each action against the state
// so far and against a Directory (keys and authority as of the record's
// log index). Actions the rules refuse are skipped and listed by Rejected,
// so every replay of one log gives one state. A server calls Check before
// it sequences an action, and Apply after.
//
// Status answers, for any day, the parties in force, whether the
// instrument is in force, each clause's state, the latest attestations and
// the attestations expected and missing. History prints the whole story
// for people.
//
// A Roll is a statement's list of co-signatories (ReplayStatement), as of
// any log size (SignatoriesAt).
//
// # Refusals
//
// Every refusal is a *Refusal whose Reason is one of the Err values, for
// errors.Is, with a sentence that names the problem:
//
//	agreement-sign by ir/speaker refused: ir/speaker may not sign for ir: the agreement names ir/president, ir/fm
//
// Package jcpoa holds the reference scenario's agreements and statement.
package agreement
