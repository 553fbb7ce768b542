// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// The client side: plan the split, ship jobs, compile the local share,
// then take the workers' results, replay them and assemble them. Any
// fault sends the affected functions back to the local backend.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/ssagen"
	"cmd/compile/internal/types"
	"cmd/internal/obj"
)

// A Transport provides workers. A worker starts as the compile starts,
// so that its front end runs while the client's does, and gets its job
// (the functions to compile) once the client's front end is done.
type Transport interface {
	// Start launches a worker.
	Start() Worker
}

// Worker is a worker that a Transport started.
type Worker interface {
	// Send hands the worker its job. A worker that gets no job before
	// Close exits without compiling anything.
	Send(job []byte)
	// Close ends the job stream.
	Close()
	// Wait returns the job's result, or an error if the worker failed.
	Wait() ([]byte, error)
}

// execTimeout bounds a worker process of the exec transport.
const execTimeout = 10 * time.Minute

// execTransport runs each worker as a child process of this compiler,
// which reruns this compile's command line in worker mode. The job goes
// to the child's standard input; the result comes back in a file.
type execTransport struct{}

type execWorker struct {
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
	err   error
	done  chan struct{}
}

func (execTransport) Start() Worker {
	w := &execWorker{done: make(chan struct{})}
	fail := func(err error) Worker {
		w.err = err
		close(w.done)
		return w
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	w.dir, err = os.MkdirTemp("", "distssa-")
	if err != nil {
		return fail(err)
	}
	w.cmd = exec.Command(exe, execWorkerArgs(w.dir, os.Args[1:])...)
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		return fail(err)
	}
	if err := w.cmd.Start(); err != nil {
		return fail(err)
	}
	go func() {
		timer := time.AfterFunc(execTimeout, func() { w.cmd.Process.Kill() })
		w.err = w.cmd.Wait()
		timer.Stop()
		close(w.done)
	}()
	return w
}

func (w *execWorker) Send(job []byte) {
	if w.stdin != nil {
		// A worker that died already shows up in Wait.
		w.stdin.Write(job)
	}
}

func (w *execWorker) Close() {
	if w.stdin != nil {
		w.stdin.Close()
	}
}

func (w *execWorker) Wait() ([]byte, error) {
	<-w.done
	if w.dir != "" {
		defer os.RemoveAll(w.dir)
	}
	if w.err != nil {
		return nil, fmt.Errorf("worker: %v: %s", w.err, lastLine(w.out.String()))
	}
	return os.ReadFile(filepath.Join(w.dir, resultFile))
}

// workers are the workers started for this compile, if any.
var workers []Worker

// startWorkers launches the workers of the exec transport, unless this
// compile is one that stays local as a whole.
func startWorkers() {
	if Config.Transport == Agent {
		// Every compile asks the agent: it holds a local token while it
		// runs here, and it may run as a whole on a worker.
		startAgent()
		return
	}
	if Config.Transport == Local || compileReason() != "" {
		return
	}
	var t Transport = execTransport{}
	for i := 0; i < Config.Workers; i++ {
		workers = append(workers, t.Start())
	}
}

// compileReason says why every function of this compile stays local, or
// returns "". It depends on flags only, so that it can be decided before
// the front end runs.
func compileReason() string {
	switch {
	case os.Getenv("GOSSAFUNC") != "":
		return "GOSSAFUNC"
	case base.Flag.S != 0:
		return "-S"
	case base.Flag.LowerM != 0 || base.Flag.Live != 0 || base.Flag.JSON != "":
		return "diagnostic flags"
	}
	return ""
}

// closeWorkers tells workers that got no job to exit, and reaps them.
func closeWorkers(ws []Worker) {
	for _, w := range ws {
		w.Close()
	}
	for _, w := range ws {
		w.Wait()
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// split is the state of one compileFunctions call on the client.
type split struct {
	fp      [32]byte
	pending []Worker
	shards  [][]*ir.Func // the functions of each job
	stats   stats
}

type stats struct {
	funcs, remote  int
	cost, remoteCt int64
	local          map[string]int
	bytes          int
	decode, replay time.Duration
	wait           time.Duration
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
	calls++
	ws := workers
	workers = nil
	if Config.Transport == Local || calls > 1 {
		closeWorkers(ws)
		closeAgent()
		return queue
	}
	s := &split{}
	current = s
	s.stats.funcs = len(queue)
	for _, fn := range queue {
		s.stats.cost += cost(fn)
	}
	reason := compileReason() // then startWorkers started none
	if reason == "" && len(queue) < 2 {
		reason = "small package"
	}
	if reason == "" && Config.Transport == Agent {
		ws, reason = agentWorkers(s) // the GRANT came before the front end
	}
	if reason != "" {
		closeWorkers(ws)
		closeAgent()
		s.stats.keepLocal(reason, len(queue))
		return queue
	}
	s.fp = Fingerprint(queue)
	installDwarfHook()

	var local []*ir.Func
	remote := queue
	// Balance estimated cost over the workers and this process: the
	// client takes one share, the workers the others; under
	// -d=distssaforce=1 the client takes none.
	n := len(ws) // Config.Workers for exec, the grant for the agent
	first := 0
	if base.Debug.DistSSAForce != 0 {
		first = 1
	}
	bins := make([][]*ir.Func, n+1)
	load := make([]int64, n+1)
	costs := make(map[*ir.Func]int64, len(remote))
	var total int64
	for _, fn := range remote {
		costs[fn] = cost(fn)
		total += costs[fn]
	}
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
	for i, shard := range bins[1:] {
		w := ws[i]
		if len(shard) == 0 {
			closeWorkers([]Worker{w})
			continue
		}
		names := make([]string, len(shard))
		for i, fn := range shard {
			names[i] = funcKey(fn.LSym)
		}
		w.Send(encodeJob(s.fp, names))
		w.Close()
		splitUsed = true
		s.shards = append(s.shards, shard)
		s.pending = append(s.pending, w)
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
	return out
}

// cost estimates a function's backend cost by the size of its IR,
// closures included.
func cost(fn *ir.Func) int64 {
	var n int64
	for _, f := range groupFuncs(fn) {
		n++
		ir.VisitList(f.Body, func(ir.Node) { n++ })
	}
	return n
}

// finishSplit runs after the local share is compiled: it collects the
// workers' results, assembles what they compiled and compiles the rest
// here, with the backend's state set up as compileFunctions sets it.
func finishSplit() {
	s := current
	current = nil
	if s == nil {
		return
	}
	defer func(calc, par bool) {
		types.CalcSizeDisabled, base.Ctxt.InParallel = calc, par
	}(types.CalcSizeDisabled, base.Ctxt.InParallel)
	types.CalcSizeDisabled = true
	base.Ctxt.InParallel = true
	for i, p := range s.pending {
		t0 := time.Now()
		data, err := p.Wait()
		s.stats.wait += time.Since(t0)
		shard := s.shards[i]
		if err != nil {
			s.fallback(shard, classify(err)+": "+err.Error())
			continue
		}
		s.stats.bytes += len(data)
		t0 = time.Now()
		fp, groups, rv, err := decodeResult(data)
		s.stats.decode += time.Since(t0)
		if err == nil && fp != s.fp {
			s.fallback(shard, "fingerprint mismatch: in the result")
			continue
		}
		if err == nil && len(groups) != len(shard) {
			err = fmt.Errorf("%d results for %d functions", len(groups), len(shard))
		}
		if err != nil {
			s.fallback(shard, "bad result: "+err.Error())
			continue
		}
		for j, g := range groups {
			fn := shard[j]
			if g.name != funcKey(fn.LSym) {
				s.fallback(shard[j:], "bad result: out of order")
				break
			}
			if g.reason != "" {
				s.fallback([]*ir.Func{fn}, g.reason)
				continue
			}
			t0 := time.Now()
			err := replayGroup(fn, g, rv)
			s.stats.replay += time.Since(t0)
			if err != nil {
				s.fallback([]*ir.Func{fn}, "bad result: "+err.Error())
				continue
			}
			s.stats.remote++
			s.stats.remoteCt += cost(fn)
		}
	}
	if base.Debug.DistSSAStats != 0 {
		s.stats.print()
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
	fmt.Fprintf(os.Stderr, "distssa: %s: %d/%d functions remote, %.1f%% of estimated cost (%d/%d), %d result bytes, wait %v, decode %v, replay %v, local compile %v; local: %s\n",
		base.Ctxt.Pkgpath, st.remote, st.funcs, share, st.remoteCt, st.cost, st.bytes,
		st.wait.Round(time.Millisecond), st.decode.Round(time.Microsecond), st.replay.Round(time.Microsecond), st.fallback.Round(time.Millisecond),
		strings.Join(reasons, ", "))
	if base.Debug.DistSSAStats > 1 {
		for _, d := range st.details {
			fmt.Fprintf(os.Stderr, "distssa: %s: local: %s\n", base.Ctxt.Pkgpath, d)
		}
	}
}

// replayGroup installs a group's decoded functions and assembles them. It
// returns an error, having changed nothing, if the result does not fit.
func replayGroup(fn *ir.Func, g *decodedGroup, rv *resolver) error {
	fns := groupFuncs(fn)
	if len(fns) != len(g.funcs) {
		return fmt.Errorf("%d functions in the result, %d here", len(g.funcs), len(fns))
	}
	// Check everything before changing anything: a failed check sends
	// the group to the local backend, which must find it untouched.
	for i, f := range fns {
		if f.LSym.Name != g.funcs[i].name || f.LSym.ABI() != g.funcs[i].progs[0].From.Sym.ABI() {
			return fmt.Errorf("function %d is %s here, %s in the result", i, funcKey(f.LSym), funcKey(g.funcs[i].progs[0].From.Sym))
		}
		if f.LSym.Attribute != g.funcs[i].attr {
			return fmt.Errorf("%s: symbol attributes %#x here, %#x in the result", f.LSym.Name, f.LSym.Attribute, g.funcs[i].attr)
		}
		if n := len(f.LSym.R); n != g.funcs[i].rbase {
			return fmt.Errorf("%s: %d relocations here, %d on the worker before its backend", f.LSym.Name, n, g.funcs[i].rbase)
		}
		if d := g.funcs[i].dwarf; (d != nil) != (base.Ctxt.DebugInfo != nil) {
			return fmt.Errorf("%s: DWARF in the result %v, here %v", f.LSym.Name, d != nil, base.Ctxt.DebugInfo != nil)
		} else if d != nil {
			if err := d.check(f); err != nil {
				return fmt.Errorf("%s: DWARF: %v", f.LSym.Name, err)
			}
		}
		for _, c := range g.funcs[i].slots {
			if c == nil {
				continue
			}
			if ex := rv.existing(c.sym); ex != nil && !sameContent(ex, c, rv) {
				return fmt.Errorf("symbol %s already has other content", c.sym.Name)
			}
		}
	}
	sig, gc, fs, err := g.types.resolve(lazyTypeIndex(fn, nil))
	if err != nil {
		return err
	}
	replayTypes(sig, gc, fs)
	// Content symbols first, so that no lookup creates them empty.
	for i, f := range fns {
		slots := funcInfoSlots(f.LSym.Func())
		for k, c := range g.funcs[i].slots {
			if c != nil {
				*slots[k] = rv.content(c)
			}
		}
	}
	for i, f := range fns {
		d := g.funcs[i]
		fi := f.LSym.Func()
		for _, p := range d.progs {
			rv.addr(&p.From)
			rv.addr(&p.To)
			for j := range p.RestArgs {
				rv.addr(&p.RestArgs[j].Addr)
			}
		}
		fi.Text = d.progs[0]
		for j, p := range d.refs.inlProgs {
			fi.AddInlMark(p, d.refs.inlIDs[j])
		}
		for j, jt := range d.refs.jumpTables {
			jt.Sym = rv.sym(jt.Sym)
			jt.Sym.Attribute = d.refs.jumpAttrs[j]
			fi.JumpTables = append(fi.JumpTables, jt)
		}
		for _, sp := range d.spills {
			rv.addr(&sp.Addr)
			fi.AddSpill(sp)
		}
		for _, r := range d.relocs {
			r.Sym = rv.sym(r.Sym)
			f.LSym.R = append(f.LSym.R, r)
		}
		if !f.WBPos.IsKnown() {
			f.WBPos = d.wbPos
		}
		for _, c := range d.nwbr {
			if f.NWBRCalls == nil {
				f.NWBRCalls = new([]ir.SymAndPos)
			}
			*f.NWBRCalls = append(*f.NWBRCalls, ir.SymAndPos{Sym: rv.sym(c.Sym), Pos: c.Pos})
		}
		if d.dwarf != nil {
			d.dwarf.resolve(rv)
			expectDwarf(f, d.dwarf, d.progs)
		}
		plist := &obj.Plist{Firstpc: d.progs[0], Curfn: f}
		obj.Flushplist(base.Ctxt, plist, newProg, base.Ctxt.Pkgpath)
		ssagen.AfterFlush(f)
	}
	return nil
}

// sameContent reports whether an existing symbol has exactly the content
// a worker shipped (content-addressed symbols that local functions made
// too).
func sameContent(s *obj.LSym, c *content, rv *resolver) bool {
	if !bytes.Equal(s.P, c.p) || s.Size != c.size || len(s.R) != len(c.r) {
		return false
	}
	for i, r := range s.R {
		want := c.r[i]
		if r.Type != want.Type || r.Off != want.Off || r.Siz != want.Siz || r.Add != want.Add || r.Sym != rv.existing(want.Sym) {
			return false
		}
	}
	return true
}
