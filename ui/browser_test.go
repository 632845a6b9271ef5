package ui_test

// End-to-end tests in a real headless Chromium (Debian's chromium, driven
// by chromedp over the DevTools protocol; no browser is downloaded), on
// the reference scenario's in-process server: a letter composed and sent
// on the desk, live in the envoy's inbox in another browser context,
// taken, delivered on behalf by the delegate, and its custody timeline
// verified for the author; a lying server shown as a failure; the
// JCPOA's timeline on the explorer; and an axe-core accessibility check
// of the pages, at desktop size and at 375 × 667. Screenshots go to
// ui/testdata/screenshots (or $POUCH_SCREENSHOTS).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"pouch.dev/client"
	"pouch.dev/internal/scenario"
	"pouch.dev/record"
	"pouch.dev/ui"
)

// required: CI sets POUCH_BROWSER_TESTS=1 (.ci/run installs Chromium and
// axe-core), and there a missing browser fails the tests instead of
// skipping them.
func required() bool { return os.Getenv("POUCH_BROWSER_TESTS") == "1" }

func chromium(t *testing.T) string {
	if p := os.Getenv("POUCH_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if required() {
		t.Fatal("POUCH_BROWSER_TESTS=1 but no Chromium: apt-get install chromium")
	}
	t.Skip("browser tests skipped: no Chromium on this machine (apt-get install chromium; CI runs them)")
	return ""
}

func axeSource(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("testdata", "browser", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		if required() {
			t.Fatalf("axe-core missing: run npm ci in ui/testdata/browser (%v)", err)
		}
		t.Skipf("browser tests skipped: axe-core is not installed (cd ui/testdata/browser && npm ci): %v", err)
	}
	return string(b)
}

// castKeys is the scenario's cast as a desk's keyring.
type castKeys struct{ w *scenario.World }

func (k castKeys) Handles() ([]record.Handle, error) {
	var hs []record.Handle
	for _, c := range scenario.Cast {
		hs = append(hs, c.Handle)
	}
	return hs, nil
}
func (k castKeys) Identity(h record.Handle) (*client.Identity, error) { return k.w.ID(h), nil }
func (k castKeys) Unlock(h record.Handle, _ string) (*client.Identity, error) {
	return k.w.ID(h), nil
}

// startDesk starts a desk on 127.0.0.1 talking to serverURL.
func startDesk(t *testing.T, w *scenario.World, serverURL string) *ui.Desk {
	t.Helper()
	c := client.New(serverURL)
	c.Origin, c.Now, c.WaitLogged = w.Origin, w.Clock.Now, true
	c.Trust = &client.Trust{Policy: w.Policy, Dir: t.TempDir()}
	srv := httptest.NewUnstartedServer(nil)
	d, err := ui.NewDesk(ui.DeskConfig{Client: c, Keys: castKeys{w}, Addr: srv.Listener.Addr().String(), Now: w.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = d
	srv.Start()
	t.Cleanup(srv.Close)
	return d
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("POUCH_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A tab is one browser context (its own cookies and storage).
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (b *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("%v\nat %s, the page reads:\n%s", err, loc, body)
	}
}

func get[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	return get(b, chromedp.Text(chromedp.CSS(sel)))
}

func eval[T any](b *tab, js string) T {
	b.t.Helper()
	return get(b, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

func (b *tab) count(sel string) int {
	return eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

type violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  int    `json:"nodes"`
	Target string `json:"target"`
}

// audit runs axe-core on the page at desktop size and at 375 × 667,
// checks for no horizontal scrolling at 375, takes screenshots, and
// fails on any serious or critical violation.
func (b *tab) audit(name, axe string, results map[string][]violation) {
	b.t.Helper()
	for _, vp := range []struct {
		w, h int
		tag  string
	}{{1280, 900, "desktop"}, {375, 667, "375x667"}} {
		b.run(chromedp.EmulateViewport(int64(vp.w), int64(vp.h)))
		if vp.w == 375 {
			if !eval[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`) {
				sw := eval[int](b, `document.documentElement.scrollWidth`)
				b.t.Errorf("%s scrolls horizontally at 375 × 667 (content %d px wide)", name, sw)
			}
		}
		if !eval[bool](b, `typeof window.axe !== "undefined"`) {
			eval[bool](b, axe+";true")
		}
		js := eval[string](b, `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, target: String(v.nodes[0] && v.nodes[0].target)}))))`)
		var vs []violation
		if err := json.Unmarshal([]byte(js), &vs); err != nil {
			b.t.Fatal(err)
		}
		results[name+" ("+vp.tag+")"] = vs
		for _, v := range vs {
			if v.Impact == "serious" || v.Impact == "critical" {
				b.t.Errorf("axe: %s at %s: %s violation %s (%s) on %d nodes, first %s", name, vp.tag, v.Impact, v.ID, v.Help, v.Nodes, v.Target)
			}
		}
		png := get(b, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(screenshotDir(b.t), name+"-"+vp.tag+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.run(chromedp.EmulateViewport(1280, 900))
}

func TestBrowser(t *testing.T) {
	exe := chromium(t)
	axe := axeSource(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	w, err := scenario.Start(ctx, scenario.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := scenario.Play(ctx, w, 1, 4); err != nil {
		t.Fatal(err)
	}
	ex, err := ui.NewExplorer(ui.ExplorerConfig{API: w.Server, LogKey: w.LogKey, Now: w.Clock.Now, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ex.Mount(w.Server.Handle)
	desk := startDesk(t, w, w.URL)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	browser, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(browser); err != nil {
		t.Fatal(err)
	}
	// Each person has a browser context of their own.
	newTab := func() *tab {
		c, _ := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		tb := &tab{t: t, ctx: c}
		// Only so that the test can inject axe-core.
		if _, err := chromedp.Call(c, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
			t.Fatal(err)
		}
		return tb
	}
	axeResults := map[string][]violation{}
	defer func() {
		b, _ := json.MarshalIndent(axeResults, "", "  ")
		os.WriteFile(filepath.Join(screenshotDir(t), "axe.json"), b, 0o644)
	}()

	// Without the secret, the desk refuses.
	stranger := newTab()
	base := strings.TrimSuffix(strings.Split(desk.LoginURL(), "/login")[0], "/")
	stranger.run(chromedp.Navigate(base + "/"))
	if got := stranger.text("main"); !strings.Contains(got, "open the address that pouch ui printed") {
		t.Fatalf("a browser without the session's secret got %q", got)
	}

	login := func(as string) *tab {
		tb := newTab()
		tb.run(chromedp.Navigate(desk.LoginURL()), chromedp.WaitVisible(css(`#main`)),
			chromedp.Navigate(base+"/?as="+url.QueryEscape(as)), chromedp.WaitVisible(css(`#inbox`)))
		return tb
	}
	leader := login("ir/leader")
	speaker := login("ir/speaker")
	duma := login("ru/duma-chair")

	// The envoy's inbox is open and following; wait for its first list.
	speaker.run(chromedp.WaitVisible(css(`#live:not(:empty)`)))

	// The Leader composes, sees who will be able to open it, confirms.
	leader.run(chromedp.Navigate(base+"/compose?as=ir/leader"), chromedp.WaitVisible(css(`#body`)))
	leader.audit("compose", axe, axeResults)
	leader.run(
		chromedp.SendKeys(css(`#to`), "ru/president"),
		chromedp.SendKeys(css(`#via`), "ir/speaker"),
		chromedp.SetValue(css(`#body`), "## Greetings\n\nTo the President of the Russian Federation.\n\n## On the nuclear agreement\n\nOn the commitments of the parties.\n"),
		chromedp.Click(css(`#plan`)),
		chromedp.WaitVisible(css(`#confirm`)),
	)
	plan := leader.text(`table.plan`)
	for _, want := range []string{"ru/president", "the addressee", "ru/duma-chair", "receive delegate of ru/president under grant", "ir/leader", "the author"} {
		if !strings.Contains(plan, want) {
			t.Errorf("the plan shown before sealing lacks %q:\n%s", want, plan)
		}
	}
	before, err := w.Client.Inbox(ctx, w.ID("ir/speaker"))
	if err != nil {
		t.Fatal(err)
	}
	leader.run(chromedp.Click(css(`#confirm`)), chromedp.WaitVisible(css(`.verdict`)))
	loc := get(leader, chromedp.Location())
	u, _ := url.Parse(loc)
	pouchID := strings.TrimPrefix(u.Path, "/pouch/")
	if _, err := record.ParseID(pouchID); err != nil {
		t.Fatalf("after sending, the desk is at %s, not a pouch's page", loc)
	}
	after, err := w.Client.Inbox(ctx, w.ID("ir/speaker"))
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("the envoy's inbox had %d pouches, now %d: the letter was not sent", len(before), len(after))
	}

	// It appears, live, in the Speaker's inbox, and he takes custody.
	speaker.run(chromedp.WaitVisible(css(fmt.Sprintf(`li[data-pouch=%q].awaits-take`, pouchID))))
	updates := get(speaker, chromedp.AttributeValue(css(`body`), "data-inbox-updates")).Value
	if updates == "" || updates == "1" {
		t.Errorf("the envoy's inbox did not update live (updates: %q)", updates)
	}
	speaker.audit("inbox", axe, axeResults)
	speaker.run(chromedp.Click(css(fmt.Sprintf(`li[data-pouch=%q] a`, pouchID))), chromedp.WaitVisible(css(`#take`)),
		chromedp.Click(css(`#take`)), chromedp.WaitVisible(css(`#confirm`)))
	if got := speaker.text(`.what`); !strings.Contains(got, "ir/speaker, sign that you now hold pouch") {
		t.Errorf("the confirmation says %q", got)
	}
	speaker.run(chromedp.Click(css(`#confirm`)), chromedp.WaitVisible(css(`.verdict`)))
	if n := speaker.count(`ol.hops li[data-state=verified]`); n != 2 {
		t.Errorf("after taking custody, the envoy sees %d verified hops, want 2", n)
	}

	// The Duma chairman signs delivery on the President's behalf.
	duma.run(chromedp.Navigate(base+"/pouch/"+pouchID+"?as=ru/duma-chair"), chromedp.WaitVisible(css(`#deliver`)),
		chromedp.Click(css(`#deliver`)), chromedp.WaitVisible(css(`#confirm`)))
	if got := duma.text(`.what`); !strings.Contains(got, "on behalf of ru/president") {
		t.Errorf("the delegate's confirmation says %q", got)
	}
	duma.run(chromedp.Click(css(`#confirm`)), chromedp.WaitVisible(css(`.verdict`)))
	if got := duma.text(`.sections`); !strings.Contains(got, "On the commitments of the parties.") {
		t.Errorf("the delegate cannot read the letter: %q", got)
	}
	duma.audit("letter", axe, axeResults)

	// The Leader sees the custody timeline, every hop verified.
	leader.run(chromedp.Navigate(base+"/pouch/"+pouchID+"?as=ir/leader"), chromedp.WaitVisible(css(`svg.custody`)))
	if got := leader.text(`.verdict h2`); !strings.Contains(got, "Every hop verified") {
		t.Errorf("the author's verdict is %q", got)
	}
	if n, m := leader.count(`svg.custody g[data-state=verified]`), leader.count(`svg.custody g.hop`); n != 3 || m != 3 {
		t.Errorf("the custody timeline has %d verified hops of %d, want 3 of 3", n, m)
	}
	if got := leader.text(`ol.hops`); !strings.Contains(got, "ru/duma-chair signed its delivery on behalf of ru/president") {
		t.Errorf("the hops read %q", got)
	}
	leader.audit("custody-timeline", axe, axeResults)

	// A lying server: a proxy that answers the delivery record's request
	// with another record. The page shows the failure, not a tick.
	var lie atomic.Bool
	target, _ := url.Parse(w.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	pv, err := w.Client.Pouch(ctx, mustID(t, pouchID), w.ID("ir/leader"))
	if err != nil || len(pv.Custody) != 2 {
		t.Fatalf("pouch %s: %v, %d custody records", pouchID, err, len(pv.Custody))
	}
	delivery := pv.Custody[1].ID
	proxy.ModifyResponse = func(resp *http.Response) error {
		if lie.Load() && resp.Request.URL.Path == "/v1/records/"+delivery.String() {
			other, err := w.Client.Record(context.Background(), pv.Custody[0].ID, w.ID("ir/leader"))
			if err != nil {
				return err
			}
			b, _ := json.Marshal(map[string]any{"id": delivery, "kind": "custody", "index": pv.Custody[1].Index, "time": pv.Custody[1].Time, "public": false, "signed": other.Signed})
			resp.Body = io.NopCloser(strings.NewReader(string(b)))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", fmt.Sprint(len(b)))
		}
		return nil
	}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	liar := startDesk(t, w, ps.URL)
	lb := newTab()
	lbase := strings.Split(liar.LoginURL(), "/login")[0]
	lb.run(chromedp.Navigate(liar.LoginURL()), chromedp.WaitVisible(css(`#main`)),
		chromedp.Navigate(lbase+"/pouch/"+pouchID+"?as=ir/leader"), chromedp.WaitVisible(css(`.verdict`)))
	if got := lb.text(`.verdict h2`); !strings.Contains(got, "Every hop verified") {
		t.Fatalf("through an honest proxy the verdict is %q", got)
	}
	lie.Store(true)
	lb.run(chromedp.Reload(), chromedp.WaitVisible(css(`.verdict`)))
	if got := lb.text(`.verdict`); !strings.Contains(got, "does not verify") || !strings.Contains(got, "another record") {
		t.Errorf("with the server lying, the verdict is %q", got)
	}
	if n := lb.count(`[data-state=verified]`) + lb.count(`.verdict.good`); n != 0 {
		t.Errorf("with the server lying, the page still shows %d verified marks", n)
	}
	png := get(lb, chromedp.FullScreenshot(100))
	os.WriteFile(filepath.Join(screenshotDir(t), "lying-server-desktop.png"), png, 0o644)

	// The explorer: the JCPOA's timeline at /, the United States'
	// withdrawal and the arms embargo's sunset on it.
	visitor := newTab()
	visitor.run(chromedp.Navigate(w.URL+"/"), chromedp.WaitVisible(css(`svg.agreement`)))
	svg := get(visitor, chromedp.OuterHTML(css(`svg.agreement`)))
	for _, want := range []string{"us withdraws 2018-05-08", "arms-embargo sunset: lapses 2020-10-18"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the JCPOA's timeline at / lacks %q", want)
		}
	}
	if got := visitor.text(`#verdict`); !strings.Contains(got, "nothing on this page is verified") {
		t.Errorf("before the visitor gave a key, the explorer says %q", got)
	}
	visitor.audit("explorer-home", axe, axeResults)
	// The visitor pins the policy (log key and witness): the browser
	// checks the checkpoint, the ML-DSA-44 cosignature included.
	visitor.run(chromedp.SetValue(css(`#trust-text`), string(w.Policy.Marshal())), chromedp.Click(css(`#trust-pin`)),
		chromedp.WaitVisible(css(`#verdict[data-state=ok]`)))
	if got := visitor.text(`#verdict`); !strings.Contains(got, "Verified in your browser") || !strings.Contains(got, scenario.WitnessName) {
		t.Errorf("after pinning the policy, the explorer says %q", got)
	}
	// A published disclosure, its inclusion proof checked in the browser.
	visitor.run(chromedp.Navigate(w.URL+"/explore/records"), chromedp.Click(css(`ul.records a`)),
		chromedp.WaitVisible(css(`#verdict[data-state=ok]`)))
	if got := visitor.text(`#verdict`); !strings.Contains(got, "is at index") {
		t.Errorf("on a published record, the explorer says %q", got)
	}
	// A wrong key: no tick.
	_, other, _ := strings.Cut(w.LogKey, "+")
	wrong := strings.Split(w.LogKey, "+")[0] + "+" + other[:8] + "+AQ" + strings.Repeat("A", 42) + "="
	visitor.run(chromedp.SetValue(css(`#trust-text`), wrong), chromedp.Click(css(`#trust-pin`)),
		chromedp.WaitVisible(css(`#verdict[data-state=bad]`)))
	// The JCPOA's own page.
	jcpoa := w.Facts["scene4.jcpoa"]
	visitor.run(chromedp.Navigate(w.URL+"/explore/agreement/"+jcpoa.String()), chromedp.WaitVisible(css(`svg.agreement`)))
	if got := visitor.text(`ol.events`); !strings.Contains(got, "us withdraws (us/president)") || !strings.Contains(got, "clause arms-embargo lapses (sunset)") {
		t.Errorf("the JCPOA's history reads %q", got)
	}
	visitor.audit("agreement-timeline", axe, axeResults)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the browser tests ran out of time")
	}
}

func mustID(t *testing.T, s string) record.ID {
	id, err := record.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
