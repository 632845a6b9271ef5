// Package ledger holds every rule a record must satisfy before the log
// may hold it, composed once and free of I/O: the server runs it before it
// sequences a record, and the verifying client runs the same code when it
// checks what the server shows it.
//
// The rules are written down in spec/directory.md, spec/letter.md,
// spec/api.md, spec/line.md and spec/agreement.md.
package ledger
