package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"pouch.dev/record"
)

// The pages are html/template files and the assets (one style sheet, two
// small scripts) are files, all embedded in the binary: a page asks
// nothing of any other host.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

type templates struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"short": func(id record.ID) string { return id.Short() },
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 MST")
	},
	"millis": func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05 MST") },
	"join": func(hs []record.Handle) string {
		var s []string
		for _, h := range hs {
			s = append(s, string(h))
		}
		return strings.Join(s, ", ")
	},
	"add":   func(a, b int) int { return a + b },
	"mark":  func(s State) string { return s.Mark() },
	"words": func(s State) string { return s.Words() },
	"hex":   func(b []byte) string { return fmt.Sprintf("%x", b) },
}

func parseTemplates() (*templates, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/base.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "base" {
			continue
		}
		c, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := c.ParseFS(templateFS, n); err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", n, err)
		}
		t.pages[name] = c
	}
	return t, nil
}

// render executes page into a buffer first, so that a failing template
// sends an error rather than half a page.
func (t *templates) render(w http.ResponseWriter, status int, page string, data any) {
	p := t.pages[page]
	if p == nil {
		http.Error(w, "no page "+page, http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	name := "page"
	if p.Lookup("page") == nil {
		name = page
	}
	if err := p.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "rendering "+page+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fragment executes a named template of page alone (a live update's
// piece of a page).
func (t *templates) fragment(page, name string, data any) (string, error) {
	var b bytes.Buffer
	if err := t.pages[page].ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := assetFS.ReadFile("assets/" + name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
