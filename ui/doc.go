// Package ui is pouch's web interface: the desk of `pouch ui`, a local UI
// for the principals of the user's home, and the public explorer that
// `pouch serve` serves at /.
//
// # The desk
//
// A Desk serves one user on 127.0.0.1. Its pages are the inbox (live),
// letters with their threads and custody timelines, composing with the
// list of who will be able to open the letter, custody and delivery,
// disclosures, grants, and the export of a .pouch file. Everything it
// shows as verified was checked by the verifying client (package client)
// in the desk's process; the keys stay in the agent, or encrypted in the
// home and decrypted into memory with the passphrase (Keyring). Nothing
// is signed before the user has seen exactly what will be, and confirmed.
//
// Nothing but the user's browser may drive it: the secret printed at
// start (LoginURL) is exchanged once for an HttpOnly, SameSite=Strict
// cookie; a request naming another Host (DNS rebinding) or coming from
// another origin is refused; every answer carries Referrer-Policy:
// no-referrer and a Content-Security-Policy allowing nothing from
// elsewhere.
//
// # The explorer
//
// An Explorer shows a log to anyone: checkpoints and their cosignatures,
// the log's growth, the directory and each office's key history,
// published records with their inclusion proofs, agreements and
// statements. It computes no tick: a script in the visitor's browser
// (assets/verify.js) checks checkpoints and proofs against a log key or
// a witness policy the visitor gave, with the browser's WebCrypto.
//
// # Pictures
//
// CustodySVG, AgreementSVG and GrowthSVG draw on the server, in SVG: a
// pouch's chain of custody, an agreement's life (parties joining and
// withdrawing, clauses active and lapsing, attestations), the log's size
// over time. Pages work without JavaScript, except for the live inbox
// and the in-browser checks.
//
// The pages, the style sheet and the scripts are embedded in the binary;
// no page asks anything of any other host. The rules are in spec/ui.md.
package ui
