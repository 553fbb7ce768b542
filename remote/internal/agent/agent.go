// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package agent is the per-build agent: it serves the compiles of one
// build on a unix socket (PROTOCOL.md §1), grants each compile workers
// out of the slots of all hosts (accounted across the concurrent compiles
// of the build), and runs each granted worker's job on a worker daemon
// over TCP (PROTOCOL.md §3). Every failure becomes a failed RESULT, so
// the compiler compiles those functions itself.
package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"distssa/remote/internal/auth"
	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/wire"
)

// Config configures an Agent. Zero fields take the defaults below.
type Config struct {
	Hosts          []hosts.Host
	HostsFile      string  // for messages
	Strict         bool    // remote failure is an error of the build (see README)
	MinCost        int64   // bytes of .go source below which a compile stays local (compared in time: estimate.go)
	BytesPerWorker int64   // source bytes that justify one more worker
	MaxPerCompile  int     // workers granted to one compile at most
	LocalTokens    int     // local CPU tokens (the go command's -p)
	SplitCost      int64   // bytes of .go source from which a compile splits when it can (compared in time: estimate.go)
	Force          string  // "", or "local", "whole", "split": the placement of every compile that can take it (tests)
	Work           string  // the go command's $WORK, for the workers' result cache keys
	Trace          string  // a file for the build trace (report.go), written at Close; "" for none
	Verify         float64 // share of remote compiles verified locally, for hosts without verify= (DISTSSA_VERIFY)
	Costs          string  // the cost history file (estimate.go), read at New and written at Close; "" for none
	Graph          string  // the go command's build graph (estimate.go); "" for none

	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	RequestTimeout   time.Duration // a round trip before the job (query, start)
	ResultTimeout    time.Duration // from the job to its result
	StallTimeout     time.Duration // silence of a worker that owes an answer (it sends Working every 3 s)
	SilentAfter      time.Duration // silence of a worker whose whole compile a local race answered that counts as a stall (wholecompile.go)
	IdleConnAge      time.Duration // pooled connections older than this are closed
	HedgeAfter       time.Duration // a result this late is also asked of another host; < 0: never
	RaceAfter        time.Duration // a whole compile this long past twice its estimate is raced here (wholecompile.go); < 0: never
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, 3*time.Second)
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.RequestTimeout, 2*time.Minute)
	def(&c.ResultTimeout, 10*time.Minute)
	def(&c.StallTimeout, 20*time.Second)
	def(&c.SilentAfter, 6*time.Second) // two of the worker's Working
	def(&c.IdleConnAge, time.Minute)
	def(&c.HedgeAfter, 20*time.Second)
	def(&c.RaceAfter, 2*time.Second)
	if c.MinCost == 0 {
		c.MinCost = DefaultMinCost
	}
	if c.BytesPerWorker == 0 {
		c.BytesPerWorker = DefaultBytesPerWorker
	}
	if c.MaxPerCompile == 0 {
		c.MaxPerCompile = DefaultMaxPerCompile
	}
	if c.LocalTokens <= 0 {
		c.LocalTokens = DefaultLocalTokens
	}
	if c.SplitCost == 0 {
		c.SplitCost = DefaultSplitCost
	}
}

// Agent serves one build.
type Agent struct {
	cfg    Config
	hosts  []*host
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ids    *hashCache // compile binaries
	files  *hashCache // inputs
	tr     *tracer    // nil without Config.Trace
	costs  *costs
	graph  *graph   // nil without Config.Graph, or if it did not load
	notes  []string // for the -v summary: a history or graph that did not load

	pol Policy // placement decisions (policy.go)
	st  *stats // counters for the summary

	mu        sync.Mutex // guards the scheduler (sched.go) and the fields below
	ln        net.Listener
	rr        int // round-robin start for slot allocation
	localFree int // free local tokens
	waiters   []*waiter
	occ       occupancy
	// The build's paces, for the policy's predictions (policy.go).
	herePace, wholePace paceMeter
	start               time.Time
	rng                 *rand.Rand // sampled verification
}

// New makes an agent for the hosts; it reads their token files (or takes
// DISTSSA_TOKEN) and fails naming the hosts file and line.
func New(cfg Config) (*Agent, error) {
	cfg.defaults()
	a := &Agent{cfg: cfg, pol: cfg.policy(), st: newStats(), ids: newHashCache(), files: newInputCache(),
		localFree: cfg.LocalTokens, start: time.Now(), rng: rand.New(rand.NewSource(time.Now().UnixNano()))}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if cfg.Trace != "" {
		a.tr = newTracer()
	}
	var err error
	if a.costs, err = loadCosts(cfg.Costs); err != nil {
		a.notes = append(a.notes, err.Error())
	}
	if cfg.Graph != "" {
		if a.graph, err = loadGraph(cfg.Graph, a.costs); err != nil {
			// The build goes on, its compiles ordered by cost alone.
			fmt.Fprintf(os.Stderr, "distssa-agent: %v; compiles are ordered by their cost alone\n", err)
			a.notes = append(a.notes, err.Error())
		}
	}
	envTok, err := auth.EnvToken()
	if err != nil {
		return nil, err
	}
	for _, h := range cfg.Hosts {
		hh := &host{Host: h, free: h.Slots, idle: map[string][]*wconn{}, verify: cfg.Verify}
		if h.VerifySet {
			hh.verify = h.Verify
		}
		hh.token = envTok
		if h.TokenFile != "" {
			t, err := auth.ReadToken(h.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", cfg.HostsFile, h.Line, err)
			}
			hh.token = t
		}
		if h.TLSFile != "" {
			c, err := wire.ClientTLS(h.Addr, h.TLSFile, h.CertFile, h.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", cfg.HostsFile, h.Line, err)
			}
			hh.tls = c
		}
		a.hosts = append(a.hosts, hh)
	}
	return a, nil
}

// Serve accepts compiles on ln until Close.
func (a *Agent) Serve(ln net.Listener) error {
	a.mu.Lock()
	a.ln = ln
	a.mu.Unlock()
	if a.ctx.Err() != nil {
		ln.Close() // Close ran before Serve
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if a.ctx.Err() != nil {
				return nil
			}
			return err
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer c.Close()
			a.serveCompile(c)
		}()
	}
}

// Close stops accepting, cancels outstanding remote work, and waits
// (boundedly) for the compiles' handlers to end.
func (a *Agent) Close() {
	a.cancel()
	a.mu.Lock()
	if a.ln != nil {
		a.ln.Close()
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	for _, h := range a.hosts {
		h.closeIdle()
	}
	if err := a.tr.write(a.cfg.Trace); err != nil {
		fmt.Fprintf(os.Stderr, "distssa-agent: trace: %v\n", err)
	}
	if err := a.costs.save(); err != nil {
		fmt.Fprintf(os.Stderr, "distssa-agent: %v\n", err)
	}
}

// Failures returns the failed remote work so far, one line each.
func (a *Agent) Failures() []string { return a.st.failed() }

func (a *Agent) fail(msg string) { a.st.fail(msg) }

// sample tells whether to verify a compile placed on hs, as the policy
// samples (verifyRate, sample).
func (a *Agent) sample(hs ...*host) bool {
	rates := make([]float64, len(hs))
	for i, h := range hs {
		rates[i] = h.verify
	}
	a.mu.Lock()
	ok := sample(verifyRate(rates...), a.rng.Float64)
	a.mu.Unlock()
	if ok {
		a.st.inc(&a.st.verifies)
	}
	return ok
}

// verdict takes a verifying compile's VERDICT. A difference is loud: it
// is printed at once, counts as a failure (which fails the build in
// strict mode) and quarantines the hosts of the compile for the rest of
// the build. The compile has kept its local outputs.
func (a *Agent) verdict(c *compile, v *localproto.Verdict) {
	if len(c.verifyHosts) == 0 {
		return // not asked for: ignore
	}
	if v.Match == 1 {
		a.st.inc(&a.st.verified)
		return
	}
	var names []string
	for _, h := range c.verifyHosts {
		names = append(names, h.Addr)
	}
	msg := fmt.Sprintf("VERIFY MISMATCH: %s compiled on %s differs from a local compile (%s); the local object is kept, and %s gets no more work in this build",
		c.pkg(), strings.Join(names, ", "), v.Msg, strings.Join(names, ", "))
	fmt.Fprintf(os.Stderr, "distssa-agent: %s\n", msg)
	a.fail(msg)
	a.st.inc(&a.st.mismatches)
	for _, h := range c.verifyHosts {
		a.refuse(h, c.in.target(), "quarantined: "+msg)
	}
	c.verifyHosts = nil // one verdict a compile
}

// compile is the state of one compile's connection.
type compile struct {
	a     *Agent
	conn  net.Conn
	wmu   sync.Mutex
	hello *localproto.Hello
	jobs  []chan []byte // one per granted worker
	ctx   context.Context

	inOnce sync.Once
	in     *inputs
	inErr  error

	verifyHosts []*host       // the hosts of a compile chosen for verification, until its VERDICT
	costKey     string        // the compile's key in the cost history ("" if its inputs failed)
	est         time.Duration // its estimated cost (request.cost)
	why         string        // the rule that placed it, with its predictions (decision.why)

	// The trace of a split: where each share ran, and the phases of
	// its STATS (report.go).
	shares []shareSpan
	phases []localproto.Phase
}

func (c *compile) send(m localproto.Msg) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	return localproto.Write(c.conn, m)
}

func (a *Agent) serveCompile(conn net.Conn) {
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	r := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	m, err := localproto.Read(r)
	if err != nil {
		return
	}
	// From now on one goroutine reads the connection: its end (the peer
	// closed, or died) cancels everything, also while the peer waits to
	// be placed.
	conn.SetReadDeadline(time.Time{})
	go func() { <-ctx.Done(); conn.SetReadDeadline(time.Now()) }()
	msgs := make(chan localproto.Msg)
	var exited atomic.Bool // the peer closed the connection between messages
	go func() {
		defer cancel()
		for {
			m, err := localproto.Read(r)
			if err != nil {
				exited.Store(errors.Is(err, io.EOF))
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	if h, ok := m.(*localproto.Hold); ok {
		a.serveHold(ctx, conn, h.What, &exited)
		return
	}
	hello, ok := m.(*localproto.Hello)
	if !ok || hello.Version != localproto.Version {
		localproto.Write(conn, &localproto.Grant{Reason: "bad hello"})
		return
	}
	c := &compile{a: a, conn: conn, hello: hello, ctx: ctx}
	t0 := time.Now()
	req := a.plan(c)
	p, err := a.place(ctx, req)
	if err != nil {
		return
	}
	a.reportPlaced(c, &req, &p, t0)
	c.run(p, cancel, msgs, &exited)
}

// reportPlaced traces how long a compile waited for its placement, and
// counts it and the rule that placed it.
func (a *Agent) reportPlaced(c *compile, req *request, p *placement, t0 time.Time) {
	if placed := time.Now(); placed.Sub(t0) > time.Millisecond {
		l := a.tr.take("waiting for a token or slot")
		a.tr.span(l, c.pkg(), t0, placed, nil)
		a.tr.release(l)
	}
	c.why = p.why
	a.st.placed(req, p)
}

// run runs a placed compile: whole on a worker (wholecompile.go), or here with
// the split's workers, if any, until the compiler closes.
func (c *compile) run(p placement, cancel context.CancelFunc, msgs <-chan localproto.Msg, exited *atomic.Bool) {
	a := c.a
	if p.kind == localproto.KindWhole {
		reason := c.runWhole(p.hosts[0])
		if reason == "" {
			return // the compile is answered, went away, or the build ends
		}
		// The compile runs here (the whole compile failed remotely, or
		// is verified), with the local token that runWhole took for it.
		p = placement{kind: localproto.KindLocal, reason: reason}
	} else {
		g := &localproto.Grant{N: uint64(len(p.hosts)), Reason: p.reason}
		if len(p.hosts) > 0 && a.sample(p.hosts...) {
			g.Verify, c.verifyHosts = 1, p.hosts
		}
		if err := c.send(g); err != nil {
			a.unplace(p)
			return
		}
	}
	defer a.releaseLocal()
	l, start := a.tr.take("local tokens"), time.Now()
	defer func() {
		end := time.Now()
		a.tr.span(l, c.pkg(), start, end, map[string]any{"placement": "local", "workers": len(p.hosts), "reason": p.reason, "why": c.why})
		c.tracePhases(l, start, end)
		a.tr.release(l)
	}()
	a.st.ranHere(&p)
	c.runSplit(cancel, msgs, p.hosts)
	if exited.Load() && p.reason != reasonVerify {
		// The compile ran here to its exit, which closed the
		// connection (a verification ran it twice, once remotely).
		// A split measures its front-end share, not the package's
		// cost: its time is not the compile's time here.
		d := time.Since(start)
		if len(p.hosts) > 0 {
			c.learnSplit(d, len(p.hosts))
			return
		}
		c.learn(d)
		a.addPace(&a.herePace, d, c.est)
	}
}

// learnSplit records the front-end share that a split over k workers
// that took d implies (policy.go), for the package's next splits.
func (c *compile) learnSplit(d time.Duration, k int) {
	a := c.a
	if c.costKey == "" || c.est <= 0 {
		return
	}
	a.mu.Lock()
	here := float64(c.est) * pace(a.herePace.value())
	a.mu.Unlock()
	a.costs.recordFront(c.costKey, frontOf(float64(d)/here, k))
}

// learnWhole records a whole compile's time on the worker (from its
// cache, the time it took when compiled), or the round trip rt if the
// worker did not say. A compile that failed on the worker measured
// nothing about the package.
func (c *compile) learnWhole(d *wire.Whole, rt time.Duration) {
	if d.Status != 0 || d.Exit != 0 {
		return
	}
	if d.RunNs > 0 {
		c.learn(time.Duration(d.RunNs))
		return
	}
	c.learn(rt)
}

// learn records the compile's measured time in the cost history.
func (c *compile) learn(d time.Duration) {
	if c.costKey != "" {
		c.a.costs.record(c.costKey, d, c.in.cost)
	}
}

// pkg names the compile's package, for the trace.
func (c *compile) pkg() string {
	if c.in != nil {
		if p, ok := c.in.cl.Get("p"); ok {
			return p
		}
	}
	return "compile"
}

// runSplit serves a compile placed here: it runs the granted workers'
// shares and reads the compile's jobs and statistics until it closes.
func (c *compile) runSplit(cancel context.CancelFunc, msgs <-chan localproto.Msg, hs []*host) {
	a, ctx := c.a, c.ctx
	var workers sync.WaitGroup
	c.jobs = make([]chan []byte, len(hs))
	c.shares = make([]shareSpan, len(hs))
	stops := make([]context.CancelFunc, len(hs))
	for i, h := range hs {
		c.jobs[i] = make(chan []byte, 1)
		share, stop := context.WithCancel(ctx)
		stops[i] = stop
		defer stop()
		workers.Add(1)
		go func(i int, h *host) {
			defer workers.Done()
			c.runShare(share, i, h)
		}(i, h)
	}
	// Read the jobs and the statistics until the compiler closes. The
	// compiler runs its front end first, so no read deadline here: the
	// compile ends (and closes) or the build ends (and Close cancels).
	seen := make([]bool, len(hs))
	gaveUp := make([]bool, len(hs))
	for ctx.Err() == nil {
		var m localproto.Msg
		select {
		case m = <-msgs:
		case <-ctx.Done():
			continue
		}
		switch m := m.(type) {
		case *localproto.Job:
			switch {
			case m.Worker >= uint64(len(hs)) || gaveUp[m.Worker]:
				cancel() // a protocol error: give up on this compile
			case seen[m.Worker] && len(m.Data) == 0:
				// The compiler gives up the worker's result (it
				// compiled the rest itself): stop the worker, which
				// frees its slot.
				gaveUp[m.Worker] = true
				stops[m.Worker]()
			case seen[m.Worker]:
				cancel()
			default:
				seen[m.Worker] = true
				c.jobs[m.Worker] <- m.Data
			}
		case *localproto.Stats:
			a.st.compiler(m)
			c.phases = m.Phases
		case *localproto.Verdict:
			a.verdict(c, m)
		default:
			cancel()
		}
	}
	// The compiler has closed (or broke the protocol): nothing more is
	// wanted from the workers.
	workers.Wait()
}

// serveHold serves a local process of the go command: a local token,
// held until the connection closes (which cancels ctx, and sets exited).
func (a *Agent) serveHold(ctx context.Context, conn net.Conn, what string, exited *atomic.Bool) {
	p, err := a.place(ctx, request{hold: true})
	if err != nil {
		return
	}
	defer a.unplace(p)
	a.st.inc(&a.st.holds)
	l, start := a.tr.take("local tokens"), time.Now()
	defer func() {
		a.tr.span(l, what, start, time.Now(), map[string]any{"placement": "local process"})
		a.tr.release(l)
	}()
	conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := localproto.Write(conn, &localproto.Grant{Kind: localproto.KindLocal}); err != nil {
		return
	}
	<-ctx.Done()
	if exited.Load() && what == "link" {
		// The graph estimates links from earlier builds' links.
		a.costs.record(holdKey(what), time.Since(start), 0)
	}
}

// splitHosts tells whether some host takes split work (hosts.txt
// split=false says a host does not).
func (a *Agent) splitHosts() bool {
	for _, h := range a.hosts {
		if !h.NoSplit {
			return true
		}
	}
	return false
}

// plan describes a compile to the scheduler: whether it may go whole
// or split (as the policy allows), its estimated cost, and its place in
// the build graph.
func (a *Agent) plan(c *compile) request {
	req := request{}
	in, err := c.inputs()
	if err != nil {
		req.reason = err.Error()
		return req
	}
	req.target = in.target()
	// The history knows a package by the graph's name for it, or
	// outside the graph by its -p (where every command is "main").
	pkg, _ := in.cl.Get("p")
	out, _ := in.cl.Get("o")
	if out != "" {
		out = cmdline.Abs(in.cwd, out)
	}
	n := a.graph.node(out)
	if n != nil {
		pkg = n.pkg
		req.prio, req.critical = n.prio, a.graph.critical(n)
	}
	c.costKey = compileKey(in.id.GOOS+"/"+in.id.GOARCH, pkg)
	req.inGraph = n != nil
	req.cost, req.historic = a.costs.estimate(c.costKey, in.cost)
	req.front = a.costs.front(c.costKey)
	c.est = req.cost
	// GOSSAFUNC, GOSSADIR and GOCOMPILEDEBUG keep a compile here
	// (cmdline.LocalEnv): it writes files where it runs. Flags off the
	// worker's whitelist are refused before, when the inputs are
	// collected.
	req.whole, req.split, req.reason = a.pol.eligible(c.hello.Caps, in.cost, len(a.hosts), a.splitHosts(), in.localEnv)
	return req
}

// Unused returns a warning line, for the end of the build, naming each
// host whose remote work failed every time it was tried, with the first
// failure's reason (as distcc warns of hosts it could not use), or ""
// if there is none. Such failures fall back here silently: the build is
// right, but slower than its user expects. Hosts never tried are not
// named.
func (a *Agent) Unused() string {
	var bad []string
	used := 0
	for _, h := range a.hosts {
		h.mu.Lock()
		switch {
		case h.ok > 0:
			used++
		case h.failed > 0:
			bad = append(bad, h.Addr+": "+h.why)
		}
		h.mu.Unlock()
	}
	switch {
	case len(bad) == 0:
		return ""
	case used == 0:
		return "distssa: warning: no worker used: " + strings.Join(bad, "; ")
	}
	return fmt.Sprintf("distssa: warning: %d of %d workers not used: %s", len(bad), len(a.hosts), strings.Join(bad, "; "))
}
