// Package ledger holds every rule a record must satisfy before the log
// may hold it, composed once and free of I/O: the server runs it before it
// sequences a record, and the verifying client runs the same code when it
// checks what the server shows it.
//
// The rules of a pouch's events besides custody — acceptance (consent),
// refusal, access, and the deployment's non-delivery after a deadline,
// whose reason the rules derive from the pouch's records (NonDeliveryFor)
// — are CheckEvent's; MayFetch says who is given a pouch's payload.
//
// The rules are written down in spec/directory.md, spec/letter.md,
// spec/api.md, spec/line.md, spec/agreement.md and spec/evidence.md.
package ledger
