package main

import (
	"math"
	"testing"
)

// TestStoreHist: the half-load phase's commits are the difference of two
// cumulative histograms, and its bounds are the buckets' that hold the
// quantile, or none above the largest finite bucket.
func TestStoreHist(t *testing.T) {
	inf := math.Inf(1)
	bounds := []float64{.001, .01, .1, inf}
	before := &storeHist{bound: bounds, count: []uint64{10, 12, 12, 13}}
	after := &storeHist{bound: bounds, count: []uint64{1000, 1095, 1099, 1100}}
	d := after.minus(before)
	if got := d.total(); got != 1087 {
		t.Fatalf("total %d, want 1087", got)
	}
	// 990 within 1 ms, 1083 within 10 ms, 1087 within 100 ms, 1087 in all.
	if got := d.over(.01); got != 4 {
		t.Errorf("over 10 ms: %d, want 4", got)
	}
	if got := d.over(.001); got != 97 {
		t.Errorf("over 1 ms: %d, want 97", got)
	}
	if b, ok := d.quantileBound(.99); !ok || b != .01 {
		t.Errorf("p99 within %v (%v), want 0.01", b, ok)
	}
	if b, ok := d.quantileBound(.9); !ok || b != .001 {
		t.Errorf("p90 within %v (%v), want 0.001", b, ok)
	}
	if b, ok := d.quantileBound(1); !ok || b != .1 {
		t.Errorf("slowest within %v (%v), want 0.1", b, ok)
	}
	// One commit over the largest finite bucket: the slowest has no bound.
	after.count[3]++
	if b, ok := after.minus(before).quantileBound(1); ok {
		t.Errorf("slowest within %v, though one commit took over 100 ms", b)
	}
	// No commits at all: no bound.
	if b, ok := before.minus(before).quantileBound(.99); ok {
		t.Errorf("p99 of no commits: %v", b)
	}
}
