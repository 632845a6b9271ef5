package agreement

import (
	"fmt"
	"time"
)

// A Date is a calendar day, written "YYYY-MM-DD" (the proleptic Gregorian
// calendar, years 0001 to 9999, no time zone). Instruments are dated by
// the day, not by the instant, so pouch carries dates as such.
//
// The fixed width of the form makes the text order the calendar order:
// dates compare with <, and the zero Date "" means "no date".
//
// SPEC: spec/agreement.md#dates
type Date string

const dateLayout = "2006-01-02"

// ParseDate checks that s is a valid date in the form YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	if err := Date(s).check(); err != nil {
		return "", err
	}
	return Date(s), nil
}

func (d Date) check() error {
	s := string(d)
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return fmt.Errorf("date %q: want YYYY-MM-DD, such as 2015-07-14", s)
	}
	for i, c := range []byte(s) {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return fmt.Errorf("date %q: want YYYY-MM-DD, such as 2015-07-14", s)
		}
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil || t.Format(dateLayout) != s || s[:4] == "0000" {
		return fmt.Errorf("date %q: no such day", s)
	}
	return nil
}

// Valid reports whether d is a well-formed date.
func (d Date) Valid() bool { return d.check() == nil }

// IsZero reports whether d is the absent date.
func (d Date) IsZero() bool { return d == "" }

func (d Date) String() string { return string(d) }

// Time returns the start of day d in UTC.
func (d Date) Time() time.Time {
	t, _ := time.Parse(dateLayout, string(d))
	return t
}

// AddDays returns the date n days after d (before, if n is negative).
func (d Date) AddDays(n int) Date {
	return DateOf(d.Time().AddDate(0, 0, n))
}

// DateOf returns the UTC calendar day of t.
func DateOf(t time.Time) Date { return Date(t.UTC().Format(dateLayout)) }

// DateOfMillis returns the UTC calendar day of a time in Unix
// milliseconds, the unit of records and of the log's sequencing time.
func DateOfMillis(ms int64) Date { return DateOf(time.UnixMilli(ms)) }

// Before reports whether d is strictly earlier than e.
func (d Date) Before(e Date) bool { return d < e }

func maxDate(a, b Date) Date {
	if a > b {
		return a
	}
	return b
}
