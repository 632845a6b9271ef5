// Package spec holds pouch's specifications, as Markdown documents in this
// folder (start at README.md). It has no code: its tests check that every
// reference to a specification or a design note in the repository — a "// SPEC:
// spec/FILE.md#anchor" comment in code, a link in a document — names a
// document and a heading that exist.
package spec
