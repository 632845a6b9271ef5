package record

import (
	"fmt"
	"strings"
)

// A Handle names a principal: an office inside a house, "house/name", such
// as "ru/president" or "ir/speaker-aide". Handles are global: the same
// handle means the same office on every pouch deployment.
//
// A house part is 1 to MaxHouseLen characters and an office part 1 to
// MaxOfficeLen characters, each from a-z, 0-9 and '-', starting with a letter
// or digit and not ending with '-'.
//
// SPEC: spec/records.md#handles
type Handle string

// ParseHandle checks that s is a well-formed handle.
func ParseHandle(s string) (Handle, error) {
	house, office, ok := strings.Cut(s, "/")
	if !ok {
		return "", fmt.Errorf("handle %q: want house/office, such as ru/president", s)
	}
	if err := checkLabel(house, MaxHouseLen); err != nil {
		return "", fmt.Errorf("handle %q: house: %v", s, err)
	}
	if err := checkLabel(office, MaxOfficeLen); err != nil {
		return "", fmt.Errorf("handle %q: office: %v", s, err)
	}
	return Handle(s), nil
}

// ParseHouse checks that s is a well-formed house name, such as "ir".
func ParseHouse(s string) (string, error) {
	if err := checkLabel(s, MaxHouseLen); err != nil {
		return "", fmt.Errorf("house %q: %v", s, err)
	}
	return s, nil
}

// House returns the house part of h ("ru" for "ru/president").
func (h Handle) House() string {
	house, _, _ := strings.Cut(string(h), "/")
	return house
}

// Office returns the office part of h ("president" for "ru/president").
func (h Handle) Office() string {
	_, office, _ := strings.Cut(string(h), "/")
	return office
}

func (h Handle) String() string { return string(h) }

// Valid reports whether h is well formed.
func (h Handle) Valid() bool {
	_, err := ParseHandle(string(h))
	return err == nil
}

func checkLabel(s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty")
	case len(s) > max:
		return fmt.Errorf("longer than %d characters", max)
	case s[0] == '-' || s[len(s)-1] == '-':
		return fmt.Errorf("starts or ends with '-'")
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("character %q not allowed (use a-z, 0-9 and '-')", c)
		}
	}
	return nil
}
