// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
	"distssa/remote/internal/worker"
)

// startWorker runs a worker daemon on an ephemeral loopback port.
func startWorker(t *testing.T, compile string, token []byte) (*worker.Server, string) {
	t.Helper()
	s, err := worker.New(worker.Options{Slots: 4, CacheDir: t.TempDir(), CacheMax: 64 << 20, Token: token,
		Compile: compile, JobTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s, testutil.Serve(t, s)
}

// startAgent serves an agent on a unix socket; it returns the socket.
func startAgent(t *testing.T, cfg Config) (*Agent, string) {
	t.Helper()
	if cfg.LocalTokens == 0 {
		cfg.LocalTokens = 64 // these tests are about workers, not local tokens
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ag") // short: unix socket paths are bounded
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "a.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go a.Serve(ln)
	t.Cleanup(func() { a.Close(); os.RemoveAll(dir) })
	return a, sock
}

// fakeCompile is a compiler speaking the local protocol.
type fakeCompile struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialAgent(t *testing.T, sock string, h *localproto.Hello) (*fakeCompile, *localproto.Grant) {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(time.Minute))
	t.Cleanup(func() { nc.Close() })
	f := &fakeCompile{t, nc, bufio.NewReader(nc)}
	f.send(h)
	g, ok := f.recv().(*localproto.Grant)
	if !ok {
		t.Fatal("no grant")
	}
	return f, g
}

func (f *fakeCompile) send(m localproto.Msg) {
	f.t.Helper()
	if err := localproto.Write(f.nc, m); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeCompile) recv() localproto.Msg {
	f.t.Helper()
	m, err := localproto.Read(f.r)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// result reads a worker's result: its RESULTs up to the one that ends
// it, the data of those of status 0 joined.
func (f *fakeCompile) result() *localproto.Result {
	f.t.Helper()
	r, err := readResult(f.r)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// readResult reads the RESULTs of one worker up to the one that ends its
// result (status 0 without data, or a failure), and returns them as one:
// the failure, or the data joined.
func readResult(r *bufio.Reader) (*localproto.Result, error) {
	var data []byte
	for {
		m, err := localproto.Read(r)
		if err != nil {
			return nil, err
		}
		res, ok := m.(*localproto.Result)
		if !ok {
			return nil, fmt.Errorf("%T, not a RESULT", m)
		}
		if res.Status != localproto.StatusOK {
			return res, nil
		}
		if len(res.Data) == 0 {
			res.Data = data
			return res, nil
		}
		data = append(data, res.Data...)
	}
}

// setup makes a package, a worker and an agent that grants one worker to
// any compile; it returns the HELLO of p's compile and its fingerprint.
type setup struct {
	compile string
	hello   *localproto.Hello
	fp      []byte
	ws      *worker.Server
	addr    string
	a       *Agent
	sock    string
}

func newSetup(t *testing.T, workerToken []byte, tokenFile string) *setup {
	compile := testutil.Compile(t)
	s := &setup{compile: compile}
	dir := t.TempDir()
	cwd, args, env, fp := testutil.ClientPackage(t, compile, dir)
	s.fp = fp
	s.hello = &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args, Env: env}
	s.ws, s.addr = startWorker(t, compile, workerToken)
	s.a, s.sock = startAgent(t, Config{Hosts: []hosts.Host{{Addr: s.addr, Slots: 2, TokenFile: tokenFile}},
		MinCost: 1, MaxPerCompile: 1})
	return s
}

func (s *setup) job() []byte { return testutil.Job(s.fp, "p.Gcd<ABIInternal>") }

func TestRemoteCompile(t *testing.T) {
	s := newSetup(t, nil, "")
	var sent []uint64
	for i := 0; i < 2; i++ {
		f, g := dialAgent(t, s.sock, s.hello)
		if g.N != 1 {
			t.Fatalf("grant %d (%q), want 1", g.N, g.Reason)
		}
		f.send(&localproto.Job{Worker: 0, Data: s.job()})
		r := f.result()
		if r.Status != 0 || !testutil.IsResult(r.Data) {
			t.Fatalf("compile %d: status %d, data %q", i, r.Status, r.Data)
		}
		f.send(&localproto.Stats{PkgPath: "p", Funcs: 1, Remote: 1, ResultBytes: uint64(len(r.Data))})
		f.nc.Close()
		if got := s.a.FreeSlots(); got != 2 {
			t.Errorf("after compile %d: %d free slots, want 2", i, got)
		}
		h := s.a.hosts[0]
		h.mu.Lock()
		sent = append(sent, h.sent)
		h.mu.Unlock()
		if i == 0 {
			// The second compile uploads nothing: every blob is cached.
			if st := s.ws.Stats(); st.CacheMisses == 0 || st.CacheHits != 0 {
				t.Fatalf("first compile: %+v", st)
			}
		}
	}
	// The second compile sent no blob, only messages.
	first, second := sent[0], sent[1]-sent[0]
	t.Logf("bytes sent: first compile %d, second %d", first, second)
	if second*2 > first {
		t.Errorf("second compile sent %d bytes, first %d: the uploads were not cached", second, first)
	}
	st := s.ws.Stats()
	if st.CacheHits != st.CacheMisses || st.JobsOK != 2 {
		t.Errorf("second compile should hit every blob the first missed: %+v", st)
	}
	var buf bytes.Buffer
	s.a.Summary(&buf)
	if !strings.Contains(buf.String(), s.addr) || !strings.Contains(buf.String(), "jobs 2 ok 2 failed 0") {
		t.Errorf("summary:\n%s", buf.String())
	}
}

// TestFallbacks checks that failures become failed RESULTs naming the
// host, with the reason.
func TestFallbacks(t *testing.T) {
	t.Run("fingerprint", func(t *testing.T) {
		s := newSetup(t, nil, "")
		f, _ := dialAgent(t, s.sock, s.hello)
		f.send(&localproto.Job{Worker: 0, Data: testutil.Job(make([]byte, 32), "p.Gcd<ABIInternal>")})
		checkFailed(t, f.result(), s.addr, "fingerprint")
		if len(s.a.Failures()) != 1 {
			t.Errorf("failures: %q", s.a.Failures())
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		tok := filepath.Join(t.TempDir(), "tok")
		os.WriteFile(tok, []byte("a-wrong-guess-of-the-token\n"), 0o600)
		s := newSetup(t, []byte("s3cret-s3cret-s3cret"), tok)
		f, _ := dialAgent(t, s.sock, s.hello)
		f.send(&localproto.Job{Worker: 0, Data: s.job()})
		checkFailed(t, f.result(), s.addr, "authentication failed: wrong token")
		checkRefused(t, s, s.hello)
	})
	t.Run("right token", func(t *testing.T) {
		tok := filepath.Join(t.TempDir(), "tok")
		os.WriteFile(tok, []byte("s3cret-s3cret-s3cret\n"), 0o600)
		s := newSetup(t, []byte("s3cret-s3cret-s3cret"), tok)
		f, _ := dialAgent(t, s.sock, s.hello)
		f.send(&localproto.Job{Worker: 0, Data: s.job()})
		if r := f.result(); r.Status != 0 {
			t.Fatalf("with the right token: %s", r.Data)
		}
	})
	t.Run("wrong toolchain", func(t *testing.T) {
		s := newSetup(t, nil, "")
		// Another compile binary: the agent hashes the one HELLO names.
		other := filepath.Join(t.TempDir(), "compile")
		data, err := os.ReadFile(s.compile)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(other, append(data, 0), 0o755)
		h := *s.hello
		h.Compile = other
		f, _ := dialAgent(t, s.sock, &h)
		f.send(&localproto.Job{Worker: 0, Data: s.job()})
		checkFailed(t, f.result(), s.addr, "toolchain mismatch")
		checkRefused(t, s, &h)
		// The refusal is of that compile binary only: the worker's own
		// still gets a worker.
		f, g := dialAgent(t, s.sock, s.hello)
		if g.N != 1 {
			t.Fatalf("the worker's toolchain after another was refused: grant %d %q", g.N, g.Reason)
		}
		f.send(&localproto.Job{Worker: 0, Data: s.job()})
		if r := f.result(); r.Status != 0 {
			t.Fatalf("the worker's toolchain after another was refused: %s", r.Data)
		}
	})
	t.Run("host down", func(t *testing.T) {
		compile := testutil.Compile(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 2}}, MinCost: 1, MaxPerCompile: 1})
		cwd, args := testutil.Package(t, compile, t.TempDir())
		hello := &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args}
		f, g := dialAgent(t, sock, hello)
		if g.N != 1 {
			t.Fatalf("grant %d", g.N)
		}
		f.send(&localproto.Job{Worker: 0, Data: []byte("job")})
		checkFailed(t, f.result(), addr, "refused")
		// The host backs off: the next compile stays local.
		_, g = dialAgent(t, sock, hello)
		if g.N != 0 || !strings.Contains(g.Reason, "backing off") {
			t.Fatalf("during backoff: grant %d %q", g.N, g.Reason)
		}
		if a.FreeSlots() != 2 {
			t.Errorf("free slots %d, want 2", a.FreeSlots())
		}
	})
	t.Run("small package", func(t *testing.T) {
		compile := testutil.Compile(t)
		_, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: "127.0.0.1:1", Slots: 2}}})
		cwd, args := testutil.Package(t, compile, t.TempDir())
		_, g := dialAgent(t, sock, &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args})
		if g.N != 0 || g.Reason != "small package" {
			t.Fatalf("grant %d %q", g.N, g.Reason)
		}
	})
	t.Run("diagnostic flag", func(t *testing.T) {
		compile := testutil.Compile(t)
		_, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: "127.0.0.1:1", Slots: 2}}, MinCost: 1})
		cwd, args := testutil.Package(t, compile, t.TempDir())
		_, g := dialAgent(t, sock, &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: append([]string{"-json=0,file:///tmp/j"}, args...)})
		if g.N != 0 || !strings.Contains(g.Reason, "flag -json") {
			t.Fatalf("grant %d %q", g.N, g.Reason)
		}
	})
}

// checkRefused checks that after a refused handshake the host takes no
// more compiles like hello for the rest of the build: they stay local at
// once, without another handshake, and the summary says why.
func checkRefused(t *testing.T, s *setup, hello *localproto.Hello) {
	t.Helper()
	in := s.ws.Stats().BytesIn
	for i := 0; i < 3; i++ {
		_, g := dialAgent(t, s.sock, hello)
		if g.N != 0 || !strings.Contains(g.Reason, "refused") {
			t.Fatalf("compile %d after a refusal: grant %d %q, want 0 with a refusal", i, g.N, g.Reason)
		}
	}
	if got := s.ws.Stats().BytesIn; got != in {
		t.Errorf("the worker read %d more bytes after refusing: the agent tried again", got-in)
	}
	if s.a.FreeSlots() != 2 {
		t.Errorf("free slots %d, want 2", s.a.FreeSlots())
	}
	var sum strings.Builder
	s.a.Summary(&sum)
	if !strings.Contains(sum.String(), s.addr+" ") || !strings.Contains(sum.String(), "refused: ") {
		t.Errorf("summary does not name the refusal:\n%s", sum.String())
	}
}

func checkFailed(t *testing.T, r *localproto.Result, host, want string) {
	t.Helper()
	msg := string(r.Data)
	if r.Status != 1 || !strings.Contains(msg, host) || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Fatalf("result status %d %q; want a failed one-line result naming %s with %q", r.Status, msg, host, want)
	}
}

// TestPooledConnectionClosed restarts the worker between two compiles:
// the pooled connection is dead, the agent dials again, the compile
// still goes remote, and the host does not back off.
func TestPooledConnectionClosed(t *testing.T) {
	s := newSetup(t, nil, "")
	run := func() {
		t.Helper()
		f, g := dialAgent(t, s.sock, s.hello)
		if g.N != 1 {
			t.Fatalf("grant %d %q", g.N, g.Reason)
		}
		f.send(&localproto.Job{Worker: 0, Data: s.job()})
		if r := f.result(); r.Status != 0 {
			t.Fatalf("result: %s", r.Data)
		}
		f.nc.Close()
	}
	run()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.ws.Shutdown(ctx) // closes the idle pooled connection
	cancel()
	ws, err := worker.New(worker.Options{Slots: 4, CacheDir: t.TempDir(), CacheMax: 64 << 20, Compile: s.compile})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", s.addr, err)
	}
	go ws.Serve(ln)
	defer ws.Shutdown(context.Background())
	run()
	h := s.a.hosts[0]
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.backoffs != 0 || h.ok != 2 {
		t.Errorf("backoffs %d, ok %d; want 0 and 2", h.backoffs, h.ok)
	}
}

// TestManyCompiles runs 12 compiles at once against 2 slots: each gets
// a grant within the slots, each granted job its result, and no slot
// leaks.
func TestManyCompiles(t *testing.T) {
	s := newSetup(t, nil, "")
	errs := make(chan string, 12)
	var remote atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("unix", s.sock)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(time.Minute))
			r := bufio.NewReader(nc)
			localproto.Write(nc, s.hello)
			m, err := localproto.Read(r)
			g, ok := m.(*localproto.Grant)
			if !ok || g.N > 1 || g.N == 0 && g.Reason != "no free worker slots" {
				errs <- fmt.Sprintf("grant %#v %v", m, err)
				return
			}
			if g.N == 0 {
				return
			}
			localproto.Write(nc, &localproto.Job{Worker: 0, Data: s.job()})
			if res, err := readResult(r); err != nil || res.Status != 0 {
				errs <- fmt.Sprintf("result %#v %v", res, err)
				return
			}
			remote.Add(1)
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if remote.Load() == 0 || s.a.FreeSlots() != 2 {
		t.Errorf("%d compiles went remote, %d free slots after", remote.Load(), s.a.FreeSlots())
	}
}

// TestResultTimeout: a worker that takes the job and never answers ends
// as a failed RESULT after the agent's result timeout, not a hang.
func TestResultTimeout(t *testing.T) {
	compile := testutil.Compile(t)
	addr := stallingWorker(t)
	a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, ResultTimeout: 300 * time.Millisecond})
	cwd, args := testutil.Package(t, compile, t.TempDir())
	f, g := dialAgent(t, sock, &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args})
	if g.N != 1 {
		t.Fatalf("grant %d %q", g.N, g.Reason)
	}
	t0 := time.Now()
	f.send(&localproto.Job{Worker: 0, Data: []byte("job")})
	checkFailed(t, f.result(), addr, "i/o timeout")
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("failed RESULT after %v", d)
	}
	if a.FreeSlots() != 1 {
		t.Errorf("%d free slots, want 1", a.FreeSlots())
	}
}

// stallingWorker runs a fake worker that speaks the protocol up to the
// job, then never answers; it returns its address.
func stallingWorker(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(time.Minute))
		// A worker that knows the protocol up to the job, then stalls.
		for {
			m, _, err := wire.Read(nc)
			if err != nil {
				return
			}
			var answer any
			switch m.(type) {
			case *wire.Hello:
				answer = &wire.Challenge{Version: wire.Version, Caps: wire.Caps, Nonce: make([]byte, 32)}
			case *wire.Auth:
				answer = &wire.Welcome{Slots: 1}
			case *wire.Query:
				answer = &wire.Missing{}
			case *wire.Start:
				answer = &wire.Started{}
			default:
				continue // the job: no answer
			}
			wire.Write(nc, answer)
		}
	}()
	return ln.Addr().String()
}

// TestHedge: the first worker stalls on the job; after HedgeAfter the
// agent runs the job on the other host, whose result wins.
func TestHedge(t *testing.T) {
	s := newSetup(t, nil, "")
	stall := stallingWorker(t)
	a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: stall, Slots: 2}, {Addr: s.addr, Slots: 1}},
		MinCost: 1, MaxPerCompile: 1, HedgeAfter: 200 * time.Millisecond})
	f, g := dialAgent(t, sock, s.hello)
	if g.N != 1 {
		t.Fatalf("grant %d %q", g.N, g.Reason)
	}
	f.send(&localproto.Job{Worker: 0, Data: s.job()})
	if r := f.result(); r.Status != 0 || !testutil.IsResult(r.Data) {
		t.Fatalf("hedged result: status %d %q", r.Status, r.Data)
	}
	var buf bytes.Buffer
	a.Summary(&buf)
	if !strings.Contains(buf.String(), "1 hedged jobs") || a.FreeSlots() != 3 {
		t.Errorf("%d free slots, summary:\n%s", a.FreeSlots(), buf.String())
	}
	if st := s.ws.Stats(); st.JobsOK != 1 {
		t.Errorf("the second host ran %d jobs", st.JobsOK)
	}
}
