// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package worker is the worker daemon: it accepts agents over TCP
// (PROTOCOL.md §3), keeps their inputs in a content-addressed store, and
// runs its own compile binary on them, in a private job directory, with
// the path mapping of PROTOCOL.md §1: in worker mode for a Start (the
// backend of some functions), in normal mode for a RunWhole (a whole compile,
// whose results it caches). It runs nothing else.
package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"distssa/remote/internal/store"
	"distssa/remote/internal/wire"
)

// Options configures a Server.
type Options struct {
	// What a peer that has no token can take (guard.go); 0 for defaults.
	MaxConns         int           // open connections; more are closed at once (256)
	HandshakeTimeout time.Duration // bound of a connection's whole handshake (10 s)
	AuthFailLimit    int           // failed authentications from a source within a minute before it is refused for a minute (5)

	Slots       int           // concurrent compiles; more jobs queue
	CacheDir    string        // blob store and job directories
	CacheMax    int64         // bound of the blob store, in bytes
	JobFiles    int           // bound of the files and directories a job materializes; 0 for 65536
	JobBytes    int64         // bound of the distinct input bytes a job materializes; 0 for CacheMax
	MemBudget   int64         // bound of the memory peers' frames and payloads take at once (budget.go); 0 for 1 GiB
	MemWait     time.Duration // bound of a request's wait for that memory (10 s)
	Token       []byte        // shared secret; required unless loopback-only
	Compile     string        // the compile binary this worker runs
	Name        string        // self-description for agents' logs
	JobTimeout  time.Duration // bound of one job, from Start to Result, or of a RunWhole's compile
	IdleTimeout time.Duration // bound of a connection's wait for a request
	Heartbeat   time.Duration // interval of Working messages while a request waits or runs (3 s)
	NoSandbox   bool          // run compiles unconfined, for debugging (sandbox.go)
	NeedSandbox bool          // refuse to start without Landlock and the seccomp filter (sandbox.go)
	CompileMem  int64         // bound of a compile's address space, in bytes; 0 for 8 GiB
	Replay      float64       // > 0: replay mode (replay.go), waiting recorded run times × Replay; bench only
	Log         *slog.Logger
}

// Server is a worker daemon.
type Server struct {
	cfg       Options
	store     *store.Store
	toolchain []byte
	sem       chan struct{}
	mem       *memBudget
	start     time.Time

	hardCtx    context.Context // cancelled when shutdown gives up waiting
	hardCancel context.CancelFunc

	mu       sync.Mutex
	lns      []net.Listener
	conns    map[*conn]bool // value: busy in a request
	draining bool
	full     bool // MaxConns reached, and logged
	wg       sync.WaitGroup
	jobSeq   atomic.Uint64
	auth     throttle
	pos      possessions // of stored blobs, for proofs (proof.go)

	st struct {
		running, queued, jobs, ok, failed, refused, authFails atomic.Uint64
		in, out, hits, misses, queueNs                        atomic.Uint64
		runs, resultHits, resultMisses                        atomic.Uint64
	}
}

// defaultJobFiles is the default of Options.JobFiles: more than any
// package's compile reads (a big one reads a few thousand files).
const defaultJobFiles = 1 << 16

// HashFile returns the sha256 of a file: the compile binary's identity.
func HashFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// New checks the configuration, hashes the compile binary and opens the
// store.
func New(cfg Options) (*Server, error) {
	if cfg.Replay < 0 || cfg.Replay != cfg.Replay {
		return nil, fmt.Errorf("replay scale %v is not a positive number", cfg.Replay)
	}
	if cfg.Slots < 1 {
		return nil, fmt.Errorf("slots must be at least 1, not %d", cfg.Slots)
	}
	if cfg.CacheMax < 1<<20 {
		return nil, fmt.Errorf("cache size %d is below 1 MiB", cfg.CacheMax)
	}
	if cfg.CompileMem != 0 && cfg.CompileMem < minCompileMem {
		return nil, fmt.Errorf("compile memory bound %d is below %d MiB", cfg.CompileMem, minCompileMem>>20)
	}
	switch {
	case cfg.JobFiles < 0:
		return nil, fmt.Errorf("bound of job files %d is negative", cfg.JobFiles)
	case cfg.JobFiles == 0:
		cfg.JobFiles = defaultJobFiles
	}
	switch {
	case cfg.JobBytes < 0:
		return nil, fmt.Errorf("bound of job bytes %d is negative", cfg.JobBytes)
	case cfg.JobBytes == 0:
		cfg.JobBytes = cfg.CacheMax
	}
	switch {
	case cfg.MemBudget == 0:
		cfg.MemBudget = defaultMemBudget
	case cfg.MemBudget < minMemBudget:
		return nil, fmt.Errorf("memory budget (-mem-budget) %d is below %d MiB", cfg.MemBudget, minMemBudget>>20)
	}
	if cfg.MemWait <= 0 {
		cfg.MemWait = defaultMemWait
	}
	if err := checkSandbox(&cfg); err != nil {
		return nil, err
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = 10 * time.Minute
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 3 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := cfg.connDefaults(); err != nil {
		return nil, err
	}
	tc, err := HashFile(cfg.Compile)
	if err != nil {
		return nil, fmt.Errorf("compile binary: %v", err)
	}
	st, err := store.Open(cfg.CacheDir+"/store", cfg.CacheMax)
	if err != nil {
		return nil, fmt.Errorf("cache dir: %v", err)
	}
	// Job directories of a previous run are garbage. They hold clients'
	// sources: the daemon's user alone may read them.
	os.RemoveAll(cfg.CacheDir + "/jobs")
	if err := os.MkdirAll(cfg.CacheDir+"/jobs", 0o700); err != nil {
		st.Close()
		return nil, err
	}
	// A job root must be the path a compile's getcwd gives, or the
	// -trimpath rules that map it back would miss: absolute, links
	// resolved.
	if d, err := filepath.EvalSymlinks(cfg.CacheDir); err == nil {
		if d, err = filepath.Abs(d); err == nil {
			cfg.CacheDir = d
		}
	}
	s := &Server{cfg: cfg, store: st, toolchain: tc, sem: make(chan struct{}, cfg.Slots),
		mem: &memBudget{max: uint64(cfg.MemBudget)}, start: time.Now(), conns: map[*conn]bool{}}
	s.hardCtx, s.hardCancel = context.WithCancel(context.Background())
	s.logSandbox()
	return s, nil
}

// Toolchain returns the hash of the worker's compile binary.
func (s *Server) Toolchain() []byte { return s.toolchain }

// IsLoopback reports whether a listen address serves the loopback
// interface only.
func IsLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Serve accepts connections on ln until Shutdown. Without a token it
// refuses to serve anything but loopback.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.Replay > 0 && !IsLoopback(ln.Addr()) {
		return fmt.Errorf("replay mode serves loopback addresses only, not %s: it is a benchmark's emulation, not a worker", ln.Addr())
	}
	if len(s.cfg.Token) == 0 && !IsLoopback(ln.Addr()) {
		return fmt.Errorf("listening on %s needs a token (-token-file or DISTSSA_TOKEN); only a loopback address may go without", ln.Addr())
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return errors.New("server is shutting down")
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	s.cfg.Log.Info("listening", "addr", ln.Addr().String(), "slots", s.cfg.Slots, "auth", len(s.cfg.Token) > 0,
		"toolchain", hex.EncodeToString(s.toolchain[:8]))
	var retry backoff
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			d := s.draining
			s.mu.Unlock()
			if d {
				return nil
			}
			if temporaryAccept(err) {
				time.Sleep(retry.fail(s, err))
				continue
			}
			return err
		}
		retry.ok(s)
		c := &conn{s: s, nc: nc, r: &countReader{r: nc, n: &s.st.in}, w: &countWriter{w: nc, n: &s.st.out}}
		c.mem.c = c
		if !s.admit(c) {
			nc.Close()
			continue
		}
		go func() {
			defer s.wg.Done()
			c.serve()
			nc.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, closes idle connections, and waits for the
// running jobs to end; when ctx ends first it kills them.
func (s *Server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	s.draining = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c, busy := range s.conns {
		if !busy {
			c.nc.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cfg.Log.Warn("shutdown: cancelling running jobs")
		s.hardCancel()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.store.Close() // its lock: another daemon may use the cache dir now
	_, peak := s.mem.stats()
	s.cfg.Log.Info("stopped", "jobs", s.st.jobs.Load(), "mem_peak", peak)
}

// setBusy marks a connection busy with a request (or idle); it reports
// false if the server drains and an idle connection should close.
func (s *Server) setBusy(c *conn, busy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.conns[c] = busy
	return true
}

// Stats returns the worker's statistics.
func (s *Server) Stats() *wire.Stats {
	b, f, ev := s.store.Stats()
	return &wire.Stats{
		Name: s.cfg.Name, Slots: uint64(s.cfg.Slots),
		Running: s.st.running.Load(), Queued: s.st.queued.Load(),
		Jobs: s.st.jobs.Load(), JobsOK: s.st.ok.Load(), JobsFailed: s.st.failed.Load(),
		Refused: s.st.refused.Load(), AuthFails: s.st.authFails.Load(),
		BytesIn: s.st.in.Load(), BytesOut: s.st.out.Load(),
		CacheHits: s.st.hits.Load(), CacheMisses: s.st.misses.Load(),
		CacheBytes: uint64(b), CacheFiles: uint64(f), Evictions: ev,
		QueueNs: s.st.queueNs.Load(), UptimeNs: uint64(time.Since(s.start)),
		Runs: s.st.runs.Load(), ResultHits: s.st.resultHits.Load(), ResultMisses: s.st.resultMisses.Load(),
	}
}

type countReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

type countWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

// conn is one agent connection.
type conn struct {
	s         *Server
	nc        net.Conn
	r         io.Reader
	w         io.Writer
	log       *slog.Logger
	goos      string
	goarch    string
	uploadErr error      // a bad upload, reported by the next Start
	statsOnly bool       // the handshake named no toolchain
	streams   bool       // the agent takes a split's result in Chunks (wire.CapStream)
	sendMu    sync.Mutex // a job's heartbeat and its Chunks write concurrently
	mem       memHold
	msgCost   uint64 // what the last message read holds of the memory budget

	proofKey []byte  // wire.ProofKey of the handshake
	proven   blobSet // the blobs the connection uploaded or proved it holds (proof.go)
}

func (c *conn) send(m any) error { return c.sendBy(m, time.Now().Add(time.Minute)) }

func (c *conn) sendBy(m any, deadline time.Time) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.scrubMsg(m)
	c.nc.SetWriteDeadline(deadline)
	_, err := wire.Write(c.w, m)
	return err
}

// recv reads a request. What the message holds of the memory budget
// is held until freeMsg.
func (c *conn) recv(timeout time.Duration) (any, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	m, _, cost, err := wire.ReadBudget(c.r, wire.MaxFrame, &c.mem)
	c.msgCost += cost
	return m, err
}

// freeMsg gives back what the messages read hold of the memory budget:
// the caller is done with them.
func (c *conn) freeMsg() {
	c.mem.Release(c.msgCost)
	c.msgCost = 0
}

// refuseMem answers a request that the memory budget refused, before
// its connection closes (the frame was not read), and says so in the
// log.
func (c *conn) refuseMem(err error) {
	c.s.st.refused.Add(1)
	c.log.Warn("request refused", "err", err)
	c.sendBy(&wire.Error{Msg: "request refused: " + err.Error()}, time.Now().Add(time.Second))
}

// recvSmall reads a handshake message by the handshake's deadline:
// before authentication a peer gets small frames only.
func (c *conn) recvSmall(deadline time.Time) (any, error) {
	c.nc.SetReadDeadline(deadline)
	m, _, err := wire.ReadMax(c.r, wire.MaxHandshakeFrame)
	return m, err
}

func (c *conn) serve() {
	c.log = c.s.cfg.Log.With("peer", c.nc.RemoteAddr().String())
	// The whole handshake, TLS's included, has one deadline.
	deadline := time.Now().Add(c.s.cfg.HandshakeTimeout)
	if err := c.handshake(deadline); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
			// Port scanners and idle peers: not worth a line each.
			c.log.Debug("handshake failed", "err", err)
		} else {
			c.log.Warn("handshake failed", "err", err)
		}
		if d := time.Now().Add(time.Second); d.After(deadline) {
			deadline = d
		}
		c.sendBy(wire.Refuse(err), deadline)
		return
	}
	for {
		m, err := c.recv(c.s.cfg.IdleTimeout)
		if errors.Is(err, errMemory) {
			c.refuseMem(err)
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("connection ends", "err", err)
			}
			return
		}
		if !c.s.setBusy(c, true) {
			return
		}
		err = c.handle(m)
		c.freeMsg()
		if !c.s.setBusy(c, false) || err != nil {
			if err != nil {
				c.log.Warn("connection fails", "err", err)
			}
			return
		}
	}
}

// handshake runs the worker's side of the handshake (wire.Acceptor)
// with this worker's throttle of sources, toolchain and target checks.
func (c *conn) handshake(deadline time.Time) error {
	src := source(c.nc.RemoteAddr())
	a := &wire.Acceptor{
		Token: c.s.cfg.Token,
		Recv:  func() (any, error) { return c.recvSmall(deadline) },
		Send:  func(m any) error { return c.sendBy(m, deadline) },
		Admit: func(*wire.Hello) error {
			if d := c.s.auth.refused(src); d > 0 {
				c.s.st.refused.Add(1)
				return wire.ThrottleOf(src, d)
			}
			return nil
		},
		Authed: func(ok bool) {
			if ok {
				c.s.auth.ok(src)
				return
			}
			c.s.st.authFails.Add(1)
			if c.s.auth.fail(src, c.s.cfg.AuthFailLimit) {
				c.log.Warn("refusing a source for too many failed authentications", "source", src, "for", authWindow)
			}
		},
		Welcome: c.welcome,
	}
	key, err := a.Accept()
	c.proofKey = key
	return err
}

// welcome answers an authenticated Hello: a statistics client
// (distssa-worker -status) needs no toolchain, any other must name this
// worker's and a valid target.
func (c *conn) welcome(h *wire.Hello) (*wire.Welcome, error) {
	w := &wire.Welcome{Slots: uint64(c.s.cfg.Slots), Name: c.s.cfg.Name}
	c.streams = slices.Contains(h.Caps, wire.CapStream)
	if len(h.Toolchain) == 0 {
		c.statsOnly = true
		return w, nil
	}
	if !bytes.Equal(h.Toolchain, c.s.toolchain) {
		return nil, fmt.Errorf("toolchain mismatch: the client's compile is sha256 %.16x…, this worker's (%s) is %.16x…; install the same toolchain on both",
			h.Toolchain, c.s.cfg.Compile, c.s.toolchain)
	}
	if !validTarget(h.GOOS) || !validTarget(h.GOARCH) {
		return nil, fmt.Errorf("bad target %q/%q", h.GOOS, h.GOARCH)
	}
	c.goos, c.goarch = h.GOOS, h.GOARCH
	c.log = c.log.With("target", h.GOOS+"/"+h.GOARCH)
	return w, nil
}

func validTarget(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// handle serves one request; an error closes the connection.
func (c *conn) handle(m any) error {
	if _, ok := m.(*wire.StatsReq); ok {
		return c.send(c.s.Stats())
	}
	if c.statsOnly {
		return c.send(&wire.Error{Msg: "this connection named no toolchain: status requests only"})
	}
	switch m := m.(type) {
	case *wire.Query:
		return c.query(m)
	case *wire.Upload:
		// One blob at a time holds its size of the memory budget.
		for _, b := range m.Blobs {
			data, err := wire.DecompressBudget(b.Data, b.Size, wire.MaxPayload, &c.mem)
			if err == nil {
				err = c.s.store.Put(b.Hash, data)
				if err == nil {
					c.uploaded(b.Hash, data)
				}
				c.mem.Release(uint64(len(data)))
			}
			if err != nil && c.uploadErr == nil {
				c.uploadErr = fmt.Errorf("upload of blob %.12x…: %v", b.Hash, err)
			}
		}
		return nil
	case *wire.Start:
		return c.serveStart(m)
	case *wire.RunWhole:
		return c.serveRunWhole(m)
	}
	return fmt.Errorf("unexpected message %T", m)
}
