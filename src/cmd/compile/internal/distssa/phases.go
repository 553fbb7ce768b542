// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// Phase accounting: where a split compile's time went, on the client and
// on each worker, for -d=distssastats=1 and for the agent's trace
// (STATS). The client's phases follow one another:
//
//	start          from the compile's start (distssa's initialization,
//	               before gc.Main) to its placement: starting the exec
//	               workers, or waiting for the agent's GRANT
//	front end      to the split's plan: upstream's "fe" phases of -bench
//	               and the queueing of the functions
//	plan           the fingerprint, the shards, the jobs sent
//	backend        the client's own share, assembled (compileFunctions)
//	wait           then, as the workers' results come: waiting for them,
//	decode         decoding them,
//	replay         installing their functions,
//	assembly       assembling them, and
//	local compile  compiling here what they did not deliver, or what the
//	               client took back (split.go)
//	dumpobj        from the end of compileFunctions to the exit:
//	               upstream's "be:dumpobj" and the DWARF fixups before it
//
// wait, decode, replay, assembly and local compile interleave as the
// results arrive: each is summed, and the sums are laid end to end. A
// worker's phases are its front end, job, backend and encode
// (result.Phases, measured in its process and sent with the last chunk
// of its result), then transfer: from the end of its encoding, by its
// clock, to the arrival of its last chunk here, by this one (for exec
// workers, when it is read from the pipe; for the agent's, when the
// RESULT is read). Across hosts the transfer includes the clocks'
// offset; one that comes out negative counts as zero. A worker that the
// client stopped sends no phases.

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/distssa/agentclient"
	"cmd/compile/internal/distssa/result"
)

// started is the compile's start, as near as distssa sees it: its
// package's initialization, before gc.Main runs.
var started = time.Now()

// placed is when ParseFlag placed the compile (its transport started).
var placed time.Time

// The client's phases, in order, and a worker's.
var (
	clientPhases = []string{"start", "front end", "plan", "backend", "wait", "decode", "replay", "assembly", "local compile", "dumpobj"}
	workerPhases = []string{"front end", "job", "backend", "encode", "transfer"}
)

// A phase is a span of a split compile's time: on the client (worker 0)
// or on the worker of JOB k−1 (worker k).
type phase struct {
	worker int
	name   string
	start  time.Time
	dur    time.Duration
}

// A clock records the phases of a split.
type clock struct {
	phases []phase
	last   time.Time // the end of the client's last phase
}

// mark ends the client's current phase, name, at t.
func (c *clock) mark(name string, t time.Time) {
	c.add(name, t.Sub(c.last))
}

// add appends a phase of the client of duration d after the last one.
func (c *clock) add(name string, d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.phases = append(c.phases, phase{0, name, c.last, d})
	c.last = c.last.Add(d)
}

// worker records worker k's phases, ph, whose result arrived here at
// arrived.
func (c *clock) worker(k int, ph result.Phases, arrived time.Time) {
	t := ph.Start
	for i, d := range []time.Duration{ph.FrontEnd, ph.Job, ph.Backend, ph.Encode} {
		c.phases = append(c.phases, phase{k, workerPhases[i], t, d})
		t = t.Add(d)
	}
	transfer := arrived.Sub(ph.End())
	if transfer < 0 {
		transfer = 0
	}
	c.phases = append(c.phases, phase{k, "transfer", t, transfer})
}

// sums returns worker k's phases (0: the client's), summed by name.
func (c *clock) sums(k int) map[string]time.Duration {
	m := make(map[string]time.Duration)
	for _, p := range c.phases {
		if p.worker == k {
			m[p.name] += p.dur
		}
	}
	return m
}

// print writes the phases' lines of -d=distssastats: the client's, with
// the compile's wall time, and one per worker that sent a result.
func (c *clock) print() {
	if len(c.phases) == 0 {
		return
	}
	line := func(names []string, m map[string]time.Duration) string {
		var f []string
		for _, n := range names {
			f = append(f, fmt.Sprintf("%s %s", n, ms(m[n])))
		}
		return strings.Join(f, ", ")
	}
	fmt.Fprintf(os.Stderr, "distssa: %s: phases: %s; wall %s\n", base.Ctxt.Pkgpath, line(clientPhases, c.sums(0)), ms(c.last.Sub(started)))
	// The workers in order, whatever the order their results ended in.
	var ks []int
	seen := make(map[int]bool)
	for _, p := range c.phases {
		if p.worker != 0 && !seen[p.worker] {
			seen[p.worker] = true
			ks = append(ks, p.worker)
		}
	}
	sort.Ints(ks)
	for _, k := range ks {
		fmt.Fprintf(os.Stderr, "distssa: %s: worker %d: %s\n", base.Ctxt.Pkgpath, k, line(workerPhases, c.sums(k)))
	}
}

// ms formats d in milliseconds, one decimal: every phase in one unit,
// for the scripts that read them.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// stats returns the phases for STATS.
func (c *clock) stats() []agentclient.Phase {
	var ps []agentclient.Phase
	for _, p := range c.phases {
		ps = append(ps, agentclient.Phase{Worker: uint64(p.worker), Name: p.name, Start: uint64(p.start.UnixNano()), Dur: uint64(p.dur)})
	}
	return ps
}
