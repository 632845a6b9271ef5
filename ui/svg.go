package ui

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/record"
)

// The pictures are drawn here, on the server, as SVG: no script draws
// them, so they show without JavaScript. Each has a title and a
// description for screen readers (role="img"), and every page that shows
// one also lists what it shows as text. Their width follows the page
// (viewBox, width 100%), so they fit a phone's screen.
//
// SPEC: spec/ui.md#pictures

// A State is what a page can say of one proof.
type State string

// The states of a proof.
const (
	// Verified: checked here, by the verifying client on the user's
	// machine (the desk), against the log's checkpoint.
	Verified State = "verified"
	// Unproven: the log cannot prove it to this client (a private grant
	// it may not read); the rest was checked.
	Unproven State = "unproven"
	// Failed: the check failed; the server's answer is not to be
	// believed.
	Failed State = "failed"
	// Claimed: the server says so and nobody here checked it (the
	// explorer draws only claims; the visitor's browser checks them).
	Claimed State = "claimed"
	// Pending: not happened yet (the next hop a pouch awaits).
	Pending State = "pending"
)

// Mark returns the symbol a page shows for s, with words beside it for
// screen readers and people who do not read colours.
func (s State) Mark() string {
	switch s {
	case Verified:
		return "✓"
	case Failed:
		return "✗"
	case Unproven:
		return "?"
	case Pending:
		return "…"
	}
	return "·"
}

// Words says s for people.
func (s State) Words() string {
	switch s {
	case Verified:
		return "verified by your client"
	case Failed:
		return "check failed"
	case Unproven:
		return "not provable to you"
	case Pending:
		return "awaited"
	}
	return "as the server says (not checked here)"
}

// A Hop is one step of a pouch's custody as a timeline draws it.
type Hop struct {
	Who   record.Handle
	For   record.Handle // on whose behalf, if not Who's own
	What  string        // "sealed", "took custody", "delivered", "awaits"
	Time  time.Time     // time of sequencing (the leaf's); zero if pending
	Index uint64        // log index
	State State
	Note  string // what could not be checked, or why it failed
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// CustodySVG draws a pouch's chain of custody from top to bottom: who
// held it, when, on whose behalf, and each hop's proof status.
func CustodySVG(title string, hops []Hop) template.HTML {
	const rowH, top, w = 64, 16, 520
	h := top*2 + rowH*max(len(hops), 1)
	var b strings.Builder
	var desc []string
	for _, hp := range hops {
		desc = append(desc, hopText(hp))
	}
	fmt.Fprintf(&b, `<svg class="timeline custody" role="img" aria-labelledby="ct-t ct-d" viewBox="0 0 %d %d" width="100%%" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<title id="ct-t">%s</title><desc id="ct-d">%s</desc>`, esc(title), esc(strings.Join(desc, "; ")))
	if len(hops) > 1 {
		fmt.Fprintf(&b, `<line x1="20" y1="%d" x2="20" y2="%d" class="spine"/>`, top+12, top+rowH*(len(hops)-1)+12)
	}
	for i, hp := range hops {
		y := top + rowH*i + 12
		cls := "hop hop-" + string(hp.State)
		fmt.Fprintf(&b, `<g class="%s" data-state="%s">`, cls, hp.State)
		fmt.Fprintf(&b, `<circle cx="20" cy="%d" r="11"/><text x="20" y="%d" text-anchor="middle" class="mark">%s</text>`, y, y+5, esc(hp.State.Mark()))
		line1 := string(hp.Who) + " " + hp.What
		if hp.For != "" && hp.For != hp.Who {
			line1 += " for " + string(hp.For)
		}
		fmt.Fprintf(&b, `<text x="40" y="%d" class="who">%s</text>`, y-2, esc(line1))
		line2 := hp.State.Words()
		if !hp.Time.IsZero() {
			line2 = hp.Time.UTC().Format("2006-01-02 15:04:05") + " · #" + fmt.Sprint(hp.Index) + " · " + line2
		}
		fmt.Fprintf(&b, `<text x="40" y="%d" class="when">%s</text>`, y+16, esc(line2))
		if hp.Note != "" {
			fmt.Fprintf(&b, `<text x="40" y="%d" class="note">%s</text>`, y+32, esc(clip(hp.Note, 56)))
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func hopText(hp Hop) string {
	s := string(hp.Who) + " " + hp.What
	if hp.For != "" && hp.For != hp.Who {
		s += " on behalf of " + string(hp.For)
	}
	if !hp.Time.IsZero() {
		s += fmt.Sprintf(" at %s (log index %d)", hp.Time.UTC().Format(time.RFC3339), hp.Index)
	}
	s += ": " + hp.State.Words()
	if hp.Note != "" {
		s += " (" + hp.Note + ")"
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// An Event is one dated line of an agreement's history, as the timeline
// lists it in text beside the picture.
type Event struct {
	Date agreement.Date
	Text string
}

// AgreementPicture is an agreement's timeline: the SVG and the same
// history as text.
type AgreementPicture struct {
	SVG    template.HTML
	Events []Event
}

// AgreementSVG draws an agreement's life from its first signature to
// through: a row per invited party (a bar while it is a party, its
// signature and its withdrawal marked), a row per clause (a bar while it
// is active, with what started and ended it), and a row of attestations
// (each received one a diamond, each missing one a hollow mark).
func AgreementSVG(t *agreement.Timeline, through agreement.Date) AgreementPicture {
	body := t.Agreement()
	var evs []Event
	first, last := through, through
	for _, a := range t.Actions() {
		if d := a.Date(); d != "" && d < first {
			first = d
		}
	}
	for _, c := range body.Clauses {
		s, e, _, _ := t.ClauseLife(c.ID)
		if s != "" && s < first {
			first = s
		}
		if e != "" && e > last && e <= through.AddDays(3660) {
			last = e
		}
	}
	y0, y1 := first.Time().Year(), last.Time().Year()+1
	if y1-y0 > 60 {
		y0 = y1 - 60
	}
	const labelW, w, rowH, top = 110, 640, 34, 30
	span := float64(time.Date(y1, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(y0, 1, 1, 0, 0, 0, 0, time.UTC)))
	x := func(d agreement.Date) float64 {
		if d == "" {
			return w - 8
		}
		f := float64(d.Time().Sub(time.Date(y0, 1, 1, 0, 0, 0, 0, time.UTC))) / span
		f = min(max(f, 0), 1)
		return labelW + f*(w-8-labelW)
	}
	parties := t.Parties()
	rows := len(parties) + len(body.Clauses) + 1
	h := top + rows*rowH + 24
	var b strings.Builder
	id := "ag-" + t.ID().String()[:8]
	open := fmt.Sprintf(`<svg class="timeline agreement" role="img" aria-labelledby="%s-t %s-d" viewBox="0 0 %d %d" width="100%%" xmlns="http://www.w3.org/2000/svg">`, id, id, w, h)
	// Years.
	step := 1
	for (y1-y0)/step > 10 {
		step++
	}
	for y := y0; y <= y1; y += step {
		xx := x(agreement.Date(fmt.Sprintf("%04d-01-01", y)))
		anc := "middle"
		if xx > w-24 {
			anc = "end"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="grid"/><text x="%.1f" y="%d" class="year" text-anchor="%s">%d</text>`,
			xx, top-6, xx, h-20, xx, top-12, anc, y)
	}
	if through.Time().Year() < y1 {
		xx := x(through)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="today"/><text x="%.1f" y="%d" class="today-label" text-anchor="end">%s</text>`,
			xx, top-6, xx, h-20, xx-3, h-8, esc("as of "+string(through)))
	}
	row := 0
	rowY := func() int { return top + row*rowH }
	for _, house := range parties {
		y := rowY()
		fmt.Fprintf(&b, `<g class="party" data-party="%s"><text x="4" y="%d" class="label">%s</text>`, esc(house), y+18, esc(house))
		for _, term := range t.Terms(house) {
			if term.From > through {
				continue
			}
			until := term.Until
			if until == "" || until > through {
				until = through
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="14" class="bar party-bar"/>`, x(term.From), y+6, max(x(until)-x(term.From), 2))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="4" class="sign"><title>%s</title></circle>`, x(term.From), y+13, esc(fmt.Sprintf("%s signs %s (%s)", house, term.From, term.SignedBy)))
			evs = append(evs, Event{term.From, fmt.Sprintf("%s signs (%s)", house, term.SignedBy)})
			if term.Until != "" && term.Until <= through {
				txt := fmt.Sprintf("%s withdraws %s", house, term.Until)
				fmt.Fprintf(&b, `<path d="M%.1f %d l5 7 l-5 7 l-5 -7z" class="withdraw"/><text x="%.1f" y="%d" class="event withdraw-label" text-anchor="%s">%s</text>`,
					x(term.Until), y+6, x(term.Until)+7, y+31, anchor(x(term.Until), w), esc(txt))
				by := term.WithdrawnBy
				evs = append(evs, Event{term.Until, fmt.Sprintf("%s withdraws (%s)", house, by)})
			}
		}
		b.WriteString(`</g>`)
		row++
	}
	for _, c := range body.Clauses {
		y := rowY()
		start, end, startWhy, endWhy := t.ClauseLife(c.ID)
		fmt.Fprintf(&b, `<g class="clause" data-clause="%s"><text x="4" y="%d" class="label">%s</text>`, esc(c.ID), y+18, esc(clip(c.ID, 14)))
		if start != "" && start <= through && (end == "" || start < end) {
			stop := end
			if stop == "" || stop > through {
				stop = through
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="14" class="bar clause-bar"><title>%s</title></rect>`,
				x(start), y+6, max(x(stop)-x(start), 2), esc(fmt.Sprintf("%s active from %s (%s)", c.ID, start, startWhy)))
			evs = append(evs, Event{start, fmt.Sprintf("clause %s (%s) becomes active: %s", c.ID, c.Title, startWhy)})
			if end != "" && end <= through {
				what := "lapses"
				if endWhy == "sunset" {
					what = "sunset: lapses"
				}
				txt := fmt.Sprintf("%s %s %s", c.ID, what, end)
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="lapse"/><text x="%.1f" y="%d" class="event lapse-label" text-anchor="%s">%s</text>`,
					x(end), y+2, x(end), y+24, x(end)+4, y+31, anchor(x(end), w), esc(txt))
				evs = append(evs, Event{end, fmt.Sprintf("clause %s lapses (%s)", c.ID, endWhy)})
			}
		} else {
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="note">%s</text>`, labelW, y+18, esc("not active: "+startWhy))
		}
		b.WriteString(`</g>`)
		row++
	}
	// Attestations.
	y := rowY()
	fmt.Fprintf(&b, `<g class="attestations"><text x="4" y="%d" class="label">attested</text>`, y+18)
	for _, a := range t.Actions() {
		if a.Attest == nil || a.Attest.Date > through {
			continue
		}
		at := a.Attest
		txt := fmt.Sprintf("%s attests that %s complied with %s from %s to %s", a.By, at.Party, at.Clause, at.From, at.To)
		fmt.Fprintf(&b, `<path d="M%.1f %d l6 7 l-6 7 l-6 -7z" class="attest"><title>%s</title></path>`, x(at.Date), y+6, esc(txt))
		evs = append(evs, Event{at.Date, txt})
	}
	for _, m := range t.Status(through).Missing {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="5" class="missing"><title>%s</title></circle>`, x(m.Due), y+13, esc("missing: "+m.String()))
		evs = append(evs, Event{m.Due, "attestation missing: " + m.String()})
	}
	b.WriteString(`</g>`)
	sortEvents(evs)
	var desc []string
	for _, e := range evs {
		desc = append(desc, string(e.Date)+" "+e.Text)
	}
	head := fmt.Sprintf(`<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, esc(body.Title+": timeline through "+string(through)), id, esc(strings.Join(desc, "; ")))
	return AgreementPicture{SVG: template.HTML(open + head + b.String() + `</svg>`), Events: evs}
}

func anchor(x float64, w int) string {
	if x > float64(w)*0.6 {
		return "end"
	}
	return "start"
}

func sortEvents(evs []Event) {
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].Date < evs[j-1].Date; j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
}

// A Point is the log's size at a time.
type Point struct {
	Size uint64
	Time time.Time
}

// GrowthSVG draws the log's size over time, from points in time order.
func GrowthSVG(points []Point) template.HTML {
	const w, h, pad = 640, 200, 36
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="growth" role="img" aria-labelledby="gr-t gr-d" viewBox="0 0 %d %d" width="100%%" xmlns="http://www.w3.org/2000/svg">`, w, h)
	if len(points) == 0 {
		fmt.Fprintf(&b, `<title id="gr-t">The log's growth</title><desc id="gr-d">The log is empty.</desc></svg>`)
		return template.HTML(b.String())
	}
	t0, t1 := points[0].Time, points[len(points)-1].Time
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	maxN := points[len(points)-1].Size
	if maxN == 0 {
		maxN = 1
	}
	px := func(t time.Time) float64 { return pad + float64(t.Sub(t0))/float64(t1.Sub(t0))*(w-2*pad) }
	py := func(n uint64) float64 { return h - pad - float64(n)/float64(maxN)*(h-2*pad) }
	var pts []string
	for _, p := range points {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.Time), py(p.Size)))
	}
	fmt.Fprintf(&b, `<title id="gr-t">The log's growth</title><desc id="gr-d">%s</desc>`,
		esc(fmt.Sprintf("From %d records at %s to %d at %s.", points[0].Size, t0.UTC().Format(time.RFC3339), points[len(points)-1].Size, t1.UTC().Format(time.RFC3339))))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/><line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, pad, h-pad, w-pad, h-pad, pad, pad, pad, h-pad)
	fmt.Fprintf(&b, `<polyline points="%s" class="growth-line"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="year">0</text><text x="%d" y="%d" class="year">%d</text>`, pad-4, h-pad+4, 2, pad+4, maxN)
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="year">%s</text><text x="%d" y="%d" class="year" text-anchor="end">%s</text>`,
		pad, h-10, esc(t0.UTC().Format("2006-01-02 15:04")), w-pad, h-10, esc(t1.UTC().Format("2006-01-02 15:04")))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
