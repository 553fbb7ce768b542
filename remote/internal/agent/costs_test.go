// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
)

// TestCostsRoundTrip: measures recorded by one agent are the estimates
// of the next; the mean weighs the new measure by one half, and an
// estimate scales with the source size.
func TestCostsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "costs")
	c, err := loadCosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := c.estimate(compileKey("linux/amd64", "fmt"), 1000); ok || d != CompileFixed+1000*DefaultNsPerByte {
		t.Fatalf("empty history: %v %v, want %v from the source size", d, ok, CompileFixed+1000*DefaultNsPerByte)
	}
	c.record(compileKey("linux/amd64", "fmt"), 100*time.Millisecond, 1000)
	c.record(compileKey("linux/amd64", "fmt"), 200*time.Millisecond, 1000)
	c.record(compileKey("linux/arm64", "fmt"), 900*time.Millisecond, 1000)
	c.record(compileKey("linux/amd64", "main [x.test]"), time.Second, 4000)
	c.record(holdKey("link"), 3*time.Second, 0)
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	c2, err := loadCosts(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key   string
		bytes int64
		want  time.Duration
	}{
		{compileKey("linux/amd64", "fmt"), 1000, 150 * time.Millisecond},
		{compileKey("linux/amd64", "fmt"), 2000, 300 * time.Millisecond}, // twice the source
		{compileKey("linux/arm64", "fmt"), 0, 900 * time.Millisecond},
		{compileKey("linux/amd64", "main [x.test]"), 4000, time.Second},
		{holdKey("link"), 0, 3 * time.Second},
	} {
		d, ok := c2.estimate(tc.key, tc.bytes)
		if !ok || d != tc.want {
			t.Errorf("%q at %d bytes: %v %v, want %v from the history", tc.key, tc.bytes, d, ok, tc.want)
		}
	}
	// A package that grew: the old mean is scaled to the new size first.
	c2.record(compileKey("linux/amd64", "fmt"), 500*time.Millisecond, 2000)
	if d, _ := c2.estimate(compileKey("linux/amd64", "fmt"), 2000); d != 400*time.Millisecond {
		t.Errorf("after growing: %v, want 400ms", d)
	}
}

// TestCostsCorrupt: a history that does not parse is ignored, named in
// the error and in the -v summary, and replaced by a good one at Close.
func TestCostsCorrupt(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"magic", "distssa-costs 9\n1 2 3 4 k\n"},
		{"fields", costsMagic + "\n1 2 3\n"},
		{"number", costsMagic + "\n1 x 3 4 k\n"},
		{"negative", costsMagic + "\n-5 2 3 4 k\n"},
		{"front", costsMagic + "\n5 2 3 4 1.5 k\n"},
		{"torn", costsMagic + "\n100 2 1 4 linux/amd64 a\n100 2"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "costs")
			os.WriteFile(path, []byte(tc.data), 0o644)
			a, err := New(Config{Hosts: []hosts.Host{{Addr: "w:1", Slots: 1}}, Costs: path})
			if err != nil {
				t.Fatal(err)
			}
			if a.costs.len() != 0 {
				t.Errorf("%d entries from a corrupt file", a.costs.len())
			}
			var sum bytes.Buffer
			a.Summary(&sum)
			if !strings.Contains(sum.String(), "note: cost history "+path) {
				t.Errorf("the summary does not name %s:\n%s", path, sum.String())
			}
			a.costs.record(compileKey("linux/amd64", "p"), time.Second, 10)
			a.Close()
			c, err := loadCosts(path)
			if err != nil || c.len() != 1 {
				t.Errorf("after Close: %d entries, %v", c.len(), err)
			}
		})
	}
}

// TestCostsBound: the file keeps the maxCosts most recently measured
// entries.
func TestCostsBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costs")
	c, _ := loadCosts(path)
	now := time.Unix(1e9, 0)
	c.now = func() time.Time { return now }
	const n = maxCosts + 50
	for i := 0; i < n; i++ {
		now = now.Add(time.Second)
		c.record(compileKey("linux/amd64", fmt.Sprintf("p%d", i)), time.Millisecond, 1)
	}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	c2, err := loadCosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if c2.len() != maxCosts {
		t.Fatalf("%d entries, want %d", c2.len(), maxCosts)
	}
	for i, want := range map[int]bool{0: false, 49: false, 50: true, n - 1: true} {
		if _, ok := c2.estimate(compileKey("linux/amd64", fmt.Sprintf("p%d", i)), 1); ok != want {
			t.Errorf("p%d kept: %v, want %v", i, ok, want)
		}
	}
}

// TestCostsConcurrentAgents: two agents that read the same history and
// close one after the other leave both their measures in it; for a key
// both measured, the later measure wins.
func TestCostsConcurrentAgents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costs")
	x, _ := loadCosts(path)
	y, _ := loadCosts(path)
	now := time.Unix(2e9, 0)
	x.now = func() time.Time { return now }
	y.now = func() time.Time { return now.Add(time.Second) }
	x.record("t a", time.Second, 1)
	x.record("t both", time.Second, 1)
	y.record("t b", 2*time.Second, 1)
	y.record("t both", 2*time.Second, 1)
	if err := y.save(); err != nil {
		t.Fatal(err)
	}
	if err := x.save(); err != nil {
		t.Fatal(err)
	}
	c, err := loadCosts(path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{"t a": time.Second, "t b": 2 * time.Second, "t both": 2 * time.Second} {
		if d, ok := c.estimate(key, 0); !ok || d != want {
			t.Errorf("%s: %v %v, want %v", key, d, ok, want)
		}
	}
	matches, _ := filepath.Glob(path + ".tmp*")
	if len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

// TestLearnedRate: with enough compiles in the history, a package it
// does not know is estimated at the rate they imply.
func TestLearnedRate(t *testing.T) {
	m := map[string]costEntry{holdKey("link"): {ns: 1e12, runs: 1}}
	for i := 0; i < minRateSamples-1; i++ {
		m[compileKey("t", fmt.Sprint(i))] = costEntry{ns: float64(CompileFixed) + 3000*1000, bytes: 1000, runs: 1}
	}
	if r := learnedRate(m); r != DefaultNsPerByte {
		t.Errorf("%d compiles: rate %v, want the default %v", len(m)-1, r, DefaultNsPerByte)
	}
	m["t last"] = costEntry{ns: float64(CompileFixed) + 3000*1000, bytes: 1000, runs: 1}
	if r := learnedRate(m); r != 3000 {
		t.Errorf("%d compiles: rate %v, want 3000 ns/byte", len(m)-1, r)
	}
}

// TestDefaultCostsPath: DISTSSA_COSTS chooses the file, "off" none.
func TestDefaultCostsPath(t *testing.T) {
	t.Setenv("DISTSSA_COSTS", "/x/costs")
	if p := DefaultCostsPath(); p != "/x/costs" {
		t.Errorf("DISTSSA_COSTS=/x/costs: %q", p)
	}
	t.Setenv("DISTSSA_COSTS", "off")
	if p := DefaultCostsPath(); p != "" {
		t.Errorf("DISTSSA_COSTS=off: %q", p)
	}
	t.Setenv("DISTSSA_COSTS", "")
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if p := DefaultCostsPath(); p != "/cache/distssa/costs" {
		t.Errorf("XDG_CACHE_HOME=/cache: %q", p)
	}
}

// TestCostsFront: the front-end share of a package's splits is kept
// beside its cost, follows the same mean, survives a save, and a
// package that only ever split has a share but no cost, so that its
// compile is still estimated from its source. A file of version 1 is
// read as never split.
func TestCostsFront(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costs")
	c, err := loadCosts(path)
	if err != nil {
		t.Fatal(err)
	}
	fmtKey, ssaKey := compileKey("linux/amd64", "fmt"), compileKey("linux/amd64", "ssa")
	c.record(fmtKey, 100*time.Millisecond, 1000)
	c.recordFront(fmtKey, 0.2)
	c.recordFront(fmtKey, 0.4)
	c.recordFront(ssaKey, 0.5)
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	c2, err := loadCosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if f := c2.front(fmtKey); f < 0.299 || f > 0.301 {
		t.Errorf("fmt's front-end share %.3f, want 0.3", f)
	}
	if d, ok := c2.estimate(fmtKey, 1000); !ok || d != 100*time.Millisecond {
		t.Errorf("fmt's cost %v %v, want 100ms from the history", d, ok)
	}
	if f := c2.front(ssaKey); f != 0.5 {
		t.Errorf("ssa's front-end share %.3f, want 0.5", f)
	}
	if d, ok := c2.estimate(ssaKey, 1000); ok || d != srcCost(1000) {
		t.Errorf("ssa, never compiled but split: %v %v, want %v from its source", d, ok, srcCost(1000))
	}
	c2.record(ssaKey, time.Second, 1000)
	if d, ok := c2.estimate(ssaKey, 1000); !ok || d != time.Second || c2.front(ssaKey) != 0.5 {
		t.Errorf("ssa, compiled once: %v %v front %.3f, want 1s from the history and 0.5", d, ok, c2.front(ssaKey))
	}

	old := filepath.Join(t.TempDir(), "costs")
	os.WriteFile(old, []byte(costsMagicV1+"\n5000000 2000 3 4 linux/amd64 a b\n"), 0o644)
	c3, err := loadCosts(old)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := c3.estimate(compileKey("linux/amd64", "a b"), 2000); !ok || d != 5*time.Millisecond || c3.front(compileKey("linux/amd64", "a b")) != 0 {
		t.Errorf("version 1: %v %v, want 5ms from the history and no front-end share", d, ok)
	}
}
