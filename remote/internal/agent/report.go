// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// What the build reports: the statistics of its remote work (stats, for
// the summary and strict mode) and, with Config.Trace, its trace.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"distssa/remote/internal/localproto"
)

// stats counts the build's remote work, for the summary (Agent.Summary)
// and strict mode (Agent.Failures). It has its own lock: counting never
// takes the scheduler's.
type stats struct {
	mu         sync.Mutex
	compiles   int
	granted    int // compiles split across workers
	wholes     int // compiles that ran whole on a worker (their outcome is the compile's)
	fromCache  int // of which answered from a worker's result cache
	fellBack   int // whole compiles that failed remotely and ran here
	holds      int // local processes of the go command
	reasons    map[string]int
	funcs      uint64
	remote     uint64
	resBytes   uint64
	failures   []string // failed remote work, for strict mode and -v
	hedges     int
	races      int            // whole compiles raced here (wholecompile.go)
	racesWon   int            // of which the local run answered
	verifies   int            // remote compiles chosen for verification
	verified   int            // of which a local compile confirmed
	mismatches int            // of which a local compile contradicted
	historic   int            // compiles estimated from the cost history
	inGraph    int            // compiles found in the build graph
	critical   int            // of which on its critical path
	rules      map[string]int // placements by kind and the rule that chose them
}

func newStats() *stats { return &stats{reasons: map[string]int{}, rules: map[string]int{}} }

// inc adds one to the counter n, a field of s.
func (s *stats) inc(n *int) {
	s.mu.Lock()
	*n++
	s.mu.Unlock()
}

// placed counts a compile placed at p.
func (s *stats) placed(req *request, p *placement) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compiles++
	kind := "here"
	switch {
	case p.kind == localproto.KindWhole:
		kind = "whole"
	case len(p.hosts) > 0:
		kind = "split"
	}
	rule, _, _ := strings.Cut(p.why, ":")
	s.rules[kind+" ("+rule+")"]++
	if req.historic {
		s.historic++
	}
	if req.inGraph {
		s.inGraph++
	}
	if req.critical {
		s.critical++
	}
}

// ranHere counts a compile that runs here, split over workers or, for
// the reason, without any.
func (s *stats) ranHere(p *placement) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p.hosts) > 0 {
		s.granted++
	} else {
		s.reasons[p.reason]++
	}
}

// ranWhole counts a whole compile that a worker answered.
func (s *stats) ranWhole(cached bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wholes++
	if cached {
		s.fromCache++
	}
}

// compiler adds a compile's STATS.
func (s *stats) compiler(m *localproto.Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.funcs += m.Funcs
	s.remote += m.Remote
	s.resBytes += m.ResultBytes
}

// fail records failed remote work.
func (s *stats) fail(msg string) {
	s.mu.Lock()
	s.failures = append(s.failures, msg)
	s.mu.Unlock()
}

// failed returns the failed remote work so far.
func (s *stats) failed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.failures...)
}

// snapshot returns a copy of the counters, for the summary.
func (s *stats) snapshot() *stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &stats{compiles: s.compiles, granted: s.granted, wholes: s.wholes, fromCache: s.fromCache,
		fellBack: s.fellBack, holds: s.holds, reasons: map[string]int{}, funcs: s.funcs, remote: s.remote,
		resBytes: s.resBytes, failures: append([]string(nil), s.failures...), hedges: s.hedges,
		races: s.races, racesWon: s.racesWon, verifies: s.verifies, verified: s.verified,
		mismatches: s.mismatches, historic: s.historic, inGraph: s.inGraph, critical: s.critical,
		rules: map[string]int{}}
	for r, n := range s.reasons {
		c.reasons[r] = n
	}
	for r, n := range s.rules {
		c.rules[r] = n
	}
	return c
}

// counts lists m as "key=n, ...", sorted.
func counts(m map[string]int) string {
	var rs []string
	for r, n := range m {
		rs = append(rs, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(rs)
	return strings.Join(rs, ", ")
}

// Summary writes the one-screen summary of the build's remote work.
func (a *Agent) Summary(w io.Writer) {
	st := a.st.snapshot()
	a.mu.Lock()
	defer a.mu.Unlock()
	local := st.compiles - st.wholes - st.granted
	fmt.Fprintf(w, "distssa-agent: %d compiles: %d whole (%d from cache), %d split, %d local (%d after a failed whole compile); functions %d remote of %d; %d result bytes; %d hedged jobs; %d stragglers raced here (%d won)\n",
		st.compiles, st.wholes, st.fromCache, st.granted, local, st.fellBack, st.remote, st.funcs, st.resBytes, st.hedges, st.races, st.racesWon)
	now := time.Now()
	a.account(now)
	wall := float64(now.Sub(a.start))
	slots := 0
	for _, h := range a.hosts {
		slots += h.Slots
	}
	pct := func(busy float64, n int) float64 {
		if n == 0 || wall == 0 {
			return 0
		}
		return 100 * busy / (wall * float64(n))
	}
	graph := "no build graph"
	if a.graph != nil {
		graph = fmt.Sprintf("%d in the build graph (longest path %.1fs estimated), %d of them on its critical path, %d kept here for it",
			st.inGraph, a.graph.longest.Seconds(), st.critical, st.reasons[reasonCritical])
	}
	fmt.Fprintf(w, "  estimates: %d compiles from the cost history (%d entries), %d from their source size; %s\n",
		st.historic, a.costs.len(), st.compiles-st.historic, graph)
	for _, n := range a.notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	fmt.Fprintf(w, "  slots: %d local tokens %.0f%% busy, %d worker slots %.0f%% busy over %.1fs; %d placements waited %.1fs in all; %d local processes held a token\n",
		a.cfg.LocalTokens, pct(a.occ.localNs, a.cfg.LocalTokens), slots, pct(a.occ.remoteNs, slots),
		time.Duration(wall).Seconds(), a.occ.waits, a.occ.waitNs.Seconds(), st.holds)
	if s := counts(st.rules); s != "" {
		fmt.Fprintf(w, "  placed: %s\n", s)
	}
	if s := counts(st.reasons); s != "" {
		fmt.Fprintf(w, "  local: %s\n", s)
	}
	for _, h := range a.hosts {
		h.mu.Lock()
		fmt.Fprintf(w, "  %-24s jobs %d ok %d failed %d, sent %d B, received %d B, uploads %d blobs, backoffs %d\n",
			h.Addr, h.jobs, h.ok, h.failed, h.sent, h.recv, h.uploads, h.backoffs)
		h.mu.Unlock()
		for _, msg := range h.refused {
			fmt.Fprintf(w, "  %-24s refused: %s\n", h.Addr, msg)
		}
		if h.noWhole != "" {
			fmt.Fprintf(w, "  %-24s %s\n", h.Addr, h.noWhole)
		}
	}
	if st.verifies > 0 {
		fmt.Fprintf(w, "  verify: %d remote compiles chosen for local verification: %d identical, %d differ\n",
			st.verifies, st.verified, st.mismatches)
	}
	for i, f := range st.failures {
		if i == 5 {
			fmt.Fprintf(w, "  … and %d more failures\n", len(st.failures)-5)
			break
		}
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
}

// The build trace: with Config.Trace, the agent records every
// placement and every remote span as Chrome trace events ("X" events
// with absolute microsecond times, as the go command's -debug-trace
// writes them), one track per local token and per host slot, and writes
// them at Close, one JSON object a line. The go command merges them into
// its -debug-trace file.

// event is one Chrome trace event.
type event struct {
	Name  string         `json:"name"`
	Phase string         `json:"ph"`
	Time  float64        `json:"ts"`            // µs since the Unix epoch
	Dur   float64        `json:"dur,omitempty"` // µs
	PID   int            `json:"pid"`
	TID   int            `json:"tid"`
	Args  map[string]any `json:"args,omitempty"`
}

// tracePID is the first process id of the agent's tracks: the go
// command's own spans use pid 0.
const tracePID = 1000

// tracer records spans on lanes: a lane is one local token or one slot
// of a host, and a span takes the first free lane of its resource.
type tracer struct {
	mu     sync.Mutex
	events []event
	res    map[string]int    // resource → pid
	lanes  map[string][]bool // resource → busy lanes
}

func newTracer() *tracer {
	return &tracer{res: map[string]int{}, lanes: map[string][]bool{}}
}

func micros(t time.Time) float64 { return float64(t.UnixNano()) / 1e3 }

// lane is a track of a resource, taken until release.
type lane struct {
	res string
	n   int
}

// take returns the first free lane of res ("local tokens" or a host).
func (t *tracer) take(res string) lane {
	if t == nil {
		return lane{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	pid, ok := t.res[res]
	if !ok {
		pid = tracePID + len(t.res)
		t.res[res] = pid
		t.events = append(t.events, event{Name: "process_name", Phase: "M", PID: pid, Args: map[string]any{"name": res}})
	}
	l := t.lanes[res]
	for i, busy := range l {
		if !busy {
			l[i] = true
			return lane{res, i}
		}
	}
	t.lanes[res] = append(l, true)
	n := len(l)
	t.events = append(t.events, event{Name: "thread_name", Phase: "M", PID: pid, TID: n, Args: map[string]any{"name": fmt.Sprintf("%s %d", res, n)}})
	return lane{res, n}
}

// release frees a lane.
func (t *tracer) release(l lane) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.lanes[l.res][l.n] = false
	t.mu.Unlock()
}

// span records a span on a lane.
func (t *tracer) span(l lane, name string, start, end time.Time, args map[string]any) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, event{Name: name, Phase: "X", Time: micros(start), Dur: micros(end) - micros(start),
		PID: t.res[l.res], TID: l.n, Args: args})
}

// write writes the events to name, one JSON object a line.
func (t *tracer) write(name string) error {
	if t == nil {
		return nil
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	t.mu.Lock()
	for i := range t.events {
		if err == nil {
			err = enc.Encode(&t.events[i])
		}
	}
	t.mu.Unlock()
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// shareSpan is where and when a split's share ran, for its phases.
type shareSpan struct {
	l          lane
	start, end time.Time
}

// tracePhases adds the phases of a split compile's STATS to the trace:
// the compile's own on its lane l, within its span from start to end;
// each worker's on the lane of its share, within the share's span. A
// phase is cut to its span, where clocks disagree (a worker's phases
// are by its host's clock); an empty one is left out.
func (c *compile) tracePhases(l lane, start, end time.Time) {
	for _, p := range c.phases {
		in := shareSpan{l, start, end}
		if p.Worker > 0 {
			k := p.Worker - 1
			if k >= uint64(len(c.shares)) || c.shares[k].start.IsZero() {
				continue
			}
			in = c.shares[k]
		}
		if p.Start > math.MaxInt64 || p.Dur > math.MaxInt64 {
			continue
		}
		s := time.Unix(0, int64(p.Start))
		e := s.Add(time.Duration(p.Dur))
		if s.Before(in.start) {
			s = in.start
		}
		if e.After(in.end) {
			e = in.end
		}
		if e.After(s) {
			c.a.tr.span(in.l, p.Name, s, e, map[string]any{"worker": p.Worker})
		}
	}
}
