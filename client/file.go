package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"pouch.dev/api"
	"pouch.dev/directory"
	"pouch.dev/ledger"
	"pouch.dev/letter"
	"pouch.dev/line"
	"pouch.dev/record"
	"pouch.dev/tlog"
)

// A Fetched pouch is a .pouch file's head and payload, built by Fetch from
// what the client proved.
type Fetched struct {
	Head *letter.FileHead
	// Payload is the payload, from Fetch; FetchTo streams it and leaves
	// Payload nil.
	Payload []byte
	// Chain is the pouch's chain of custody as the client proved it.
	Chain *Chain
	// Checkpoint is the checkpoint every proof of the file is against.
	Checkpoint *tlog.Checkpoint
}

// Fetch fetches pouch as me and builds its .pouch file with everything a
// verifier needs to check it offline (spec/letter.md#pouch-file): the
// tag, the custody records, the payload (checked against the tag), and
// the records the tag's and custody's signatures rest on — the genesis,
// the houses, the key history of every office the rules consult, the
// grants stand-ins relied on, the call records cited — each with its
// inclusion proof as a C2SP tlog-proof in the tree of the View's
// checkpoint. The chain is proven first (Chain), and the file is checked
// with VerifyFile before it is returned: what Fetch returns verifies.
//
// A step of the chain that the client could not prove (a private grant it
// may not read) is left unproven in the file too.
//
// SPEC: spec/letter.md#pouch-file
func (c *Client) Fetch(ctx context.Context, me *Identity, pouch record.ID) (*Fetched, error) {
	fd, v, err := c.fetchHead(ctx, me, pouch, true)
	if err != nil {
		return nil, err
	}
	payload, err := c.PayloadFor(ctx, me, fd.Chain.Tag)
	if err != nil {
		return nil, err
	}
	if err := fd.Chain.Tag.Tag.CheckPayload(letter.PayloadDigest(payload), uint64(len(payload))); err != nil {
		return nil, fmt.Errorf("%w: the payload of pouch %s: %w", ErrMismatch, pouch.Short(), err)
	}
	// What Fetch returns verifies: read it back as a verifier would.
	var b bytes.Buffer
	if err := letter.WriteFile(&b, fd.Head, bytes.NewReader(payload), uint64(len(payload))); err != nil {
		return nil, err
	}
	f, err := letter.ReadFile(&b)
	if err != nil {
		return nil, fmt.Errorf("the .pouch file built for pouch %s: %w", pouch.Short(), err)
	}
	defer f.Close()
	if _, err := VerifyFile(f, v.Verifier()); err != nil {
		return nil, fmt.Errorf("the .pouch file built for pouch %s does not verify: %w", pouch.Short(), err)
	}
	fd.Payload = payload
	return fd, nil
}

// FetchTo is Fetch writing the .pouch file to w as it goes: the head,
// checked with VerifyFile, then the payload streamed from the server while
// its SHA-256 is computed, so that a payload of any size passes through a
// few buffers. The payload's digest is known only at its end: if FetchTo
// fails, what it wrote to w must be discarded (write to a temporary file,
// and rename it once FetchTo returns without error).
//
// SPEC: spec/letter.md#pouch-file
func (c *Client) FetchTo(ctx context.Context, me *Identity, pouch record.ID, w io.Writer) (*Fetched, error) {
	fd, v, err := c.fetchHead(ctx, me, pouch, true)
	if err != nil {
		return nil, err
	}
	f, closeBody, err := c.openFetched(ctx, me, fd, w)
	if err != nil {
		return nil, err
	}
	defer closeBody()
	defer f.Close()
	if _, err := VerifyFile(f, v.Verifier()); err != nil {
		return nil, fmt.Errorf("the .pouch file built for pouch %s does not verify: %w", pouch.Short(), err)
	}
	if err := f.Finish(); err != nil {
		return nil, fmt.Errorf("%w: the payload of pouch %s: %w", ErrMismatch, pouch.Short(), err)
	}
	return fd, nil
}

// OpenFetched proves pouch as me as Chain does and opens its payload as a
// stream from the server: the returned File carries the proven tag and
// custody records (no directory records, no proofs) and reads the payload
// as it comes; f.Finish (or letter.OpenPouch) checks it against the proven
// tag. As PayloadFor does, it logs me's access first to a pouch that asks
// for it. Call done once finished with f.
func (c *Client) OpenFetched(ctx context.Context, me *Identity, pouch record.ID) (fd *Fetched, f *letter.File, done func(), err error) {
	if fd, _, err = c.fetchHead(ctx, me, pouch, false); err != nil {
		return nil, nil, nil, err
	}
	f, closeBody, err := c.openFetched(ctx, me, fd, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	return fd, f, func() { f.Close(); closeBody() }, nil
}

// openFetched reads fd's file head and its payload, streamed from the
// server, as a letter.File; every byte read is written to w too, if it is
// not nil.
func (c *Client) openFetched(ctx context.Context, me *Identity, fd *Fetched, w io.Writer) (*letter.File, func(), error) {
	pouch := fd.Chain.Tag.PouchID()
	size := fd.Chain.Tag.Tag.Size
	pre, err := letter.EncodeFileHead(fd.Head, size)
	if err != nil {
		return nil, nil, err
	}
	body, err := c.OpenPayloadFor(ctx, me, fd.Chain.Tag)
	if err != nil {
		return nil, nil, err
	}
	var src io.Reader = io.MultiReader(bytes.NewReader(pre), body)
	if w != nil {
		src = io.TeeReader(src, w)
	}
	f, err := letter.ReadFile(bufio.NewReaderSize(src, 64<<10))
	if err != nil {
		body.Close()
		return nil, nil, fmt.Errorf("the .pouch file built for pouch %s: %w", pouch.Short(), err)
	}
	return f, func() { body.Close() }, nil
}

// fetchHead proves pouch as me (Chain) and builds its .pouch file's head:
// the tag and custody records, and, if withRecords, the records their
// signatures rest on with their proofs. It returns the View the proofs
// are against.
func (c *Client) fetchHead(ctx context.Context, me *Identity, pouch record.ID, withRecords bool) (*Fetched, *View, error) {
	// The View first: it anchors the client on the log its requests are
	// signed for, and holds the directory the file's records come from.
	if _, err := c.currentView(ctx, me); err != nil {
		return nil, nil, err
	}
	ch, err := c.Chain(ctx, me, pouch)
	if err != nil {
		return nil, nil, err
	}
	if !withRecords {
		head := &letter.FileHead{Tag: ch.Tag.Signed.Marshal()}
		for _, st := range ch.Steps {
			head.Custody = append(head.Custody, st.Custody.Signed.Marshal())
		}
		_, cp := ch.View.Checkpoint()
		return &Fetched{Head: head, Chain: ch, Checkpoint: cp}, ch.View, nil
	}
	// The latest View this client holds: proving the chain may have caught
	// it up past ch.View.
	v, err := c.currentView(ctx, me)
	if err != nil {
		return nil, nil, err
	}
	note, cp := v.Checkpoint()
	head := &letter.FileHead{Tag: ch.Tag.Signed.Marshal()}
	type want struct {
		id   record.ID
		kind record.Kind
	}
	wants := []want{{pouch, record.KindTag}}
	for _, st := range ch.Steps {
		head.Custody = append(head.Custody, st.Custody.Signed.Marshal())
		wants = append(wants, want{st.Custody.Signed.ID(), record.KindCustody})
	}
	recs, err := fileRecords(v, ch)
	if err != nil {
		return nil, nil, err
	}
	for _, pr := range recs {
		head.Records = append(head.Records, pr.Signed)
		s, r, err := record.Parse(pr.Signed)
		if err != nil {
			return nil, nil, err
		}
		wants = append(wants, want{s.ID(), r.Kind})
	}
	// The call records cited by the steps the client could check.
	for _, st := range ch.Steps {
		ol := st.Custody.Custody.OverLine
		if ol == nil || st.Unproven != "" {
			continue
		}
		s, r, err := c.fetchRecord(ctx, *ol, me)
		if err != nil {
			return nil, nil, fmt.Errorf("the call record %s of pouch %s: %w", ol.Short(), pouch.Short(), err)
		}
		head.Records = append(head.Records, s.Marshal())
		wants = append(wants, want{*ol, r.Kind})
	}
	if len(head.Records) > record.MaxFileRecords {
		return nil, nil, fmt.Errorf("pouch %s rests on %d directory records, more than a .pouch file carries (%d): %w",
			pouch.Short(), len(head.Records), record.MaxFileRecords, record.ErrTooLarge)
	}
	for _, w := range wants {
		inc, err := c.inclusion(ctx, cp, w.id, w.kind)
		if err != nil {
			return nil, nil, err
		}
		p := &tlog.Proof{Index: inc.Index, Hashes: inc.Proof, Checkpoint: note, Extra: inc.Leaf}
		head.Proofs = append(head.Proofs, p.Marshal())
	}
	return &Fetched{Head: head, Chain: ch, Checkpoint: cp}, v, nil
}

// fileRecords returns the View's records that the chain's signatures rest
// on, in index order: the genesis; the house of every office the rules
// consult (sender, addressee, envoys, custody signers, the parties of the
// grants the stand-ins relied on, and the deployment's evidence office
// for a tag with a deadline); every admit and key-revoke of those offices;
// those grants and their revocations.
func fileRecords(v *View, ch *Chain) ([]provenRecord, error) {
	t := ch.Tag.Tag
	offices := []record.Handle{t.From, t.To}
	offices = append(offices, t.Via...)
	if _, ok := t.Deadline(); ok {
		offices = append(offices, directory.EvidenceHandle)
	}
	var grants []*directory.GrantEntry
	for _, st := range ch.Steps {
		offices = append(offices, st.Custody.Holder())
		if gr := st.Hop.Grant; gr != nil {
			grants = append(grants, gr)
		}
	}
	return directoryRecords(v, offices, grants)
}

// inclusion fetches and checks the inclusion proof of record id of kind
// kind in the tree of cp.
func (c *Client) inclusion(ctx context.Context, cp *tlog.Checkpoint, id record.ID, kind record.Kind) (*api.InclusionProof, error) {
	q := url.Values{"id": {id.String()}, "size": {fmt.Sprint(cp.Size)}}
	var inc api.InclusionProof
	if err := c.do(ctx, "GET", "/v1/log/proof/inclusion?"+q.Encode(), nil, "", nil, &inc); err != nil {
		return nil, fmt.Errorf("proving %s record %s: %w", kind, id.Short(), err)
	}
	l, err := record.ParseLeaf(inc.Leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: the proof of %s record %s: %v", ErrMismatch, kind, id.Short(), err)
	}
	if l.ID != id || l.Kind != kind || inc.Size != cp.Size {
		return nil, fmt.Errorf("%w: asked to prove %s record %s in the tree of %d, the server proved %s record %s in the tree of %d",
			ErrMismatch, kind, id.Short(), cp.Size, l.Kind, l.ID.Short(), inc.Size)
	}
	if err := tlog.VerifyInclusion(cp, inc.Index, inc.Leaf, inc.Proof); err != nil {
		return nil, fmt.Errorf("%s record %s: %w", kind, id.Short(), err)
	}
	return &inc, nil
}

// A VerifiedFile is what VerifyFile proved of a .pouch file.
type VerifiedFile struct {
	// Checkpoint is the verified checkpoint of the file's proofs; nil if
	// the file has none.
	Checkpoint *tlog.Checkpoint
	// Directory is the directory replayed from the file's records.
	Directory *directory.Directory
	// Tag is the tag's place in the log; nil if it has no proof.
	Tag *Proven
	// TagKey reports whether the tag's signing key is proven to hold the
	// sender's office: at the tag's place, or (for a tag without a proof)
	// as of the checkpoint.
	TagKey bool
	Steps  []FileStep
	// Pouch is the rules' view of the pouch after its custody records:
	// who holds it, what it awaits. Nil if the file has no proofs.
	Pouch *ledger.Pouch
	// Notes say what the file could not prove, for people.
	Notes []string
}

// A FileStep is one custody record of a verified file.
type FileStep struct {
	Custody *letter.SignedCustody
	// At is the record's place in the log; nil if it has no proof.
	At  *Proven
	Hop ledger.Hop
	// Key reports whether the signer's key is proven to hold its office:
	// at the record's place, or (without a proof) as of the checkpoint.
	Key bool
	// Unproven, if not empty, says what of the step the file does not
	// prove.
	Unproven string
}

// Proven reports whether every signer's key of the file is proven and
// no step holds anything unproven.
func (vf *VerifiedFile) Proven() bool {
	if !vf.TagKey {
		return false
	}
	for _, s := range vf.Steps {
		if !s.Key || s.Unproven != "" {
			return false
		}
	}
	return true
}

// VerifyFile verifies a .pouch file's proofs and records against the log
// whose checkpoints v verifies, with no network: every proof (the
// checkpoint's signatures and quorum, the leaf's inclusion), then the
// records through the directory's rules at their proven places, the tag
// through the tag's rules and each custody record through the custody
// rule at its place (spec/letter.md#verifying-a-file-against-the-log). f
// is read with letter.ReadFile; its payload is not read here.
//
// A file without proofs proves nothing, and returns a VerifiedFile with
// nothing proven; v may then be nil. A proof that does not verify
// (tlog.ErrBadProof, tlog.ErrBadCheckpoint, tlog.ErrNoQuorum), a record
// naming another log (ErrMismatch) and a proven record the rules refuse
// (ErrRulesBroken) are errors.
//
// SPEC: spec/letter.md#verifying-a-file-against-the-log
func VerifyFile(f *letter.File, v *tlog.Verifier) (*VerifiedFile, error) {
	// Partial: a file carries the records its chain rests on, not the log.
	vf := &VerifiedFile{Directory: directory.New(directory.Config{Partial: true})}
	if len(f.Proofs) == 0 {
		return vf, nil
	}
	if v == nil {
		return nil, errors.New("client: VerifyFile of a file with proofs needs the log's verifier")
	}
	// 1. The proofs, against one checkpoint.
	proven := map[record.ID]*Proven{}
	for id, fp := range f.Proofs {
		cp, err := fp.Verify(v, fp.Extra)
		if err != nil {
			return nil, fmt.Errorf("the proof of %s record %s: %w", fp.Leaf.Kind, id.Short(), err)
		}
		vf.Checkpoint = cp
		proven[id] = &Proven{Leaf: fp.Leaf, Index: fp.Index, Size: cp.Size}
	}
	origin := vf.Checkpoint.Origin
	check := func(what string, r *record.Record) error {
		if r.Origin != "" && r.Origin != origin {
			return fmt.Errorf("%w: the %s names log %s, the file's proofs are from %s", ErrMismatch, what, r.Origin, origin)
		}
		return nil
	}
	if err := check("tag", f.Tag.Record); err != nil {
		return nil, err
	}
	for _, sc := range f.Custody {
		if err := check("custody record "+sc.Signed.ID().Short(), sc.Record); err != nil {
			return nil, err
		}
	}

	vf.Notes = append(vf.Notes, "that no key or grant the file relies on was revoked before its records is the log's word: a file cannot prove what it leaves out (verify against the server to check it)")

	// 2. The records, in index order, through the directory's rules.
	recs := slices.Clone(f.Records)
	slices.SortFunc(recs, func(a, b *record.Signed) int { return cmpIndex(proven[a.ID()].Index, proven[b.ID()].Index) })
	d := vf.Directory
	calls := map[record.ID]*ledger.Cited{}
	for _, s := range recs {
		r, err := s.Open()
		if err != nil {
			return nil, err
		}
		if err := check(string(r.Kind)+" record "+s.ID().Short(), r); err != nil {
			return nil, err
		}
		p := proven[s.ID()]
		if r.Kind == record.KindLine {
			ct := &ledger.Cited{ID: s.ID(), Kind: r.Kind, Pos: p.Pos()}
			ct.Call, _ = line.CheckCall(s, r)
			calls[s.ID()] = ct
			continue
		}
		if err := d.Apply(s, r, p.Pos()); err != nil {
			return nil, fmt.Errorf("%w: the %s record %s at index %d: %w", ErrRulesBroken, r.Kind, s.ID().Short(), p.Index, err)
		}
	}

	// 3. The tag at its place.
	st := f.Tag
	at := proven[st.PouchID()]
	vf.Tag = at
	var p *ledger.Pouch
	if at != nil {
		known := func(record.ID) bool { return true }
		if err := ledger.CheckTag(d, st, at.Pos(), known); err != nil {
			return nil, fmt.Errorf("%w: the tag of pouch %s at index %d: %w", ErrRulesBroken, st.PouchID().Short(), at.Index, err)
		}
		vf.TagKey = true
		if st.Tag.Thread != nil {
			vf.Notes = append(vf.Notes, fmt.Sprintf("that its thread %s is a pouch of the log is not checked offline", st.Tag.Thread.Short()))
		}
		p = ledger.NewPouch(st, at.Pos())
	} else {
		vf.TagKey = keyAsOf(d, st.Tag.From, st.Sender(), vf.Checkpoint.Size)
		p = ledger.NewPouch(st, ledger.Pos{})
		vf.Notes = append(vf.Notes, "the tag has no proof: the log is not shown to hold it")
	}

	// 4. The custody records at their places.
	last := uint64(0)
	if at != nil {
		last = at.Index
	}
	for _, sc := range f.Custody {
		step := FileStep{Custody: sc, At: proven[sc.Signed.ID()]}
		var err error
		if at != nil && step.At != nil {
			if step.At.Index <= last {
				return nil, fmt.Errorf("%w: custody record %s at index %d is out of the chain's order", ErrRulesBroken, sc.Signed.ID().Short(), step.At.Index)
			}
			last = step.At.Index
			err = checkFileStep(d, p, &step, calls)
		} else {
			err = checkUnprovenStep(d, p, &step, vf.Checkpoint.Size)
		}
		if err != nil {
			return nil, err
		}
		pos := ledger.Pos{}
		if step.At != nil {
			pos = step.At.Pos()
		}
		p.Accept(sc.Signed.ID(), pos, step.Hop)
		vf.Steps = append(vf.Steps, step)
	}
	vf.Pouch = p
	return vf, nil
}

// checkFileStep checks a proven custody record at its place, as Chain
// does online.
func checkFileStep(d *directory.Directory, p *ledger.Pouch, step *FileStep, calls map[record.ID]*ledger.Cited) error {
	sc := step.Custody
	var cited *ledger.Cited
	if ol := sc.Custody.OverLine; ol != nil {
		if cited = calls[*ol]; cited == nil {
			step.Unproven = fmt.Sprintf("the hand-over on line %s (the file does not carry its call record)", ol.Short())
			cp := *sc
			cu := *sc.Custody
			cu.OverLine = nil
			cp.Custody = &cu
			sc = &cp
		}
	}
	hop, err := ledger.CheckCustody(d, p, sc, step.At.Pos(), cited)
	if err == nil {
		step.Hop, step.Key = hop, true
		return nil
	}
	var ge *directory.GrantError
	standIn := sc.Custody.OnBehalf != "" && sc.Holder() != sc.Custody.OnBehalf
	if standIn && (errors.Is(err, directory.ErrNotOnRoute) || errors.As(err, &ge)) {
		// A stand-in whose grant the file does not carry (one the fetcher
		// could not read): the route and the key are checked, the
		// standing is not.
		hop, rerr := ledger.CheckRoute(p, sc)
		if rerr != nil {
			return fmt.Errorf("%w: custody record %s: %w", ErrRulesBroken, sc.Signed.ID().Short(), rerr)
		}
		if kerr := d.Check(sc.Signed, sc.Record, step.At.Pos()); kerr != nil {
			return fmt.Errorf("%w: custody record %s: %w", ErrRulesBroken, sc.Signed.ID().Short(), kerr)
		}
		step.Hop, step.Key = hop, true
		if step.Unproven != "" {
			step.Unproven += "; "
		}
		step.Unproven += fmt.Sprintf("%s's standing for %s (the file carries no grant that allows it)", sc.Holder(), sc.Custody.OnBehalf)
		return nil
	}
	return fmt.Errorf("%w: custody record %s at index %d: %w", ErrRulesBroken, sc.Signed.ID().Short(), step.At.Index, err)
}

// checkUnprovenStep checks a custody record without a proof: the route,
// and its signer's key against the offices the file proves as of size.
func checkUnprovenStep(d *directory.Directory, p *ledger.Pouch, step *FileStep, size uint64) error {
	sc := step.Custody
	hop, err := ledger.CheckRoute(p, sc)
	if err != nil {
		return fmt.Errorf("custody record %s: %w", sc.Signed.ID().Short(), err)
	}
	step.Hop = hop
	step.Key = keyAsOf(d, sc.Holder(), sc.Signed.KeyOf(0), size)
	step.Unproven = "the custody record has no proof: the log is not shown to hold it"
	if hop.By != hop.As {
		step.Unproven += fmt.Sprintf(", nor %s's standing for %s", hop.By, hop.As)
	}
	return nil
}

// keyAsOf reports whether key holds h's office in d at index size (as of
// the checkpoint).
func keyAsOf(d *directory.Directory, h record.Handle, key ed25519.PublicKey, size uint64) bool {
	e, err := d.KeyAt(h, size)
	return err == nil && e.Key.Equal(key)
}

// KeptLogKeys returns the verifier keys that the client state in dir
// ($POUCH_HOME/logs, Trust.Dir) holds for the log named origin, with no
// network: the key pinned on first use, and the key of every View kept
// for the origin. A verifier of an offline file uses them when it is given
// neither a policy nor a key.
func KeptLogKeys(dir, origin string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	od := filepath.Join(dir, url.PathEscape(origin))
	var out []string
	if b, err := os.ReadFile(filepath.Join(od, "key")); err == nil {
		out = append(out, strings.TrimSpace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	views, err := filepath.Glob(filepath.Join(od, "*.view"))
	if err != nil {
		return nil, err
	}
	for _, p := range views {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var f viewFile
		if err := viewCBOR.Unmarshal(b, &f); err != nil || f.Origin != origin {
			return nil, fmt.Errorf("the client's state %s: not a View of %s (remove it to start afresh)", p, origin)
		}
		out = append(out, f.LogKey)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
