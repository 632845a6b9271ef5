package agreement

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"pouch.dev/record"
)

// The status of an agreement at a date is derived from its timeline. The
// timeline keeps an index, rebuilt after any change, so that a status
// query costs a binary search per party, clause and attestation series
// rather than a replay.
//
// SPEC: spec/agreement.md#status

// A Status is an agreement's state on one day, as its log says.
type Status struct {
	Agreement      record.ID           `json:"agreement"`
	Name           string              `json:"name"`
	Title          string              `json:"title"`
	Depositary     record.Handle       `json:"depositary"`
	At             Date                `json:"at"`
	InForce        bool                `json:"in_force"`
	Entered        Date                `json:"entered,omitempty"` // the day it entered into force, if on or before At
	Ended          Date                `json:"ended,omitempty"`   // the day it ceased to be in force, if on or before At
	Rule           string              `json:"rule"`
	PartiesInForce int                 `json:"parties_in_force"`
	Parties        []PartyStatus       `json:"parties"`
	Clauses        []ClauseStatus      `json:"clauses"`
	Attestations   []AttestationStatus `json:"attestations"`
	Missing        []Missing           `json:"missing"`
	KnownAt        uint64              `json:"known_at"` // the log size this status is derived from
	Rejected       int                 `json:"rejected"` // actions in the log that the rules refused
}

// Party states.
const (
	StateInvited   = "invited"   // not (yet) signed on that day
	StateParty     = "party"     // bound on that day
	StateWithdrawn = "withdrawn" // was bound, is no longer
)

// A PartyStatus is one invited house on the status day.
type PartyStatus struct {
	House string        `json:"house"`
	State string        `json:"state"`
	Since Date          `json:"since,omitempty"` // day of signature (party) or effective withdrawal (withdrawn)
	Until Date          `json:"until,omitempty"` // for a party, the effective day of a withdrawal to come
	By    record.Handle `json:"by,omitempty"`    // who signed (party) or withdrew (withdrawn)
}

// Clause states.
const (
	ClausePending = "pending" // not active yet
	ClauseActive  = "active"
	ClauseLapsed  = "lapsed"
)

// A ClauseStatus is one clause on the status day.
type ClauseStatus struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Active bool   `json:"active"`
	State  string `json:"state"`
	Since  Date   `json:"since,omitempty"` // active since, or lapsed since
	Until  Date   `json:"until,omitempty"` // for an active clause, its known last day + 1
	Reason string `json:"reason"`
}

// An AttestationStatus is the latest attestation, on or before the status
// day, by one verifier of one party on one clause.
type AttestationStatus struct {
	By     record.Handle `json:"by"`
	Party  string        `json:"party"`
	Clause string        `json:"clause"`
	From   Date          `json:"from"`
	To     Date          `json:"to"`
	Date   Date          `json:"date"`
	Note   string        `json:"note,omitempty"`
	ID     record.ID     `json:"id"`
	Index  uint64        `json:"index"`
}

// A Missing is an attestation that a clause expects and that did not come:
// nothing covers the time up to Every days before the status day.
type Missing struct {
	By      record.Handle `json:"by"`
	Party   string        `json:"party"`
	Clause  string        `json:"clause"`
	Covered Date          `json:"covered,omitempty"` // the end of the last period attested, if any
	Due     Date          `json:"due"`               // the day it became overdue
}

func (m Missing) String() string {
	last := "none so far"
	if m.Covered != "" {
		last = "last covered up to " + string(m.Covered)
	}
	return fmt.Sprintf("%s has not attested %s's compliance with %s since it fell due on %s (%s)", m.By, m.Party, m.Clause, m.Due, last)
}

type attKey struct {
	by     record.Handle
	party  string
	clause string
}

type series struct {
	key   attKey
	acts  []*Action // by (date, index)
	maxTo []Date    // maxTo[i] = max To of acts[:i+1]
}

// at returns the position of the last action dated on or before d, or -1.
func (s *series) at(d Date) int {
	return sort.Search(len(s.acts), func(i int) bool { return s.acts[i].Attest.Date > d }) - 1
}

type step struct {
	date  Date
	count int // parties in force from date on
}

type index struct {
	steps   []step
	entered Date // "" if never
	ended   Date // "" if not (yet) ended
	fired   map[Trigger]Date
	series  []*series // sorted by compareSeries
	byKey   map[attKey]*series
	need    int
	keep    int

	clauseOrder map[string]int
	partyOrder  map[string]int
}

// Need returns the number of parties whose signatures bring the agreement
// into force, and Keep the number that keep it in force.
func (t *Timeline) need() (need, keep int) {
	n := len(t.order)
	need = int(t.body.Force.Need)
	if need == 0 {
		need = n
	}
	keep = int(t.body.Force.Keep)
	if keep == 0 {
		keep = min(2, n, need)
	}
	return need, keep
}

func (t *Timeline) index() *index {
	if t.ix != nil {
		return t.ix
	}
	ix := &index{fired: map[Trigger]Date{}, byKey: map[attKey]*series{},
		clauseOrder: map[string]int{}, partyOrder: map[string]int{}}
	ix.need, ix.keep = t.need()
	for i, c := range t.body.Clauses {
		ix.clauseOrder[c.ID] = i
	}
	for i, p := range t.order {
		ix.partyOrder[p.House] = i
	}
	ix.membership(t)
	for _, a := range t.actions {
		if a.Attest != nil {
			ix.attest(a)
		}
	}
	t.ix = ix
	return ix
}

// update keeps the index current after action a is applied: a change of
// membership recomputes the step function (a few hundred terms at most);
// an attestation is inserted into its series, usually at the end.
func (ix *index) update(t *Timeline, a *Action) {
	if a.Attest != nil {
		ix.attest(a)
	} else {
		ix.membership(t)
	}
}

// membership computes the step function of the number of parties in
// force, and the days the agreement entered into and ceased to be in force.
//
// SPEC: spec/agreement.md#force
func (ix *index) membership(t *Timeline) {
	type delta struct {
		date Date
		d    int
	}
	var ds []delta
	for _, p := range t.order {
		for _, tm := range p.terms {
			ds = append(ds, delta{tm.From, +1})
			if tm.Until != "" {
				ds = append(ds, delta{tm.Until, -1})
			}
		}
	}
	slices.SortFunc(ds, func(a, b delta) int { return strings.Compare(string(a.date), string(b.date)) })
	ix.steps, ix.entered, ix.ended = ix.steps[:0], "", ""
	count := 0
	for i, d := range ds {
		count += d.d
		if i+1 < len(ds) && ds[i+1].date == d.date {
			continue
		}
		ix.steps = append(ix.steps, step{d.date, count})
	}
	for _, s := range ix.steps {
		if ix.entered == "" {
			if s.count >= ix.need {
				ix.entered = s.date
			}
		} else if s.count < ix.keep {
			ix.ended = s.date
			break
		}
	}
}

// attest adds attestation a to its series, kept sorted by date and then
// log order, with its running maximum of the period's end, and to the
// triggers it fires.
func (ix *index) attest(a *Action) {
	k := attKey{a.By, a.Attest.Party, a.Attest.Clause}
	s := ix.byKey[k]
	if s == nil {
		s = &series{key: k}
		ix.byKey[k] = s
		i, _ := slices.BinarySearchFunc(ix.series, s, ix.compareSeries)
		ix.series = slices.Insert(ix.series, i, s)
	}
	// Actions arrive in log order: the new one goes after every action
	// dated on or before its date.
	i := len(s.acts)
	for i > 0 && s.acts[i-1].Attest.Date > a.Attest.Date {
		i--
	}
	s.acts = slices.Insert(s.acts, i, a)
	s.maxTo = slices.Insert(s.maxTo, i, "")
	for j := i; j < len(s.acts); j++ {
		m := s.acts[j].Attest.To
		if j > 0 {
			m = maxDate(m, s.maxTo[j-1])
		}
		s.maxTo[j] = m
	}
	tr := Trigger{By: a.By, Of: a.Attest.Party, Clause: a.Attest.Clause}
	if d, ok := ix.fired[tr]; !ok || a.Attest.Date < d {
		ix.fired[tr] = a.Attest.Date
	}
}

// compareSeries orders series by clause, then party (in the agreement's
// order), then verifier.
func (ix *index) compareSeries(a, b *series) int {
	if c := ix.clauseOrder[a.key.clause] - ix.clauseOrder[b.key.clause]; c != 0 {
		return c
	}
	if c := ix.partyOrder[a.key.party] - ix.partyOrder[b.key.party]; c != 0 {
		return c
	}
	return strings.Compare(string(a.key.by), string(b.key.by))
}

// inForce reports whether the agreement is in force on d.
func (ix *index) inForce(d Date) bool {
	return ix.entered != "" && ix.entered <= d && (ix.ended == "" || d < ix.ended)
}

// life returns the days a clause is active, [start, end): start is "" if
// it has not started (or cannot, yet), end "" if no end is known. why
// explains the start or end that bounds it.
func (t *Timeline) life(ix *index, c *Clause) (start, end Date, startWhy, endWhy string) {
	start = ix.entered
	startWhy = "the agreement entered into force"
	if start == "" {
		startWhy = "the agreement is not in force"
	} else {
		if c.From > start {
			start, startWhy = c.From, "effective date"
		}
		if c.StartOn != nil {
			if f, ok := ix.fired[*c.StartOn]; !ok {
				start, startWhy = "", "waits for "+c.StartOn.String()
			} else if f > start {
				start, startWhy = f, c.StartOn.String()
			}
		}
	}
	try := func(d Date, why string) {
		if d != "" && (end == "" || d < end) {
			end, endWhy = d, why
		}
	}
	try(ix.ended, "the agreement ceased to be in force")
	try(c.Until, "sunset")
	if c.EndOn != nil {
		if f, ok := ix.fired[*c.EndOn]; ok {
			try(f, c.EndOn.String())
		}
	}
	return start, end, startWhy, endWhy
}

// Rule describes the entry-into-force rule for people.
func (t *Timeline) Rule() string {
	need, keep := t.need()
	n := len(t.order)
	if need == n {
		return fmt.Sprintf("in force once all %d parties have signed, while at least %d remain", n, keep)
	}
	return fmt.Sprintf("in force once %d of %d parties have signed, while at least %d remain", need, n, keep)
}

// InForce reports whether the agreement is in force on d.
func (t *Timeline) InForce(d Date) bool { return t.index().inForce(d) }

// PartiesAt returns the houses that are parties on d, in the agreement's
// order.
func (t *Timeline) PartiesAt(d Date) []string {
	var hs []string
	for _, p := range t.order {
		if termAt(p, d) != nil {
			hs = append(hs, p.House)
		}
	}
	return hs
}

func termAt(p *party, d Date) *Term {
	for i := len(p.terms) - 1; i >= 0; i-- {
		if p.terms[i].Covers(d) {
			return p.terms[i]
		}
	}
	return nil
}

// Status returns the agreement's status on day d, derived from every
// action in the timeline.
//
// SPEC: spec/agreement.md#status
func (t *Timeline) Status(d Date) *Status {
	ix := t.index()
	st := &Status{
		Agreement: t.id, Name: t.body.Name, Title: t.body.Title, Depositary: t.Depositary(),
		At: d, InForce: ix.inForce(d), Rule: t.Rule(),
		KnownAt: t.next, Rejected: len(t.rejected),
		Parties:      make([]PartyStatus, 0, len(t.order)),
		Clauses:      make([]ClauseStatus, 0, len(t.body.Clauses)),
		Attestations: []AttestationStatus{},
		Missing:      []Missing{},
	}
	if ix.entered != "" && ix.entered <= d {
		st.Entered = ix.entered
	}
	if ix.ended != "" && ix.ended <= d {
		st.Ended = ix.ended
	}
	current := make(map[string]*Term, len(t.order))
	for _, p := range t.order {
		ps := PartyStatus{House: p.House, State: StateInvited}
		if tm := termAt(p, d); tm != nil {
			ps.State, ps.Since, ps.Until, ps.By = StateParty, tm.From, tm.Until, tm.SignedBy
			current[p.House] = tm
			st.PartiesInForce++
		} else {
			for i := len(p.terms) - 1; i >= 0; i-- {
				if tm := p.terms[i]; tm.Until != "" && tm.Until <= d {
					ps.State, ps.Since, ps.By = StateWithdrawn, tm.Until, tm.WithdrawnBy
					break
				}
			}
		}
		st.Parties = append(st.Parties, ps)
	}
	active := map[string]Date{} // clause id -> start
	for i := range t.body.Clauses {
		c := &t.body.Clauses[i]
		cs := ClauseStatus{ID: c.ID, Title: c.Title}
		start, end, startWhy, endWhy := t.life(ix, c)
		switch {
		case end != "" && end <= d:
			cs.State, cs.Since = ClauseLapsed, end
			cs.Reason = "lapsed on " + string(end) + ": " + endWhy
			if start == "" || start >= end {
				cs.Reason += " (it was never active)"
			}
		case start == "" || d < start:
			cs.State = ClausePending
			if start == "" {
				cs.Reason = startWhy
			} else {
				cs.Reason = "active from " + string(start) + " (" + startWhy + ")"
			}
		default:
			cs.State, cs.Active, cs.Since, cs.Until = ClauseActive, true, start, end
			cs.Reason = "active since " + string(start) + " (" + startWhy + ")"
			if end != "" {
				cs.Reason += "; lapses on " + string(end) + " (" + endWhy + ")"
			}
			active[c.ID] = start
		}
		st.Clauses = append(st.Clauses, cs)
	}
	for _, s := range ix.series {
		i := s.at(d)
		if i < 0 {
			continue
		}
		a := s.acts[i]
		st.Attestations = append(st.Attestations, AttestationStatus{
			By: a.By, Party: a.Attest.Party, Clause: a.Attest.Clause,
			From: a.Attest.From, To: a.Attest.To, Date: a.Attest.Date, Note: a.Attest.Note,
			ID: a.ID, Index: a.Index,
		})
	}
	// SPEC: spec/agreement.md#missing
	for i := range t.body.Clauses {
		c := &t.body.Clauses[i]
		start, ok := active[c.ID]
		if !ok || c.Attest == nil {
			continue
		}
		of := c.Attest.Of
		if len(of) == 0 {
			of = make([]string, len(t.order))
			for i, p := range t.order {
				of[i] = p.House
			}
		}
		every := int(c.Attest.Every)
		for _, house := range of {
			tm := current[house]
			if tm == nil {
				continue
			}
			from := maxDate(start, tm.From)
			for _, v := range c.Attest.By {
				var covered Date
				if s := ix.byKey[attKey{v, house, c.ID}]; s != nil {
					if j := s.at(d); j >= 0 {
						covered = s.maxTo[j]
					}
				}
				due := maxDate(covered, from).AddDays(every)
				if d >= due {
					st.Missing = append(st.Missing, Missing{By: v, Party: house, Clause: c.ID, Covered: covered, Due: due})
				}
			}
		}
	}
	return st
}

// ClauseLife returns when clause id is active, as the log says so far:
// from start (empty if it never became active) to end (the first day it
// is no longer active; empty if it has not lapsed), and why each.
func (t *Timeline) ClauseLife(id string) (start, end Date, startWhy, endWhy string) {
	c, ok := t.clauses[id]
	if !ok {
		return "", "", "no such clause", ""
	}
	return t.life(t.index(), c)
}

// Parties returns the invited houses, in the agreement's order, with
// their terms.
func (t *Timeline) Parties() []string {
	hs := make([]string, 0, len(t.order))
	for _, p := range t.order {
		hs = append(hs, p.House)
	}
	return hs
}
