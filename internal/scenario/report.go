package scenario

import (
	"fmt"
	"io"
	"strings"

	"pouch.dev/api"
)

// A Report prints the timeline of a world for a person and counts the
// checks made. It is the one place that formats the demo's output.
type Report struct {
	W       io.Writer
	Verbose bool
	// Checks counts passed checks; Failures failed ones.
	Checks, Failures int
}

// Scene starts a scene.
func (r *Report) Scene(n int, title, source, proves string) {
	if n >= 1 && n < 90 {
		fmt.Fprintf(r.W, "\n== Scene %d: %s", n, title)
	} else {
		fmt.Fprintf(r.W, "\n== %s", title)
	}
	if source != "" {
		fmt.Fprintf(r.W, "  (%s)", source)
	}
	fmt.Fprintln(r.W)
	if proves != "" {
		fmt.Fprintf(r.W, "   proves: %s\n", proves)
	}
	fmt.Fprintln(r.W)
}

// Note prints a remark about the scene.
func (r *Report) Note(format string, a ...any) {
	fmt.Fprintf(r.W, "   %s\n", fmt.Sprintf(format, a...))
}

// Step prints an action by who and, if a is not nil, where the log put
// the record.
func (r *Report) Step(who, what string, a *api.Accepted) {
	line := fmt.Sprintf("  %-18s %s", who, what)
	if a != nil {
		line = fmt.Sprintf("%-78s [log #%d]", line, a.Index)
	}
	fmt.Fprintln(r.W, line)
}

// Detail prints a detail of the last step, if verbose.
func (r *Report) Detail(format string, a ...any) {
	if r.Verbose {
		fmt.Fprintf(r.W, "  %-18s   · %s\n", "", fmt.Sprintf(format, a...))
	}
}

// Info prints a detail of the last step, always.
func (r *Report) Info(format string, a ...any) {
	fmt.Fprintf(r.W, "  %-18s   · %s\n", "", fmt.Sprintf(format, a...))
}

// Pass records a passed check.
func (r *Report) Pass(format string, a ...any) {
	r.Checks++
	fmt.Fprintf(r.W, "  %-18s   ✓ %s\n", "", fmt.Sprintf(format, a...))
}

// Fail records a failed check and returns it as an error.
func (r *Report) Fail(format string, a ...any) error {
	r.Failures++
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintf(r.W, "  %-18s   ✗ %s\n", "", msg)
	return fmt.Errorf("%s", msg)
}

// Refused records an action that had to be refused, and was.
func (r *Report) Refused(who, what string, err error) {
	r.Checks++
	fmt.Fprintf(r.W, "  %-18s   ✓ %s %s: refused: %s\n", "", who, what, firstLine(err.Error()))
}

// Summary prints the closing line.
func (r *Report) Summary() {
	fmt.Fprintln(r.W)
	if r.Failures == 0 {
		fmt.Fprintf(r.W, "All %d checks passed.\n", r.Checks)
	} else {
		fmt.Fprintf(r.W, "%d of %d checks FAILED.\n", r.Failures, r.Checks+r.Failures)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
