package ui_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"pouch.dev/agreement"
	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/letter"
	"pouch.dev/record"
	"pouch.dev/tlog"
	"pouch.dev/ui"
)

// The desk's guard, over real HTTP on 127.0.0.1: the secret, the cookie,
// the Host header, other origins, and a signature only after a
// confirmation.
func TestDeskGuard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := scenario.Play(ctx, w, 1); err != nil {
		t.Fatal(err)
	}
	desk := startDesk(t, w, w.URL)
	login, _ := url.Parse(desk.LoginURL())
	base := "http://" + login.Host
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	plain := &http.Client{CheckRedirect: noRedirect}

	get := func(c *http.Client, u string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if h := hdr["Host"]; h != "" {
			req.Host = h
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	// No cookie: refused, with the headers set all the same.
	resp := get(plain, base+"/", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the session cookie: %s, want 401", resp.Status)
	}
	if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("the desk allows cross-origin reads: %q", got)
	}
	// A wrong token: no cookie.
	resp = get(plain, base+"/login?token=not-the-secret", nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong token got %s and cookies %v", resp.Status, resp.Cookies())
	}
	// The right one: an HttpOnly, SameSite=Strict cookie, and the
	// browser sent on without the secret.
	resp = get(plain, desk.LoginURL(), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	cs := resp.Cookies()
	if len(cs) != 1 || cs[0].Name != ui.CookieName || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login set cookies %+v", cs)
	}
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(login, cs)
	me := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	if resp := get(me, base+"/?as=ru/president", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("with the cookie: %s", resp.Status)
	}
	// DNS rebinding: the same address under another name.
	_, port, _ := strings.Cut(login.Host, ":")
	for _, host := range []string{"attacker.example:" + port, "127.0.0.1.nip.io:" + port} {
		if resp := get(me, base+"/", map[string]string{"Host": host}); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %s, want 421", host, resp.Status)
		}
	}
	// Another site's page.
	if resp := get(me, base+"/", map[string]string{"Origin": "http://attacker.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("Origin of another site: %s, want 403", resp.Status)
	}
	if resp := get(me, base+"/", map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("Sec-Fetch-Site cross-site: %s, want 403", resp.Status)
	}

	post := func(path string, form url.Values, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := me.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, b.String()
	}
	size := func() uint64 {
		v, err := w.Client.View(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v.Size()
	}
	grant := url.Values{"as": {"ru/president"}, "to": {"ru/fm"}, "ability": {"receive"}, "days": {"7"}}
	// A POST with neither Origin nor Sec-Fetch-Site (not from a page of
	// the desk's) is refused.
	if resp, _ := post("/grants", grant, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a POST with no origin: %s, want 403", resp.Status)
	}
	// From the desk's page: a confirmation page, and nothing signed yet.
	n0 := size()
	resp, body := post("/grants", grant, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "null"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You, ru/president, grant ru/fm the abilities receive") {
		t.Fatalf("the grant's confirmation: %s\n%s", resp.Status, body)
	}
	if n := size(); n != n0 {
		t.Fatalf("the log grew from %d to %d before the user confirmed", n0, n)
	}
	i := strings.Index(body, `name="nonce" value="`)
	if i < 0 {
		t.Fatal("no confirmation nonce on the page")
	}
	nonce := body[i+len(`name="nonce" value="`):]
	nonce = nonce[:strings.Index(nonce, `"`)]
	same := map[string]string{"Sec-Fetch-Site": "same-origin"}
	if resp, _ := post("/confirm", url.Values{"nonce": {"forged"}}, same); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a forged nonce: %s, want 400", resp.Status)
	}
	if resp, _ := post("/confirm", url.Values{"nonce": {nonce}}, same); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirming: %s", resp.Status)
	}
	v, err := w.Client.View(ctx, w.ID("ru/president"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range v.Directory().GrantsTo("ru/fm") {
		found = found || g.From == "ru/president"
	}
	if !found {
		t.Error("after the confirmation, the log holds no grant from ru/president to ru/fm")
	}
	// A nonce works once.
	if resp, _ := post("/confirm", url.Values{"nonce": {nonce}}, same); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a nonce used twice: %s, want 400", resp.Status)
	}

	// The export: a .pouch file with the tag, the custody records and an
	// inclusion proof (C2SP tlog-proof) for each, and the payload.
	pouch := w.Facts["scene1.pouch"]
	resp, err = me.Get(base + "/pouch/" + pouch.String() + "/export?as=ir/leader")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %s", resp.Status)
	}
	f, err := letter.ReadFile(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + len(f.Custody) + len(f.Head.Records); f.Tag.PouchID() != pouch || len(f.Custody) != 2 || len(f.Head.Proofs) != want {
		t.Fatalf("the exported file holds pouch %s with %d custody records and %d proofs, want %s, 2, %d", f.Tag.PouchID().Short(), len(f.Custody), len(f.Head.Proofs), pouch.Short(), want)
	}
	for _, pr := range f.Head.Proofs {
		p, err := tlog.ParseProof(pr)
		if err != nil || !strings.HasPrefix(string(p.Checkpoint), w.Origin+"\n") {
			t.Errorf("a proof in the file is not a tlog-proof of this log (%v):\n%s", err, pr)
		}
	}
	if _, err := client.VerifyFile(f, w.Verifier); err != nil {
		t.Errorf("the exported file does not verify offline: %v", err)
	}
}

func TestExplorerHeaders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := scenario.Setup(ctx, w); err != nil {
		t.Fatal(err)
	}
	ex, err := ui.NewExplorer(ui.ExplorerConfig{API: w.Server, LogKey: w.LogKey, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ex.Mount(w.Server.Handle)
	for _, path := range []string{"/", "/explore/directory", "/explore/office/ru/president", "/explore/records"} {
		resp, err := http.Get(w.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q lets other hosts in", path, csp)
		}
	}
	resp, err := http.Get(w.URL + "/explore/office/xx/nobody")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown office: %s, want 404", resp.Status)
	}
	// The API is still the API.
	resp, err = http.Get(w.URL + "/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("/v1/log answers %q with the explorer mounted", ct)
	}
}

func TestCustodySVG(t *testing.T) {
	svg := string(ui.CustodySVG("Custody <of> a pouch", []ui.Hop{
		{Who: "ir/leader", What: "sealed and sent it", Time: time.Unix(1, 0), Index: 3, State: ui.Verified},
		{Who: "ru/duma-chair", For: "ru/president", What: "signed its delivery", Index: 5, State: ui.Unproven, Note: "a private grant"},
		{Who: "x/y", What: "took custody", State: ui.Failed, Note: "does not verify"},
	}))
	for _, want := range []string{`role="img"`, "Custody &lt;of&gt; a pouch", `data-state="verified"`, `data-state="unproven"`, `data-state="failed"`, "for ru/president", "#3"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the custody SVG lacks %q", want)
		}
	}
	if strings.Contains(svg, "<of>") {
		t.Error("the custody SVG does not escape its title")
	}
}

func TestAgreementSVG(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := scenario.Play(ctx, w, 4); err != nil {
		t.Fatal(err)
	}
	v, err := w.Client.View(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tl := v.Agreements().Agreement(w.Facts["scene4.jcpoa"])
	// Before the withdrawal, neither it nor the sunset is drawn.
	early := ui.AgreementSVG(tl, agreement.Date("2017-06-01"))
	if s := string(early.SVG); strings.Contains(s, "withdraws") || strings.Contains(s, "lapses") {
		t.Error("the timeline as of 2017 shows events of later years")
	}
	late := ui.AgreementSVG(tl, agreement.Date("2021-01-01"))
	for _, want := range []string{"us withdraws 2018-05-08", "arms-embargo sunset: lapses 2020-10-18", `data-party="us"`, `class="attest"`} {
		if !strings.Contains(string(late.SVG), want) {
			t.Errorf("the timeline as of 2021 lacks %q", want)
		}
	}
	var texts []string
	for _, e := range late.Events {
		texts = append(texts, string(e.Date)+" "+e.Text)
	}
	if !containsPrefix(texts, "2018-05-08 us withdraws") || !containsPrefix(texts, "2020-10-18 clause arms-embargo lapses (sunset)") {
		t.Errorf("the history lists %q", texts)
	}
	_ = record.ID{}
}

func containsPrefix(ss []string, p string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

var _ = httptest.NewServer
