package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A series is one line of a plot: points (x, y), the medians of a run.
type series struct {
	name  string
	x, y  []float64
	color int  // index in palette
	dash  bool // a dashed line: the same implementation's p99 beside its p50
}

// A plot is a line chart with a logarithmic x axis, drawn as SVG.
type plot struct {
	title, xlabel, ylabel string
	logY                  bool
	series                []series
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

func (p *plot) svg() string {
	const W, H = 640, 400
	const left, right, top, bottom = 70, 40, 40, 80
	pw, ph := float64(W-left-right), float64(H-top-bottom)
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range p.series {
		for i := range s.x {
			if math.IsNaN(s.y[i]) || s.x[i] <= 0 || (p.logY && s.y[i] <= 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, s.x[i]), math.Max(xmax, s.x[i])
			ymin, ymax = math.Min(ymin, s.y[i]), math.Max(ymax, s.y[i])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(p.title))
	if math.IsInf(xmin, 1) {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no data in this run</text></svg>`+"\n", left, top+40)
		return b.String()
	}
	lx0, lx1 := math.Floor(math.Log10(xmin)), math.Ceil(math.Log10(xmax))
	if lx1 == lx0 {
		lx1++
	}
	var y0, y1 float64
	if p.logY {
		y0, y1 = math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
		if y1 == y0 {
			y1++
		}
	} else {
		y0, y1 = 0, niceCeil(ymax*1.05)
	}
	X := func(x float64) float64 { return float64(left) + (math.Log10(x)-lx0)/(lx1-lx0)*pw }
	Y := func(y float64) float64 {
		v := y
		if p.logY {
			v = math.Log10(y)
		}
		return float64(top) + ph - (v-y0)/(y1-y0)*ph
	}
	// Axes and grid.
	fmt.Fprintf(&b, `<g stroke="#ccc" stroke-width="1">`+"\n")
	for e := lx0; e <= lx1; e++ {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f"/>`+"\n", X(math.Pow(10, e)), top, X(math.Pow(10, e)), float64(top)+ph)
	}
	var yticks []float64
	if p.logY {
		for e := y0; e <= y1; e++ {
			yticks = append(yticks, math.Pow(10, e))
		}
	} else {
		step := y1 / 5
		for v := 0.0; v <= y1+step/2; v += step {
			yticks = append(yticks, v)
		}
	}
	for _, v := range yticks {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", left, Y(v), float64(left)+pw, Y(v))
	}
	fmt.Fprintf(&b, "</g>\n")
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="black"/>`+"\n", left, top, pw, ph)
	for e := lx0; e <= lx1; e++ {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", X(math.Pow(10, e)), float64(top)+ph+16, tick(math.Pow(10, e)))
	}
	for _, v := range yticks {
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, Y(v)+4, tick(v))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", float64(left)+pw/2, float64(top)+ph+34, html.EscapeString(p.xlabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", float64(top)+ph/2, html.EscapeString(p.ylabel))
	// Lines, points and the legend.
	for i, s := range p.series {
		c := palette[s.color%len(palette)]
		var pts []string
		for j := range s.x {
			if math.IsNaN(s.y[j]) || s.x[j] <= 0 || (p.logY && s.y[j] <= 0) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", X(s.x[j]), Y(s.y[j])))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", X(s.x[j]), Y(s.y[j]), c)
		}
		if len(pts) > 1 {
			dash := ""
			if s.dash {
				dash = ` stroke-dasharray="6 4"`
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), c, dash)
		}
		lx := float64(left) + float64(i%3)*pw/3
		ly := float64(top) + ph + 52 + float64(i/3)*16
		dash := ""
		if s.dash {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly-4, lx+20, ly-4, c, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+26, ly, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// tick labels an axis: whole numbers without decimals.
func tick(v float64) string {
	if v >= 1 && v < 1000 && v == math.Round(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return num(v)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func writePlots(r *results, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	clients := r.params("LogAppend/", "clients")
	sizes := r.params("Proof/", "leaves")
	fl := func(v []int) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	byClients := func(impl, unit string) []float64 {
		var out []float64
		for _, c := range clients {
			out = append(out, r.med(fmt.Sprintf("LogAppend/impl=%s/clients=%d", impl, c), unit))
		}
		return out
	}
	impls := []struct{ impl, name string }{{"pouch", "pouch"}, {"tessera", "Tessera POSIX"}, {"tessera-verify", "Tessera + verify"}}
	ct := &plot{title: "Log appends against concurrent clients", xlabel: "concurrent clients", ylabel: "records/s (median)"}
	cl := &plot{title: "Append to published checkpoint, closed loop", xlabel: "concurrent clients", ylabel: "ms", logY: true}
	for k, i := range impls {
		ct.series = append(ct.series, series{name: i.name, x: fl(clients), y: byClients(i.impl, "records/s"), color: k})
		cl.series = append(cl.series, series{name: i.name + " p50", x: fl(clients), y: byClients(i.impl, "p50-ms"), color: k})
		cl.series = append(cl.series, series{name: i.name + " p99", x: fl(clients), y: byClients(i.impl, "p99-ms"), color: k, dash: true})
	}
	bySize := func(prefix, unit string) []float64 {
		var out []float64
		for _, s := range sizes {
			out = append(out, r.med(fmt.Sprintf(prefix, s), unit))
		}
		return out
	}
	st := &plot{title: "pouch: log appends against log size (1,000 clients)", xlabel: "leaves in the log", ylabel: "records/s"}
	st.series = []series{{name: "pouch", x: fl(sizes), y: bySize("LogAppendAtSize/leaves=%d/clients=1000", "records/s")}}
	sl := &plot{title: "pouch: proof latency against log size", xlabel: "leaves in the log", ylabel: "µs", logY: true}
	for k, m := range []struct{ unit, name string }{
		{"inclusion-p50-µs", "inclusion p50"}, {"inclusion-p99-µs", "inclusion p99"},
		{"consistency-p50-µs", "consistency p50"}, {"consistency-p99-µs", "consistency p99"},
		{"inclusion-cold-p50-µs", "inclusion p50, cache emptied"}, {"inclusion-cold-p99-µs", "inclusion p99, cache emptied"},
	} {
		sl.series = append(sl.series, series{name: m.name, x: fl(sizes), y: bySize("Proof/leaves=%d", m.unit), color: k / 2, dash: k%2 == 1})
	}
	for name, p := range map[string]*plot{"clients-throughput.svg": ct, "clients-latency.svg": cl, "size-throughput.svg": st, "size-latency.svg": sl} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(p.svg()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
