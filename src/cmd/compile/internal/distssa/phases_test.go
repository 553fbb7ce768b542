// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

import (
	"internal/testenv"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The phase lines of -d=distssastats=1 (phases.go).
var (
	phasesLine = regexp.MustCompile(`(?m)^distssa: p: phases: (.*); wall ([\d.]+)ms$`)
	workerLine = regexp.MustCompile(`(?m)^distssa: p: worker (\d+): (.*)$`)
)

// parsePhases parses a phase line's list, "name 1.2ms, …", checking that
// it names want, in order, each with a non-negative duration. It returns
// the durations in milliseconds.
func parsePhases(t *testing.T, list string, want []string) map[string]float64 {
	t.Helper()
	fields := strings.Split(list, ", ")
	if len(fields) != len(want) {
		t.Fatalf("phases %q, want %d: %q", list, len(want), want)
	}
	m := make(map[string]float64)
	for i, f := range fields {
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(f, want[i]+" "), "ms"), 64)
		if !strings.HasPrefix(f, want[i]+" ") || !strings.HasSuffix(f, "ms") || err != nil || v < 0 {
			t.Fatalf("phase %d is %q, want %q with a non-negative duration in ms", i, f, want[i])
		}
		m[want[i]] = v
	}
	return m
}

// TestSplitPhases checks the phases of a forced split over two exec
// workers: the client's line names every phase, each non-negative,
// adding up to no more than its wall time, itself no more than the
// compile took as this test saw it; each worker's phases came with its
// result, its front end and backend took time, and all of it fits in
// the client's wall time.
func TestSplitPhases(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	t0 := time.Now()
	_, msg, err := compileSrc(t, dir, splitSrc, "-distssa=exec:2", "-d=distssaforce=1,distssastats=1")
	took := float64(time.Since(t0)) / float64(time.Millisecond)
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, msg)
	}
	m := phasesLine.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("no phases line in:\n%s", msg)
	}
	client := parsePhases(t, m[1], clientPhases)
	wall, _ := strconv.ParseFloat(m[2], 64)
	sum := 0.0
	for _, v := range client {
		sum += v
	}
	// Each figure is rounded to 0.1 ms.
	if sum > wall+0.05*float64(len(client)+1) || wall > took {
		t.Errorf("phases add up to %.1fms, wall %.1fms, the compile took %.1fms here:\n%s", sum, wall, took, msg)
	}
	if client["front end"] == 0 || client["wait"]+client["decode"]+client["replay"]+client["assembly"] == 0 {
		t.Errorf("client phases %v: no front end, or no time spent on the workers' results", client)
	}
	ws := workerLine.FindAllStringSubmatch(msg, -1)
	if len(ws) != 2 {
		t.Fatalf("%d worker lines, want 2:\n%s", len(ws), msg)
	}
	for i, w := range ws {
		if w[1] != strconv.Itoa(i+1) {
			t.Errorf("worker line %d names worker %s", i, w[1])
		}
		ph := parsePhases(t, w[2], workerPhases)
		if ph["front end"] == 0 || ph["backend"] == 0 {
			t.Errorf("worker %s: phases %v, want a front end and a backend", w[1], ph)
		}
		if d := ph["front end"] + ph["job"] + ph["backend"] + ph["encode"]; d > wall {
			t.Errorf("worker %s: %.1fms of phases, more than the client's wall time %.1fms", w[1], d, wall)
		}
	}
}
