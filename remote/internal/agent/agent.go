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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
)

// Config configures an Agent. Zero fields take the defaults below.
type Config struct {
	Hosts          []hosts.Host
	HostsFile      string // for messages
	Strict         bool   // remote failure is an error of the build (see README)
	MinCost        int64  // bytes of .go source below which a compile stays local
	BytesPerWorker int64  // source bytes that justify one more worker
	MaxPerCompile  int    // workers granted to one compile at most

	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	RequestTimeout   time.Duration // a round trip before the job (query, start)
	ResultTimeout    time.Duration // from the job to its result
	IdleConnAge      time.Duration // pooled connections older than this are closed
	HedgeAfter       time.Duration // a result this late is also asked of another host; < 0: never
}

// Defaults.
const (
	DefaultMinCost        = 16 << 10
	DefaultBytesPerWorker = 32 << 10
	DefaultMaxPerCompile  = 8
)

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
	def(&c.IdleConnAge, time.Minute)
	def(&c.HedgeAfter, 20*time.Second)
	if c.MinCost == 0 {
		c.MinCost = DefaultMinCost
	}
	if c.BytesPerWorker == 0 {
		c.BytesPerWorker = DefaultBytesPerWorker
	}
	if c.MaxPerCompile == 0 {
		c.MaxPerCompile = DefaultMaxPerCompile
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

	mu       sync.Mutex // guards slot accounting and the fields below
	ln       net.Listener
	rr       int // round-robin start for slot allocation
	compiles int
	granted  int // compiles granted at least one worker
	reasons  map[string]int
	funcs    uint64
	remote   uint64
	resBytes uint64
	failures []string // failed remote work, for strict mode and -v
	hedges   int
}

// New makes an agent for the hosts; it reads their token files (or takes
// DISTSSA_TOKEN) and fails naming the hosts file and line.
func New(cfg Config) (*Agent, error) {
	cfg.defaults()
	a := &Agent{cfg: cfg, ids: newHashCache(), files: newHashCache(), reasons: map[string]int{}}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	envTok := os.Getenv("DISTSSA_TOKEN")
	for _, h := range cfg.Hosts {
		hh := &host{Host: h, free: h.Slots, idle: map[string][]*wconn{}}
		hh.token = []byte(envTok)
		if h.TokenFile != "" {
			t, err := ReadToken(h.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", cfg.HostsFile, h.Line, err)
			}
			hh.token = t
		}
		if h.TLSFile != "" {
			c, err := clientTLS(h.TLSFile, h.Addr)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", cfg.HostsFile, h.Line, err)
			}
			hh.tls = c
		}
		a.hosts = append(a.hosts, hh)
	}
	return a, nil
}

// clientTLS makes the TLS configuration of a host: its certificate must
// verify against the PEM certificates in caFile, for the host's name.
func clientTLS(caFile, addr string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls file %s holds no PEM certificate", caFile)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS13}, nil
}

// ReadToken reads a token file: its content less surrounding space.
func ReadToken(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("token file: %v", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return nil, fmt.Errorf("token file %s is empty", name)
	}
	return []byte(t), nil
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
}

// Failures returns the failed remote work so far, one line each.
func (a *Agent) Failures() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.failures...)
}

func (a *Agent) fail(msg string) {
	a.mu.Lock()
	a.failures = append(a.failures, msg)
	a.mu.Unlock()
}

// acquire reserves up to n slots for a compile of target, spreading
// them over the hosts that are neither backing off nor refused the
// target, most free slots first. The slots are global to the build:
// every compile of the build takes its slots here.
func (a *Agent) acquire(n int, target string) ([]*host, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	var got []*host
	var usable, backing, refused int
	for _, h := range a.hosts {
		switch {
		case h.refused[target] != "":
			refused++
		case h.downUntil.After(now):
			backing++
		default:
			usable++
		}
	}
	for len(got) < n {
		best := a.freest(nil, target, now)
		if best == nil {
			break
		}
		best.free--
		got = append(got, best)
	}
	a.rr++
	switch {
	case len(got) > 0:
		return got, ""
	case usable > 0:
		return nil, "no free worker slots"
	case backing == 0:
		return nil, fmt.Sprintf("all %d hosts refused this toolchain or token", refused)
	case refused == 0:
		return nil, fmt.Sprintf("all %d hosts backing off after failures", backing)
	}
	return nil, fmt.Sprintf("%d hosts backing off after failures, %d refused this toolchain or token", backing, refused)
}

// freest returns the usable host other than not with the most free
// slots, nil if none; ties go round-robin. Agent.mu is held.
func (a *Agent) freest(not *host, target string, now time.Time) *host {
	var best *host
	for i := range a.hosts {
		h := a.hosts[(a.rr+i)%len(a.hosts)]
		if h != not && h.free > 0 && !h.downUntil.After(now) && h.refused[target] == "" &&
			(best == nil || h.free > best.free) {
			best = h
		}
	}
	return best
}

// acquireOther reserves a slot on a host other than not, for a hedge.
func (a *Agent) acquireOther(not *host, target string) *host {
	a.mu.Lock()
	defer a.mu.Unlock()
	best := a.freest(not, target, time.Now())
	if best != nil {
		best.free--
	}
	return best
}

func (a *Agent) release(h *host) {
	a.mu.Lock()
	h.free++
	a.mu.Unlock()
}

// FreeSlots returns the free slots of all hosts (for tests and -v).
func (a *Agent) FreeSlots() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, h := range a.hosts {
		n += h.free
	}
	return n
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
	hello, ok := m.(*localproto.Hello)
	if !ok || hello.Version != localproto.Version {
		localproto.Write(conn, &localproto.Grant{Reason: "bad hello"})
		return
	}
	c := &compile{a: a, conn: conn, hello: hello, ctx: ctx}
	n, reason := a.plan(c)
	var hs []*host
	if n > 0 {
		hs, reason = a.acquire(n, c.in.target())
	}
	a.mu.Lock()
	a.compiles++
	if len(hs) > 0 {
		a.granted++
	} else {
		a.reasons[reason]++
	}
	a.mu.Unlock()
	var workers sync.WaitGroup
	c.jobs = make([]chan []byte, len(hs))
	for i, h := range hs {
		c.jobs[i] = make(chan []byte, 1)
		workers.Add(1)
		go func(i int, h *host) {
			defer workers.Done()
			c.runWorker(i, h)
		}(i, h)
	}
	if err := c.send(&localproto.Grant{N: uint64(len(hs)), Reason: reason}); err != nil {
		cancel()
	}

	// Read the jobs and the statistics until the compiler closes. The
	// compiler runs its front end first, so no read deadline here: the
	// compile ends (and closes) or the build ends (and Close cancels).
	conn.SetReadDeadline(time.Time{})
	go func() { <-ctx.Done(); conn.SetReadDeadline(time.Now()) }()
	seen := make([]bool, len(hs))
	for ctx.Err() == nil {
		m, err := localproto.Read(r)
		if err != nil {
			break
		}
		switch m := m.(type) {
		case *localproto.Job:
			if m.Worker >= uint64(len(hs)) || seen[m.Worker] {
				cancel() // a protocol error: give up on this compile
				continue
			}
			seen[m.Worker] = true
			c.jobs[m.Worker] <- m.Data
		case *localproto.Stats:
			a.mu.Lock()
			a.funcs += m.Funcs
			a.remote += m.Remote
			a.resBytes += m.ResultBytes
			a.mu.Unlock()
		default:
			cancel()
		}
	}
	// The compiler has closed (or broke the protocol): nothing more is
	// wanted from the workers.
	cancel()
	workers.Wait()
}

// plan decides how many workers a compile should get, before looking at
// the free slots: 0 with a reason for compiles that stay local.
func (a *Agent) plan(c *compile) (int, string) {
	if len(a.hosts) == 0 {
		return 0, "no hosts"
	}
	in, err := c.inputs()
	if err != nil {
		return 0, err.Error()
	}
	if r := localReason(in); r != "" {
		return 0, r
	}
	if in.cost < a.cfg.MinCost {
		return 0, "small package"
	}
	n := int(in.cost / a.cfg.BytesPerWorker)
	if n < 1 {
		n = 1
	}
	if n > a.cfg.MaxPerCompile {
		n = a.cfg.MaxPerCompile
	}
	return n, ""
}

// localReason mirrors the compiler's reasons for keeping a whole compile
// local that depend on its flags and environment (compileReason in
// cmd/compile/internal/distssa), so that such compiles take no worker.
// Flags off the worker's whitelist (-S, -m, -json, …) are refused before.
func localReason(in *inputs) string {
	if in.gossafunc {
		return "GOSSAFUNC"
	}
	return ""
}

// Summary writes the one-screen summary of the build's remote work.
func (a *Agent) Summary(w io.Writer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(w, "distssa-agent: %d compiles, %d sent work to workers; functions %d remote of %d; %d result bytes; %d hedged jobs\n",
		a.compiles, a.granted, a.remote, a.funcs, a.resBytes, a.hedges)
	var rs []string
	for r, n := range a.reasons {
		rs = append(rs, fmt.Sprintf("%s=%d", r, n))
	}
	sort.Strings(rs)
	if len(rs) > 0 {
		fmt.Fprintf(w, "  local: %s\n", strings.Join(rs, ", "))
	}
	for _, h := range a.hosts {
		h.mu.Lock()
		fmt.Fprintf(w, "  %-24s jobs %d ok %d failed %d, sent %d B, received %d B, uploads %d blobs, backoffs %d\n",
			h.Addr, h.jobs, h.ok, h.failed, h.sent, h.recv, h.uploads, h.backoffs)
		h.mu.Unlock()
		for _, msg := range h.refused {
			fmt.Fprintf(w, "  %-24s refused: %s\n", h.Addr, msg)
		}
	}
	for i, f := range a.failures {
		if i == 5 {
			fmt.Fprintf(w, "  … and %d more failures\n", len(a.failures)-5)
			break
		}
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
}

var errCancelled = errors.New("compile went away")
