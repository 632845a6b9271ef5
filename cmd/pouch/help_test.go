package main

import (
	"regexp"
	"strings"
	"testing"
)

// castRE matches an office of the reference scenario's cast.
var castRE = regexp.MustCompile(`\b(ir|ru|us|uk|fr|cn|de|eu|iaea|experts)/[a-z][a-z0-9-]*|Iran|Russia|Leader|President|Speaker|IAEA|JCPOA|experts|Duma|Ambassador`)

// TestHelp checks every verb's help, and every subcommand's: "pouch VERB
// --help", "pouch help VERB" and "pouch VERB SUB --help" exit 0 and show
// the usage, the flags and an example from the reference scenario; "pouch
// VERB --help" of a verb with subcommands shows every subcommand's flags.
func TestHelp(t *testing.T) {
	env := map[string]string{}
	for _, v := range allVerbs() {
		args := append(strings.Fields(v.name), "--help")
		out, errs, code := offRun(t, env, args...)
		if code != 0 || errs != "" {
			t.Errorf("pouch %s: exit %d\n%s", strings.Join(args, " "), code, errs)
			continue
		}
		flags := "\nFlags:\n"
		if len(v.subs) > 0 {
			flags = "\nFlags of pouch " + v.name + ":\n"
		}
		for _, want := range []string{"Usage: pouch " + v.name + " ", flags, "Example", "  pouch "} {
			if !strings.Contains(out, want) {
				t.Errorf("pouch %s shows no %q:\n%s", strings.Join(args, " "), want, out)
			}
		}
		// The example is from the scenario: it names one of its offices,
		// or is the demo's own command.
		if !castRE.MatchString(out) && !strings.Contains(out, "pouch demo") && !strings.Contains(out, "pouch bench") {
			t.Errorf("pouch %s: the example names no office of the scenario:\n%s", v.name, out)
		}
		if help, _, _ := offRun(t, env, append([]string{"help"}, strings.Fields(v.name)...)...); help != out {
			t.Errorf("pouch help %s differs from pouch %s --help", v.name, v.name)
		}
	}
	for _, v := range verbs {
		if len(v.subs) == 0 {
			continue
		}
		for _, h := range []string{"--help", "-h", "help"} {
			out, errs, code := offRun(t, env, v.name, h)
			if code != 0 || errs != "" {
				t.Errorf("pouch %s %s: exit %d\n%s", v.name, h, code, errs)
			}
			for _, s := range v.subs {
				if !strings.Contains(out, "pouch "+s.name+" ") || !strings.Contains(out, "Flags of pouch "+s.name+":") {
					t.Errorf("pouch %s %s does not show %s and its flags:\n%s", v.name, h, s.name, out)
				}
			}
		}
		// Without a subcommand: a usage error naming them.
		if v.run == nil {
			_, errs, code := offRun(t, env, v.name)
			if code != 2 || !strings.Contains(errs, "want a subcommand: ") || !strings.Contains(errs, `hint: run "pouch `+v.name+` --help"`) {
				t.Errorf("pouch %s: exit %d\n%s", v.name, code, errs)
			}
		}
	}
	// verify's help shows its online form and the flags it needs.
	out, _, _ := offRun(t, env, "verify", "--help")
	for _, want := range []string{"| ID", "-as HANDLE", "-server URL", "-log-key KEY", "-policy FILE", "pouch verify --as ir/leader "} {
		if !strings.Contains(out, want) {
			t.Errorf("pouch verify --help shows no %q:\n%s", want, out)
		}
	}
}
