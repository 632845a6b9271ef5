package agreement

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// History writes a person-readable history of the agreement up to and
// including day through: its registration, every signature, withdrawal and
// attestation in date order, its entry into force, each clause's life,
// attestations still missing on that day, the parties over time, and a
// chart of parties and clauses by quarter.
func History(w io.Writer, t *Timeline, through Date) error {
	bw := bufio.NewWriter(w)
	ix := t.index()
	b := t.body
	fmt.Fprintf(bw, "%s (%s)\n", b.Title, b.Name)
	fmt.Fprintf(bw, "  agreement %s, registered by %s at log index %d\n", t.id, t.Depositary(), t.registered.Index)
	fmt.Fprintf(bw, "  text SHA-256 %x\n", b.Text)
	fmt.Fprintf(bw, "  %s\n", t.Rule())
	if len(b.Verifiers) > 0 {
		fmt.Fprintf(bw, "  verifiers: %s\n", handles(b.Verifiers))
	}
	for _, c := range b.Clauses {
		fmt.Fprintf(bw, "  clause %s: %s\n", c.ID, c.Title)
	}

	type event struct {
		date  Date
		order int // within a day
		index uint64
		text  string
	}
	var evs []event
	add := func(d Date, order int, index uint64, format string, a ...any) {
		if d != "" && d <= through {
			evs = append(evs, event{d, order, index, fmt.Sprintf(format, a...)})
		}
	}
	for _, a := range t.actions {
		switch {
		case a.Sign != nil:
			add(a.Sign.Date, 0, a.Index, "%s signs (%s)", a.Sign.Party, a.By)
		case a.Withdraw != nil:
			add(a.Withdraw.Date, 4, a.Index, "%s withdraws (%s, logged at index %d): %d parties remain",
				a.Withdraw.Party, a.By, a.Index, len(t.PartiesAt(a.Withdraw.Date)))
		case a.Attest != nil:
			at := a.Attest
			note := ""
			if at.Note != "" {
				note = " — " + at.Note
			}
			add(at.Date, 3, a.Index, "%s attests that %s complied with %s from %s to %s%s", a.By, at.Party, at.Clause, at.From, at.To, note)
		}
	}
	if ix.entered != "" {
		add(ix.entered, 1, 0, "enters into force with %d parties", len(t.PartiesAt(ix.entered)))
	}
	if ix.ended != "" {
		add(ix.ended, 5, 0, "ceases to be in force: fewer than %d parties remain", ix.keep)
	}
	for i := range b.Clauses {
		c := &b.Clauses[i]
		start, end, startWhy, endWhy := t.life(ix, c)
		if start != "" && (end == "" || start < end) {
			add(start, 2, 0, "clause %s becomes active (%s)", c.ID, startWhy)
			if end != "" {
				add(end, 6, 0, "clause %s lapses (%s)", c.ID, endWhy)
			}
		}
	}
	for _, m := range t.Status(through).Missing {
		add(m.Due, 7, 0, "attestation missing: %s", m)
	}
	slices.SortStableFunc(evs, func(a, b event) int {
		if c := strings.Compare(string(a.date), string(b.date)); c != 0 {
			return c
		}
		if a.order != b.order {
			return a.order - b.order
		}
		return int(a.index) - int(b.index)
	})
	fmt.Fprintf(bw, "\nHistory, through %s\n", through)
	if len(evs) == 0 {
		fmt.Fprintf(bw, "  nothing yet: no party has signed\n")
	}
	for _, e := range evs {
		fmt.Fprintf(bw, "  %s  %s\n", e.date, e.text)
	}

	fmt.Fprintf(bw, "\nParties over time\n")
	var prev []string
	var since Date
	flush := func(until Date) {
		if since == "" {
			return
		}
		span := fmt.Sprintf("%s to %s", since, until)
		if until == "" {
			span = fmt.Sprintf("%s onwards  ", since)
		}
		fmt.Fprintf(bw, "  %-24s  %d  %s\n", span, len(prev), strings.Join(prev, " "))
	}
	for _, s := range ix.steps {
		if s.date > through {
			break
		}
		cur := t.PartiesAt(s.date)
		if slices.Equal(cur, prev) {
			continue
		}
		flush(s.date.AddDays(-1))
		prev, since = cur, s.date
		if len(cur) == 0 {
			since = ""
		}
	}
	flush("")
	if len(ix.steps) == 0 {
		fmt.Fprintf(bw, "  none: not signed by any party (%s)\n", t.Rule())
	}

	if len(ix.steps) > 0 {
		chart(bw, t, ix.steps[0].date, through)
	}
	if st := t.Status(through); len(st.Missing) > 0 || !st.InForce {
		fmt.Fprintf(bw, "\nOn %s: ", through)
		if st.InForce {
			fmt.Fprintf(bw, "in force with %d parties", st.PartiesInForce)
		} else {
			fmt.Fprintf(bw, "not in force")
		}
		fmt.Fprintf(bw, "; %d attestation(s) missing\n", len(st.Missing))
	}
	return bw.Flush()
}

// chart draws one row per party and per clause, one column per quarter
// from the year of first to the year of through: '█' in force (active) all
// quarter, '▌' for part of it, '·' not at all. The quarter is sampled on
// its first, middle and last days.
func chart(w io.Writer, t *Timeline, first, through Date) {
	y0, y1 := first.Time().Year(), through.Time().Year()
	if y1 < y0 || y1-y0 > 40 {
		return
	}
	width := 10
	for _, p := range t.order {
		width = max(width, len(p.House))
	}
	for _, c := range t.body.Clauses {
		width = max(width, len(c.ID))
	}
	head := fmt.Sprintf("  %-*s  ", width, "")
	for y := y0; y <= y1; y++ {
		head += fmt.Sprintf("%-5d", y)
	}
	fmt.Fprintf(w, "\nBy quarter\n%s\n", strings.TrimRight(head, " "))
	type quarter struct{ start, end Date }
	var qs []quarter
	for y := y0; y <= y1; y++ {
		for q := 0; q < 4; q++ {
			s := Date(fmt.Sprintf("%04d-%02d-01", y, 3*q+1))
			e := Date(fmt.Sprintf("%04d-%02d-01", y, 3*q+4))
			if q == 3 {
				e = Date(fmt.Sprintf("%04d-01-01", y+1))
			}
			qs = append(qs, quarter{s, e.AddDays(-1)})
		}
	}
	row := func(label string, on func(Date) bool) {
		var sb strings.Builder
		for i, q := range qs {
			if q.start > through {
				break
			}
			if i > 0 && i%4 == 0 {
				sb.WriteByte(' ')
			}
			a, b, m := on(q.start), on(q.end), on(q.start.AddDays(45))
			switch {
			case a && b && m:
				sb.WriteString("█")
			case a || b || m:
				sb.WriteString("▌")
			default:
				sb.WriteString("·")
			}
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, label, sb.String())
	}
	for _, p := range t.order {
		row(p.House, func(d Date) bool { return termAt(p, d) != nil })
	}
	for i := range t.body.Clauses {
		c := &t.body.Clauses[i]
		start, end, _, _ := t.life(t.index(), c)
		row(c.ID, func(d Date) bool { return start != "" && start <= d && (end == "" || d < end) })
	}
}

// WriteRoll writes a person-readable account of a statement and its
// signatories: the count, and the first n of them (all if n < 0).
func WriteRoll(w io.Writer, r *Roll, n int) error {
	bw := bufio.NewWriter(w)
	b := r.body
	fmt.Fprintf(bw, "%s\n", b.Title)
	fmt.Fprintf(bw, "  statement %s, opened by %s on %s at log index %d\n", r.id, r.Opener(), b.Opened, r.opened.Index)
	fmt.Fprintf(bw, "  text SHA-256 %x\n", b.Text)
	if b.Closes != "" {
		fmt.Fprintf(bw, "  open for co-signature through %s\n", b.Closes)
	}
	fmt.Fprintf(bw, "  %d co-signatures, each verified against its signer's key in the directory\n", len(r.sigs))
	if len(r.rejected) > 0 {
		fmt.Fprintf(bw, "  %d co-signature(s) in the log refused by the rules\n", len(r.rejected))
	}
	for i, s := range r.sigs {
		if n >= 0 && i >= n {
			fmt.Fprintf(bw, "    … and %d more\n", len(r.sigs)-n)
			break
		}
		fmt.Fprintf(bw, "    %-28s record %s, log index %d\n", s.By, s.ID.Short(), s.Index)
	}
	return bw.Flush()
}
