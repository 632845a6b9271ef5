package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
)

// The desk acts with the user's keys, so nothing but the user's own
// browser, holding the secret printed at start, may drive it: not another
// user of the machine (who can reach 127.0.0.1 too), nor a web page in the
// user's browser (which can send requests to 127.0.0.1, and through a DNS
// name it controls, rebind to it).
//
// SPEC: spec/ui.md#desk-guard

// CookieName is the desk's session cookie.
const CookieName = "pouch_desk"

// newSecret returns 32 random bytes, base64url.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// hostAllowed reports whether a request's Host names the desk's own
// address: 127.0.0.1:PORT, or localhost:PORT. Anything else is a DNS name
// rebound to 127.0.0.1 by someone else's page.
func (d *Desk) hostAllowed(host string) bool {
	_, port, err := net.SplitHostPort(d.addr)
	if err != nil {
		return false
	}
	return host == d.addr || host == net.JoinHostPort("localhost", port) || host == net.JoinHostPort("127.0.0.1", port)
}

// guard checks every request before the desk sees it: the Host header,
// no cross-origin request, the session cookie (except to log in and for
// the static assets); and it sets the headers of every answer.
func (d *Desk) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		if !d.hostAllowed(r.Host) {
			d.refuse(w, http.StatusMisdirectedRequest, "this desk answers only to its own address, http://"+d.addr+"/ (the Host header named "+r.Host+")")
			return
		}
		// Chromium sends "Origin: null" on a form's POST when the page's
		// referrer policy is no-referrer; Sec-Fetch-Site then says where
		// the request came from.
		origin, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
		if origin != "" && origin != "null" && origin != "http://"+r.Host {
			d.refuse(w, http.StatusForbidden, "cross-origin requests are refused (Origin "+origin+")")
			return
		}
		if site != "" && site != "same-origin" && site != "none" {
			d.refuse(w, http.StatusForbidden, "requests from other sites are refused (Sec-Fetch-Site: "+site+")")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && site != "same-origin" && origin != "http://"+r.Host {
			d.refuse(w, http.StatusForbidden, "a change must come from the desk's own pages")
			return
		}
		if r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/assets/") {
			next.ServeHTTP(w, r)
			return
		}
		c, err := r.Cookie(CookieName)
		if err != nil || !equal(c.Value, d.session) {
			d.refuse(w, http.StatusUnauthorized, "open the address that pouch ui printed when it started (it carries this session's secret)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// login exchanges the secret printed at start for the session cookie:
// HttpOnly (no script reads it), SameSite=Strict (no other site's page
// sends it), and then sends the browser on without the secret in its
// address bar.
func (d *Desk) login(w http.ResponseWriter, r *http.Request) {
	if !equal(r.URL.Query().Get("token"), d.secret) {
		d.refuse(w, http.StatusUnauthorized, "this token is not this desk's: open the address that pouch ui printed when it started")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: d.session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (d *Desk) refuse(w http.ResponseWriter, status int, msg string) {
	d.t.render(w, status, "error", map[string]any{"Title": "Refused", "Desk": true, "Error": msg})
}

// NewPassphrase returns a random passphrase, for throwaway keys (pouch
// demo --ui).
func NewPassphrase() string { return newSecret()[:16] }
