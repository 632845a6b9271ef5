package agreement

import (
	"slices"

	"pouch.dev/record"
)

// An Alert is an attestation that a clause expects and that has not come
// by its due day (a Missing of the status on that day), with whom it is
// reported to: the depositary, the signers of every party in force, and
// the verifier that owes it. Like the status, it is derived from public
// records: anyone replaying the log computes the same alerts.
//
// SPEC: spec/agreement.md#overdue-alerts
type Alert struct {
	Agreement record.ID `json:"agreement"`
	Name      string    `json:"name"`
	Title     string    `json:"title"`
	Missing
	// Notify lists whom the alert concerns, each with its role:
	// "depositary", "party" (a signer of a party in force) or "verifier"
	// (the one who owes the attestation).
	Notify []Notice `json:"notify"`
}

// A Notice is one principal an alert is reported to, and why.
type Notice struct {
	Handle record.Handle `json:"handle"`
	Role   string        `json:"role"`
}

// Roles of a Notice.
const (
	RoleDepositary = "depositary"
	RoleParty      = "party"
	RoleVerifier   = "verifier"
)

// Alerts returns the overdue attestations of the agreement on day d, each
// with whom it is reported to, in the order of Status(d).Missing.
//
// SPEC: spec/agreement.md#overdue-alerts
func (t *Timeline) Alerts(d Date) []Alert {
	st := t.Status(d)
	if len(st.Missing) == 0 {
		return nil
	}
	var notify []Notice
	add := func(h record.Handle, role string) {
		if !slices.ContainsFunc(notify, func(n Notice) bool { return n.Handle == h }) {
			notify = append(notify, Notice{Handle: h, Role: role})
		}
	}
	add(t.Depositary(), RoleDepositary)
	for _, ps := range st.Parties {
		if ps.State != StateParty {
			continue
		}
		for _, p := range t.body.Parties {
			if p.House == ps.House {
				for _, s := range p.Signers {
					add(s, RoleParty)
				}
			}
		}
	}
	out := make([]Alert, 0, len(st.Missing))
	for _, m := range st.Missing {
		n := slices.Clone(notify)
		if !slices.ContainsFunc(n, func(x Notice) bool { return x.Handle == m.By }) {
			n = append(n, Notice{Handle: m.By, Role: RoleVerifier})
		}
		out = append(out, Alert{Agreement: t.id, Name: t.body.Name, Title: t.body.Title, Missing: m, Notify: n})
	}
	return out
}

// For returns the alerts of as that concern h, with h's role in each.
func For(as []Alert, h record.Handle) []Alert {
	var out []Alert
	for _, a := range as {
		for _, n := range a.Notify {
			if n.Handle == h {
				a.Notify = []Notice{n}
				out = append(out, a)
				break
			}
		}
	}
	return out
}
