// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// The split, on the client: plan it (each worker's shard of the
// functions), send the workers their jobs, compile the local share, then
// take the workers' results as they arrive, replay them and assemble
// them. While no result is there to replay, the client takes back the
// last function of the shard with the most left and compiles it itself,
// rather than wait (not under -d=distssaforce). Any fault sends the
// affected functions back to the local backend.

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/distssa/agentclient"
	"cmd/compile/internal/distssa/result"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/types"
)

// split is the state of one compileFunctions call on the client.
type split struct {
	fp     [32]byte
	costs  map[*ir.Func]int64 // each function's estimated cost
	shards []*shard           // of the workers that got a job
	stats  stats
	clock  clock
	times  afterBackend
}

// A shard is a worker's part of the split, as its result comes in.
type shard struct {
	w      Worker
	id     int        // its worker's number in the phases (phases.go)
	fns    []*ir.Func // the functions of its job, in the job's order
	dec    *result.Decoder
	groups []*result.Group // decoded, not yet replayed
	part   []byte          // the start of a chunk whose rest has not come
	next   int             // fns[:next] are replayed, or compiled here
	end    int             // fns[end:] were taken back and compiled here
	over   bool            // nothing more to take from the worker
	timed  bool            // its worker's phases are in the clock
}

// afterBackend sums the client's work after its own share, which
// interleaves as results arrive: the phases lay the sums end to end.
type afterBackend struct {
	wait, decode, replay time.Duration
}

type stats struct {
	funcs, remote  int
	cost, remoteCt int64
	local          map[string]int
	bytes          int
	assembly       time.Duration // of the workers' functions
	fallback       time.Duration
	details        []string
}

// keepLocal counts n functions that stay local. The reason's text up to
// the first ": " is its category in the statistics line; the whole
// reason is kept for -d=distssastats=2.
func (s *stats) keepLocal(reason string, n int) {
	if s.local == nil {
		s.local = make(map[string]int)
	}
	key := reason
	if i := strings.Index(reason, ": "); i >= 0 {
		key = reason[:i]
		s.details = append(s.details, reason)
	}
	s.local[key] += n
}

var current *split

// calls counts compileFunctions calls; only the first, which holds every
// function of the package's source, is split. Later calls compile
// functions made while writing data (gc/obj.go), which stay local.
var calls int

// planSplit decides which functions go to workers, starts the jobs and
// returns the functions to compile here.
func planSplit(queue []*ir.Func) []*ir.Func {
	t0 := time.Now()
	calls++
	ws := workers
	workers = nil
	if spec.Transport == Local || calls > 1 {
		closeWorkers(ws)
		closeAgent()
		return queue
	}
	s := &split{}
	current = s
	s.stats.funcs = len(queue)
	s.costs = make(map[*ir.Func]int64, len(queue))
	for _, fn := range queue {
		c := cost(fn)
		s.costs[fn] = c
		s.stats.cost += c
	}
	reason := compileReason() // then startWorkers started none
	if reason == "" && len(queue) < 2 {
		reason = "small package"
	}
	if reason == "" && spec.Transport == Agent {
		ws, reason = agentWorkers() // the GRANT came before the front end
	}
	if reason != "" {
		closeWorkers(ws)
		closeAgent()
		s.stats.keepLocal(reason, len(queue))
		return queue
	}
	s.clock.last = started
	s.clock.mark("start", placed)
	s.clock.mark("front end", t0)
	s.fp = Fingerprint(queue)
	result.InstallDwarfHook()

	var local []*ir.Func
	remote := queue
	// Balance estimated cost over the workers and this process: the
	// client takes one share, the workers the others; under
	// -d=distssaforce=1 the client takes none.
	n := len(ws) // spec.Workers for exec, the grant for the agent
	first := 0
	if base.Debug.DistSSAForce != 0 {
		first = 1
	}
	bins := make([][]*ir.Func, n+1)
	load := make([]int64, n+1)
	costs, total := s.costs, s.stats.cost
	// The client also decodes, replays and assembles the workers'
	// functions: start its share with some load for that. (Measured on
	// net/http with exec:1: a fifth of the cost made the client wait for
	// its worker; a tenth balances them better.)
	load[0] = total / 10
	sorted := append([]*ir.Func(nil), remote...)
	sort.SliceStable(sorted, func(i, j int) bool { return costs[sorted[i]] > costs[sorted[j]] })
	for _, fn := range sorted {
		best := first
		for b := first + 1; b <= n; b++ {
			if load[b] < load[best] {
				best = b
			}
		}
		// Ties go to a worker: the client also assembles everything.
		if best == 0 {
			for b := 1; b <= n; b++ {
				if load[b] == load[0] {
					best = b
					break
				}
			}
		}
		bins[best] = append(bins[best], fn)
		load[best] += costs[fn]
	}
	local = append(local, bins[0]...)
	if len(bins[0]) > 0 {
		s.stats.keepLocal("client share", len(bins[0]))
	}
	for i, fns := range bins[1:] {
		w := ws[i]
		if len(fns) == 0 {
			closeWorkers([]Worker{w})
			continue
		}
		names := make([]string, len(fns))
		for i, fn := range fns {
			names[i] = result.FuncKey(fn.LSym)
		}
		w.Send(result.EncodeJob(s.fp, names))
		w.Close()
		splitUsed = true
		s.shards = append(s.shards, &shard{w: w, id: i + 1, fns: fns, dec: result.NewDecoder(), end: len(fns)})
	}
	// Keep the compile order of the local share as the queue had it.
	inLocal := make(map[*ir.Func]bool, len(local))
	for _, fn := range local {
		inLocal[fn] = true
	}
	out := queue[:0:0]
	for _, fn := range queue {
		if inLocal[fn] {
			out = append(out, fn)
		}
	}
	s.clock.mark("plan", time.Now())
	return out
}

// cost estimates a function's backend cost by the size of its IR,
// closures included.
func cost(fn *ir.Func) int64 {
	var n int64
	for _, f := range result.GroupFuncs(fn) {
		n++
		ir.VisitList(f.Body, func(ir.Node) { n++ })
	}
	return n
}

// finishSplit runs after the local share is compiled: it collects the
// workers' results, assembles what they compiled and compiles the rest
// here, with the backend's state set up as compileFunctions sets it. It
// returns the split it finished, or nil.
func finishSplit() *split {
	s := current
	current = nil
	if s == nil {
		return nil
	}
	defer func(calc, par bool) {
		types.CalcSizeDisabled, base.Ctxt.InParallel = calc, par
	}(types.CalcSizeDisabled, base.Ctxt.InParallel)
	types.CalcSizeDisabled = true
	base.Ctxt.InParallel = true
	if len(s.clock.phases) > 0 {
		s.clock.mark("backend", time.Now())
	}
	takeBack := base.Debug.DistSSAForce == 0
	for {
		var open []*shard
		progress := false
		for _, sh := range s.shards {
			if !sh.over && s.take(sh, false) {
				progress = true
			}
			if !sh.over {
				open = append(open, sh)
			}
		}
		if len(open) == 0 {
			break
		}
		if progress {
			continue
		}
		// Nothing to replay: compile here the last function of the shard
		// with the most left, rather than wait for it.
		sh := open[0]
		for _, o := range open[1:] {
			if o.end-o.next > sh.end-sh.next {
				sh = o
			}
		}
		if !takeBack || sh.next == sh.end {
			s.take(open[0], true)
			continue
		}
		sh.end--
		s.fallback(sh.fns[sh.end:sh.end+1], "taken back")
		s.settle(sh, false)
	}
	var asm time.Duration
	for _, sh := range s.shards {
		asm += sh.dec.Result().Assembly
	}
	s.stats.assembly += asm
	t := s.times
	s.clock.add("wait", t.wait)
	s.clock.add("decode", t.decode)
	s.clock.add("replay", t.replay-asm)
	s.clock.add("assembly", asm)
	s.clock.add("local compile", s.stats.fallback)
	return s
}

// take takes what arrived of sh's result, waiting for it if wait, and
// replays it. It reports whether anything arrived.
func (s *split) take(sh *shard, wait bool) bool {
	t0 := time.Now()
	data, end, at, err := sh.w.Recv(wait)
	t1 := time.Now()
	s.times.wait += t1.Sub(t0)
	s.stats.bytes += len(data)
	arrived := len(data) > 0 || end
	fb := s.stats.fallback
	if len(sh.part) > 0 {
		// Through the agent, the result's bytes come in pieces that
		// need not end with a chunk.
		data = append(sh.part, data...)
		sh.part = nil
	}
	for len(data) > 0 && !sh.over {
		frame, rest, cerr := result.NextChunk(data)
		if cerr == result.ErrTruncated && !end {
			sh.part = append([]byte(nil), data...)
			break
		}
		var groups []*result.Group
		if cerr == nil {
			groups, cerr = sh.dec.Chunk(frame)
		}
		if cerr == nil && sh.dec.Result().Fingerprint != s.fp {
			s.drop(sh, "fingerprint mismatch: in the result")
			break
		}
		if cerr == nil && len(sh.dec.Result().Groups) > len(sh.fns) {
			cerr = fmt.Errorf("%d results for %d functions", len(sh.dec.Result().Groups), len(sh.fns))
		}
		if cerr != nil {
			s.drop(sh, "bad result: "+cerr.Error())
			break
		}
		sh.groups = append(sh.groups, groups...)
		data = rest
	}
	s.times.decode += time.Since(t1) - (s.stats.fallback - fb)
	if !sh.over {
		s.replay(sh)
	}
	if end && !sh.over {
		switch {
		case err != nil:
			s.drop(sh, classify(err)+": "+err.Error())
		case !sh.dec.Ended():
			s.drop(sh, "bad result: "+result.ErrTruncated.Error())
		case sh.next < sh.end:
			s.drop(sh, fmt.Sprintf("bad result: %d results for %d functions", len(sh.dec.Result().Groups), len(sh.fns)))
		}
	}
	if sh.dec.Ended() && !sh.timed {
		sh.timed = true
		s.clock.worker(sh.id, sh.dec.Result().Phases, at)
	}
	s.settle(sh, end)
	return arrived
}

// replay replays the groups of sh that arrived, in the job's order, up
// to those taken back.
func (s *split) replay(sh *shard) {
	t0 := time.Now()
	fb := s.stats.fallback
	defer func() { s.times.replay += time.Since(t0) - (s.stats.fallback - fb) }()
	res := sh.dec.Result()
	for len(sh.groups) > 0 && sh.next < sh.end {
		g := sh.groups[0]
		sh.groups = sh.groups[1:]
		fn := sh.fns[sh.next]
		if g.Name != result.FuncKey(fn.LSym) {
			s.drop(sh, "bad result: out of order")
			return
		}
		sh.next++
		if g.Reason != "" {
			s.fallback([]*ir.Func{fn}, g.Reason)
			continue
		}
		if err := res.Replay(g, fn); err != nil {
			s.fallback([]*ir.Func{fn}, "bad result: "+err.Error())
			continue
		}
		s.stats.remote++
		s.stats.remoteCt += s.costs[fn]
	}
}

// drop compiles here what is left of sh, for reason, and gives up its
// worker.
func (s *split) drop(sh *shard, reason string) {
	s.fallback(sh.fns[sh.next:sh.end], reason)
	sh.next = sh.end
	sh.groups = nil
	if !sh.over {
		sh.over = true
		sh.w.Cancel()
	}
}

// settle ends sh once its result ended, or once every function of it
// is replayed or compiled here and some were taken back: a worker still
// at work is cancelled. A worker that delivered every function is left
// to send the end of its result, its phases.
func (s *split) settle(sh *shard, end bool) {
	if sh.over || !end && (sh.next < sh.end || sh.end == len(sh.fns)) {
		return
	}
	sh.over = true
	if !end {
		sh.w.Cancel()
	}
}

// finish ends a split compile at its exit: it prints the statistics
// (-d=distssastats) and sends them to the agent, if the compile has one,
// c.
func (s *split) finish(c *agentclient.Conn) {
	if len(s.clock.phases) > 0 {
		s.clock.mark("dumpobj", time.Now())
	}
	if base.Debug.DistSSAStats != 0 {
		s.stats.print()
		s.clock.print()
	}
	if c != nil {
		c.Finish(s.summary())
	}
}

// summary is the split's STATS for the agent; nil for no split.
func (s *split) summary() *agentclient.Stats {
	if s == nil {
		return nil
	}
	st := &s.stats
	return &agentclient.Stats{
		PkgPath:     base.Ctxt.Pkgpath,
		Funcs:       uint64(st.funcs),
		Remote:      uint64(st.remote),
		Cost:        uint64(st.cost),
		RemoteCost:  uint64(st.remoteCt),
		ResultBytes: uint64(st.bytes),
		Phases:      s.clock.stats(),
	}
}

// classify names the category of a worker's failure.
func classify(err error) string {
	if strings.Contains(err.Error(), "fingerprint") {
		return "fingerprint mismatch" // the worker refused the job
	}
	return "worker failed"
}

// fallback compiles functions here, in this goroutine.
func (s *split) fallback(fns []*ir.Func, reason string) {
	if len(fns) == 0 {
		return
	}
	t0 := time.Now()
	s.stats.keepLocal(reason, len(fns))
	for _, fn := range fns {
		compileGroup(fn)
	}
	s.stats.fallback += time.Since(t0)
}

func (st *stats) print() {
	var reasons []string
	for r, n := range st.local {
		reasons = append(reasons, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(reasons)
	share := 0.0
	if st.cost > 0 {
		share = 100 * float64(st.remoteCt) / float64(st.cost)
	}
	fmt.Fprintf(os.Stderr, "distssa: %s: %d/%d functions remote, %.1f%% of estimated cost (%d/%d), %d result bytes; local: %s\n",
		base.Ctxt.Pkgpath, st.remote, st.funcs, share, st.remoteCt, st.cost, st.bytes,
		strings.Join(reasons, ", "))
	if base.Debug.DistSSAStats > 1 {
		for _, d := range st.details {
			fmt.Fprintf(os.Stderr, "distssa: %s: local: %s\n", base.Ctxt.Pkgpath, d)
		}
	}
}
