// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
)

// startServer runs a worker on an ephemeral loopback port.
func startServer(t *testing.T, compile string, token []byte) (*Server, string) {
	t.Helper()
	return startServerOptions(t, Options{Slots: 2, CacheDir: t.TempDir(), CacheMax: 64 << 20, Token: token, Compile: compile,
		Name: "test", JobTimeout: time.Minute})
}

// startServerOptions runs a worker with the given configuration on an
// ephemeral loopback port.
func startServerOptions(t *testing.T, cfg Options) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, testutil.Serve(t, s)
}

// client is a raw protocol client.
type client struct {
	t        *testing.T
	nc       net.Conn
	raw, zst int // bytes uploaded, before and after compression
	beats    int // Working messages received

	key []byte // wire.ProofKey of the handshake
}

func (c *client) send(m any) {
	c.t.Helper()
	if _, err := wire.Write(c.nc, m); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads the next message, counting and skipping Working.
func (c *client) recv() any {
	c.t.Helper()
	for {
		m, _, err := wire.Read(c.nc)
		if err != nil {
			c.t.Fatal(err)
		}
		if _, ok := m.(*wire.Working); !ok {
			return m
		}
		c.beats++
	}
}

// dial connects and runs the handshake; it returns the final message
// (Welcome or Error).
func dial(t *testing.T, addr string, token, toolchain []byte) (*client, any) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return handshake(t, nc, token, toolchain)
}

// handshake runs the client's side of the handshake on nc.
func handshake(t *testing.T, nc net.Conn, token, toolchain []byte) (*client, any) {
	t.Helper()
	return handshakeCaps(t, nc, token, toolchain, nil)
}

// handshakeCaps is handshake with the agent's capabilities caps.
func handshakeCaps(t *testing.T, nc net.Conn, token, toolchain []byte, caps []string) (*client, any) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(time.Minute))
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	c.send(&wire.Hello{Version: wire.Version, Caps: caps, Nonce: nonce, Toolchain: toolchain, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH})
	m := c.recv()
	ch, ok := m.(*wire.Challenge)
	switch m.(type) {
	case *wire.Error, *wire.Throttle:
		return c, m
	}
	if !ok {
		t.Fatalf("no challenge: %#v", m)
	}
	var mac []byte
	if token != nil {
		mac = wire.ClientMAC(token, nonce, ch.Nonce)
	}
	c.key = wire.ProofKey(token, nonce, ch.Nonce)
	c.send(&wire.Auth{MAC: mac})
	m = c.recv()
	if w, ok := m.(*wire.Welcome); ok && token != nil && !wire.CheckMAC(w.MAC, wire.ServerMAC(token, nonce, ch.Nonce)) {
		t.Fatal("worker's proof is wrong")
	}
	return c, m
}

// upload sends the files and returns the Start that names them.
func (c *client) upload(cwd string, args []string, env []string) *wire.Start {
	c.t.Helper()
	cl, err := cmdline.Parse(args)
	if err != nil {
		c.t.Fatal(err)
	}
	paths, err := cl.Inputs(cwd, os.ReadFile)
	if err != nil {
		c.t.Fatal(err)
	}
	st := &wire.Start{Cwd: cwd, Args: args, Env: env}
	var hashes, proofs [][]byte
	data := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			c.t.Fatal(err)
		}
		h := wire.Hash(b)
		data[string(h)] = b
		hashes = append(hashes, h)
		proofs = append(proofs, c.proof(b))
		st.Files = append(st.Files, wire.File{Path: p, Hash: h})
	}
	c.send(&wire.Query{Hashes: hashes, Proofs: proofs})
	miss := c.recv().(*wire.Missing)
	var blobs []wire.Blob
	for _, h := range miss.Hashes {
		z := wire.Compress(data[string(h)])
		c.raw += len(data[string(h)])
		c.zst += len(z)
		blobs = append(blobs, wire.Blob{Hash: h, Size: uint64(len(data[string(h)])), Data: z})
	}
	c.send(&wire.Upload{Blobs: blobs})
	return st
}

// proof is the connection's proof that it holds data.
func (c *client) proof(data []byte) []byte {
	return wire.Proof(c.key, wire.Hash(data), wire.Possession(data))
}

// TestWorkerJobs runs the real compile in worker mode through the daemon:
// a job with the client's fingerprint gives a result, an empty job none,
// and a job with another fingerprint is refused with the compiler's
// message.
func TestWorkerJobs(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	dir := t.TempDir()
	cwd, args, env, fp := testutil.ClientPackage(t, compile, dir)

	for _, tc := range []struct {
		name   string
		job    []byte
		status uint64
		want   string // in Msg, or the result's prefix
	}{
		{"ok", testutil.Job(fp, "p.Gcd<ABIInternal>"), 0, ""},
		{"empty", nil, 0, ""},
		{"fingerprint", testutil.Job(make([]byte, 32), "p.Gcd<ABIInternal>"), 1, "fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, m := dial(t, addr, nil, s.Toolchain())
			if _, ok := m.(*wire.Welcome); !ok {
				t.Fatalf("handshake: %#v", m)
			}
			c.send(c.upload(cwd, append([]string{"-d=distssafingerprint=1"}, args...), env))
			if m := c.recv(); m != any(&wire.Started{}) {
				if _, ok := m.(*wire.Started); !ok {
					t.Fatalf("start: %#v", m)
				}
			}
			c.send(&wire.Job{Size: uint64(len(tc.job)), Data: wire.Compress(tc.job)})
			r, ok := c.recv().(*wire.Result)
			if !ok {
				t.Fatal("no result")
			}
			data, err := wire.Decompress(r.Data, r.Size)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status || !strings.Contains(r.Msg, tc.want) && !bytes.HasPrefix(data, []byte(tc.want)) {
				t.Fatalf("status %d msg %q result %d bytes; want status %d with %q", r.Status, r.Msg, len(data), tc.status, tc.want)
			}
			if tc.name == "ok" && !testutil.IsResult(data) {
				t.Fatalf("result of %d bytes is not a worker result", len(data))
			}
			if tc.name == "empty" && len(data) != 0 {
				t.Fatalf("empty job gave a result of %d bytes", len(data))
			}
		})
	}
	st := s.Stats()
	if st.Jobs != 3 || st.JobsOK != 2 || st.JobsFailed != 1 || st.CacheHits == 0 || st.CacheMisses == 0 {
		t.Errorf("stats: %+v", st)
	}
	// The job directories are gone.
	if ents, _ := os.ReadDir(filepath.Join(s.cfg.CacheDir, "jobs")); len(ents) != 0 {
		t.Errorf("%d job directories left", len(ents))
	}
}

// TestWorkerStreams: to an agent with the capability stream, a split
// job's result comes in Chunks as the compile writes it, and the Result
// that ends it carries nothing; the Chunks make the result that a
// worker without streaming sends whole.
func TestWorkerStreams(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	cwd, args, env, fp := testutil.ClientPackage(t, compile, t.TempDir())
	job := testutil.Job(fp, "p.Gcd<ABIInternal>")
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, m := handshakeCaps(t, nc, nil, s.Toolchain(), []string{"zstd", "sha256", wire.CapStream})
	if _, ok := m.(*wire.Welcome); !ok {
		t.Fatalf("handshake: %#v", m)
	}
	c.send(c.upload(cwd, args, env))
	if _, ok := c.recv().(*wire.Started); !ok {
		t.Fatal("not started")
	}
	c.send(&wire.Job{Size: uint64(len(job)), Data: wire.Compress(job)})
	var res []byte
	chunks := 0
	for {
		m := c.recv()
		if ch, ok := m.(*wire.Chunk); ok {
			b, err := wire.Decompress(ch.Data, ch.Size)
			if err != nil {
				t.Fatal(err)
			}
			res = append(res, b...)
			chunks++
			continue
		}
		r, ok := m.(*wire.Result)
		if !ok {
			t.Fatalf("got %#v, want a Chunk or the Result", m)
		}
		if r.Status != 0 || r.Size != 0 || len(r.Data) != 0 {
			t.Fatalf("Result after %d Chunks: status %d msg %q, %d bytes; want status 0 and no data", chunks, r.Status, r.Msg, r.Size)
		}
		break
	}
	if chunks == 0 || !testutil.IsResult(res) {
		t.Fatalf("%d Chunks of %d bytes in all: not a worker result", chunks, len(res))
	}
	if st := s.Stats(); st.JobsOK != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	compile := testutil.Compile(t)
	token := []byte("s3cret")
	s, addr := startServer(t, compile, token)
	for _, tc := range []struct {
		name      string
		token     []byte
		toolchain []byte
		want      string
	}{
		{"wrong token", []byte("guess"), s.Toolchain(), "authentication failed: wrong token"},
		{"no token", nil, s.Toolchain(), "requires a token"},
		{"wrong toolchain", token, make([]byte, 32), "toolchain mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, m := dial(t, addr, tc.token, tc.toolchain)
			e, ok := m.(*wire.Error)
			if !ok || !strings.Contains(e.Msg, tc.want) {
				t.Fatalf("got %#v, want an error with %q", m, tc.want)
			}
		})
	}
	if _, m := dial(t, addr, token, s.Toolchain()); m == nil {
		t.Fatal("no welcome")
	} else if _, ok := m.(*wire.Welcome); !ok {
		t.Fatalf("right token and toolchain: %#v", m)
	}
	if got := s.Stats().AuthFails; got != 2 {
		t.Errorf("AuthFails = %d, want 2", got)
	}
}

// TestJobRefusals sends jobs that must not run: bad paths, flags off the
// whitelist, inputs that were not uploaded, reads or writes outside the
// job directory.
func TestJobRefusals(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	c, _ := dial(t, addr, nil, s.Toolchain())
	src, icfg := []byte("package p\n"), []byte("# import config\n")
	h, hcfg := wire.Hash(src), wire.Hash(icfg)
	c.send(&wire.Upload{Blobs: []wire.Blob{{Hash: h, Size: uint64(len(src)), Data: wire.Compress(src)},
		{Hash: hcfg, Size: uint64(len(icfg)), Data: wire.Compress(icfg)}}})
	good := wire.File{Path: "/w/p.go", Hash: h}
	cfg := wire.File{Path: "/w/importcfg", Hash: hcfg}
	args := func(a ...string) []string { return append([]string{"-importcfg=/w/importcfg"}, a...) }
	files := func(f ...wire.File) []wire.File { return append(f, cfg) }
	for _, tc := range []struct {
		name  string
		start wire.Start
		want  string
	}{
		{"dotdot", wire.Start{Cwd: "/w", Args: args("p.go"), Files: files(wire.File{Path: "/w/../../etc/p.go", Hash: h})}, "not clean"},
		{"relative", wire.Start{Cwd: "/w", Args: args("p.go"), Files: files(wire.File{Path: "w/p.go", Hash: h})}, "not absolute"},
		{"cwd", wire.Start{Cwd: "../w", Args: args("p.go"), Files: files(good)}, "cwd"},
		{"root", wire.Start{Cwd: "/w", Args: args("p.go"), Files: files(wire.File{Path: "/", Hash: h})}, "names no file"},
		{"not uploaded", wire.Start{Cwd: "/w", Args: args("../../etc/passwd"), Files: files(good)}, "source file ../../etc/passwd leaves the working directory"},
		// Uploaded as /etc/passwd, but the compile would open
		// ROOT/w/a/../../../../../../etc/passwd: the worker's own.
		{"relative dotdot", wire.Start{Cwd: "/w/a", Args: args("../../../../../../../../../../etc/passwd"),
			Files: files(wire.File{Path: "/etc/passwd", Hash: h})}, "source file ../../../../../../../../../../etc/passwd leaves the working directory"},
		{"importcfg outside", wire.Start{Cwd: "/w", Args: []string{"-importcfg=/etc/importcfg", "p.go"}, Files: files(good)}, "-importcfg file /etc/importcfg was not uploaded"},
		{"no importcfg", wire.Start{Cwd: "/w", Args: []string{"p.go"}, Files: []wire.File{good}}, "no -importcfg"},
		{"GOSSADIR", wire.Start{Cwd: "/w", Args: args("p.go"), Env: []string{"GOROOT=/g", "GOSSADIR=/tmp/x"}, Files: files(good)}, "environment variable GOSSADIR"},
		{"GOCOMPILEDEBUG", wire.Start{Cwd: "/w", Args: args("p.go"), Env: []string{"GOCOMPILEDEBUG=ssa/all/dump=F", "GOCOMPILEDEBUG="}, Files: files(good)}, "environment variable GOCOMPILEDEBUG"},
		{"flag", wire.Start{Cwd: "/w", Args: args("-json=0,file:///tmp/j", "p.go"), Files: files(good)}, "flag -json is not on the worker's whitelist"},
		{"coveragecfg", wire.Start{Cwd: "/w", Args: args("-coveragecfg=/w/c", "p.go"), Files: files(good)}, "flag -coveragecfg"},
		{"dump", wire.Start{Cwd: "/w", Args: args("-d=ssa/genssa/dump=F", "p.go"), Files: files(good)}, "flag -d setting ssa/genssa/dump"},
		{"worker flag", wire.Start{Cwd: "/w", Args: args("-distssaworker=/tmp", "p.go"), Files: files(good)}, "flag -distssaworker"},
		{"missing blob", wire.Start{Cwd: "/w", Args: args("p.go"), Files: files(wire.File{Path: "/w/p.go", Hash: make([]byte, 32)})}, "input /w/p.go: no proof of possession for blob sha256:000000000000…"},
		{"response file", wire.Start{Cwd: "/w", Args: args("@/etc/args"), Files: files(good)}, "response file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.send(&tc.start)
			m := c.recv()
			e, ok := m.(*wire.Error)
			if !ok || !strings.Contains(e.Msg, tc.want) {
				t.Fatalf("got %#v, want an error with %q", m, tc.want)
			}
		})
	}
	// A blob whose content does not match its hash fails the next Start.
	c.send(&wire.Upload{Blobs: []wire.Blob{{Hash: make([]byte, 32), Size: uint64(len(src)), Data: wire.Compress(src)}}})
	c.send(&wire.Start{Cwd: "/w", Args: args("p.go"), Files: files(good)})
	if e, ok := c.recv().(*wire.Error); !ok || !strings.Contains(e.Msg, "does not match its hash") {
		t.Fatalf("bad blob: got %#v", e)
	}
	if st := s.Stats(); st.Refused != 17 || st.Jobs != 0 {
		t.Errorf("stats: refused %d jobs %d, want 17 and 0", st.Refused, st.Jobs)
	}
}

func TestBadConfig(t *testing.T) {
	compile := testutil.Compile(t)
	for _, tc := range []struct {
		cfg  Options
		want string
	}{
		{Options{Slots: 0, CacheMax: 1 << 20, Compile: compile}, "slots must be at least 1"},
		{Options{Slots: 1, CacheMax: 10, Compile: compile}, "cache size 10 is below 1 MiB"},
		{Options{Slots: 1, CacheMax: 1 << 20, Compile: "/nonexistent/compile"}, "compile binary: open /nonexistent/compile"},
	} {
		tc.cfg.CacheDir = t.TempDir()
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestNoTokenOnlyLoopback(t *testing.T) {
	compile := testutil.Compile(t)
	s, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile})
	if err != nil {
		t.Fatal(err)
	}
	// A listener that claims a non-loopback address; nothing is dialed.
	err = s.Serve(fakeListener{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 7070}})
	if err == nil || !strings.Contains(err.Error(), "needs a token") {
		t.Fatalf("Serve without token on a non-loopback address: %v", err)
	}
}

type fakeListener struct{ addr net.Addr }

func (l fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr            { return l.addr }

func TestCheckPath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/a/b.go": true, "/a": true, "": false, "a/b": false, "/a/../b": false, "/a/./b": false,
		"/a//b": false, "/a/": false, "/": false, "/a/b\x00": false, "/..": false,
	} {
		if err := CheckPath(p); (err == nil) != ok {
			t.Errorf("CheckPath(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

// TestShutdown: a graceful shutdown lets a started job finish; a
// shutdown whose time is up cancels it.
func TestShutdown(t *testing.T) {
	compile := testutil.Compile(t)
	dir := t.TempDir()
	cwd, args, env, fp := testutil.ClientPackage(t, compile, dir)
	job := testutil.Job(fp, "p.Gcd<ABIInternal>")
	for _, graceful := range []bool{true, false} {
		s, addr := startServer(t, compile, nil)
		c, _ := dial(t, addr, nil, s.Toolchain())
		c.send(c.upload(cwd, args, env))
		if _, ok := c.recv().(*wire.Started); !ok {
			t.Fatal("not started")
		}
		ctx, cancel := context.WithCancel(context.Background())
		if !graceful {
			cancel()
		}
		done := make(chan struct{})
		go func() { s.Shutdown(ctx); close(done) }()
		if graceful {
			// The listener closes: new agents are turned away.
			for i := 0; ; i++ {
				nc, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					break
				}
				nc.Close()
				if i == 100 {
					t.Fatal("still accepting after Shutdown")
				}
				time.Sleep(10 * time.Millisecond)
			}
			c.send(&wire.Job{Size: uint64(len(job)), Data: wire.Compress(job)})
			if r, ok := c.recv().(*wire.Result); !ok || r.Status != 0 {
				t.Fatalf("job during graceful shutdown: %#v", r)
			}
		}
		<-done
		cancel()
		if !graceful {
			// The job was cancelled and the connection closed.
			if _, _, err := wire.Read(c.nc); err == nil {
				t.Fatal("connection still open after a forced shutdown")
			}
		}
	}
}

// run uploads a compile's inputs and returns the RunWhole that names them.
func (c *client) run(cwd string, args, env []string, work string) *wire.RunWhole {
	c.t.Helper()
	st := c.upload(cwd, args, env)
	return &wire.RunWhole{Cwd: st.Cwd, Args: st.Args, Env: st.Env, Files: st.Files, Work: work}
}

// whole sends a RunWhole and returns its Whole.
func (c *client) whole(r *wire.RunWhole) *wire.Whole {
	c.t.Helper()
	c.send(r)
	m := c.recv()
	d, ok := m.(*wire.Whole)
	if !ok {
		c.t.Fatalf("Run answered with %#v", m)
	}
	return d
}

// outputFiles decompresses a Whole's output files, by name.
func outputFiles(t *testing.T, d *wire.Whole) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, o := range d.Outputs {
		data, err := wire.Decompress(o.Data, o.Size)
		if err != nil {
			t.Fatalf("output %s: %v", o.Name, err)
		}
		files[o.Name] = data
	}
	return files
}

// localCompile runs the compile here, in cwd, with only the given GO*
// environment and the target of the test binary (what a worker gives
// it), and returns its exit status and what it printed.
func localCompile(t *testing.T, compile, cwd string, env, args []string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, compile, args...)
	cmd.Dir = cwd
	cmd.Env = append([]string{"GOOS=" + runtime.GOOS, "GOARCH=" + runtime.GOARCH}, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out
	}
	if err != nil {
		t.Fatalf("local compile: %v", err)
	}
	return 0, out
}

// TestWholeCompile runs a package's compile on the worker as a whole:
// its output files are a local compile's, byte for byte; the same RunWhole
// again is answered from the result cache with the same files; a RunWhole
// that differs in one source byte is compiled again.
func TestWholeCompile(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	dir := t.TempDir()
	cwd, args := testutil.Package(t, compile, dir)
	src := args[len(args)-1]
	args = append(args[:len(args)-1:len(args)-1], "-linkobj", filepath.Join(dir, "p.o"), "-asmhdr", filepath.Join(dir, "go_asm.h"), src)
	env := testutil.Env(compile)

	local := func() map[string][]byte {
		if exit, out := localCompile(t, compile, cwd, env, args); exit != 0 || len(out) != 0 {
			t.Fatalf("local compile: exit %d\n%s", exit, out)
		}
		files := map[string][]byte{}
		for name, p := range map[string]string{"o": "p.a", "linkobj": "p.o", "asmhdr": "go_asm.h"} {
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = b
		}
		return files
	}
	check := func(what string, d *wire.Whole, cached bool, want map[string][]byte) {
		t.Helper()
		if d.Status != 0 || d.Exit != 0 || len(d.Output) != 0 || d.Cached != cached {
			t.Fatalf("%s: status %d exit %d cached %v msg %q output %q; want status 0, exit 0, cached %v, no output",
				what, d.Status, d.Exit, d.Cached, d.Msg, d.Output, cached)
		}
		got := outputFiles(t, d)
		if len(got) != len(want) {
			t.Fatalf("%s: %d output files, want %d", what, len(got), len(want))
		}
		for name, w := range want {
			if !bytes.Equal(got[name], w) {
				t.Errorf("%s: output %s (%d bytes) differs from the local compile's (%d bytes)", what, name, len(got[name]), len(w))
			}
		}
	}

	want := local()
	c, _ := dial(t, addr, nil, s.Toolchain())
	d := c.whole(c.run(cwd, args, env, dir))
	check("first run", d, false, want)
	if d.RunNs == 0 {
		t.Error("RunNs is 0 for a compile that ran")
	}
	first := d.RunNs
	d = c.whole(c.run(cwd, args, env, dir))
	check("same run", d, true, want)
	if d.RunNs != first {
		t.Errorf("a result-cache hit says the compile ran %v, want the %v it took", time.Duration(d.RunNs), time.Duration(first))
	}

	// One source byte differs: compiled again, and again the local bytes.
	p := filepath.Join(cwd, "p.go")
	if err := os.WriteFile(p, []byte(strings.Replace(testutil.Src, "a + q.X", "a - q.X", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	want2 := local()
	if bytes.Equal(want2["o"], want["o"]) {
		t.Fatal("the changed source compiles to the same object")
	}
	check("changed source", c.whole(c.run(cwd, args, env, dir)), false, want2)

	st := s.Stats()
	if st.Runs != 3 || st.ResultHits != 1 || st.ResultMisses != 2 || st.Jobs != 2 || st.JobsOK != 2 || st.Running != 0 {
		t.Errorf("stats: runs %d hits %d misses %d jobs %d ok %d running %d; want 3 1 2 2 2 0",
			st.Runs, st.ResultHits, st.ResultMisses, st.Jobs, st.JobsOK, st.Running)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.cfg.CacheDir, "jobs")); len(ents) != 0 {
		t.Errorf("%d job directories left", len(ents))
	}
}

// TestWholeCompileError runs a package with compile errors, one file
// named relative to the cwd and one absolute: the outcome is the
// compiler's (exit status 2), and the output is what a local compile
// prints for the same client paths. Failed compiles are not cached.
func TestWholeCompileError(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	dir := t.TempDir()
	pkg := filepath.Join(dir, "src", "e")
	os.MkdirAll(pkg, 0o755)
	os.WriteFile(filepath.Join(pkg, "a.go"), []byte("package e\n\nfunc F() int { return x }\n"), 0o644)
	os.WriteFile(filepath.Join(pkg, "b.go"), []byte("package e\n\nfunc G() int { return y }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "importcfg"), []byte("# import config\n"), 0o644)
	args := []string{"-p=e", "-pack", "-importcfg", filepath.Join(dir, "importcfg"), "-o", filepath.Join(dir, "e.a"), "./a.go", filepath.Join(pkg, "b.go")}
	env := testutil.Env(compile)
	exit, want := localCompile(t, compile, pkg, env, args)
	if exit != 2 || !bytes.Contains(want, []byte(filepath.Join(pkg, "b.go")+":3:")) {
		t.Fatalf("local compile: exit %d, output\n%s", exit, want)
	}
	c, _ := dial(t, addr, nil, s.Toolchain())
	for i := 0; i < 2; i++ {
		d := c.whole(c.run(pkg, args, env, ""))
		if d.Status != 0 || d.Exit != 2 || d.Cached || len(d.Outputs) != 0 {
			t.Fatalf("run %d: status %d exit %d cached %v, %d outputs, msg %q", i, d.Status, d.Exit, d.Cached, len(d.Outputs), d.Msg)
		}
		if !bytes.Equal(d.Output, want) {
			t.Fatalf("run %d: output\n%s\nwant (local compile)\n%s", i, d.Output, want)
		}
	}
	if st := s.Stats(); st.ResultHits != 0 || st.ResultMisses != 2 {
		t.Errorf("stats: hits %d misses %d, want 0 and 2", st.ResultHits, st.ResultMisses)
	}
}

// fakeCompile is a compile binary for the tests of a RunWhole's outcomes: a
// shell script whose behaviour its -p flag (its first argument) picks.
// "sleep" writes its pid into pids and sleeps.
const fakeCompile = `#!/bin/sh
case "$1" in -distssaworker=*) shift;; esac
case "$1" in
-p=ok)
	for a; do case "$a" in -o=*) echo obj >"${a#-o=}";; esac; done ;;
-p=print)
	echo out1; echo err1 >&2; echo out2
	echo "$PWD/x.go:1:1: bad" >&2
	printf '%s\n' "$@"
	exit 3 ;;
-p=nooutput)
	exit 0 ;;
-p=slow)
	sleep 0.2
	for a; do case "$a" in -o=*) echo slow >"${a#-o=}";; esac; done ;;
-p=signal)
	kill -9 $$ ;;
-p=big)
	head -c 100000 /dev/zero ;;
-p=sleep*)
	echo $$ >PIDS/$$.tmp && mv PIDS/$$.tmp PIDS/$$
	exec sleep 60 ;;
esac
`

// startFake runs a worker whose compile is fakeCompile; it returns the
// worker, its address and the directory of the sleeping compiles' pids.
func startFake(t *testing.T, jobTimeout time.Duration) (*Server, string, string) {
	t.Helper()
	return startFakeOptions(t, Options{Slots: 2, JobTimeout: jobTimeout})
}

// startFakeOptions is startFake with more of the configuration: cfg's
// compile, cache and sandbox fields are set here.
func startFakeOptions(t *testing.T, cfg Options) (*Server, string, string) {
	t.Helper()
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	os.Mkdir(pids, 0o755)
	compile := filepath.Join(dir, "compile")
	if err := os.WriteFile(compile, []byte(strings.ReplaceAll(fakeCompile, "PIDS", pids)), 0o755); err != nil {
		t.Fatal(err)
	}
	// Unconfined: the fake needs /bin/sh and writes pids outside its job.
	cfg.CacheDir, cfg.CacheMax, cfg.Compile, cfg.Name, cfg.NoSandbox = t.TempDir(), 64<<20, compile, "fake", true
	s, addr := startServerOptions(t, cfg)
	return s, addr, pids
}

// fakeRun uploads /w/p.go and /w/importcfg and returns a RunWhole of package
// p (the fake's behaviour) with -o /w/p.a.
func fakeRun(c *client, p string) *wire.RunWhole {
	src, icfg := []byte("package p\n"), []byte("# import config\n")
	h, hcfg := wire.Hash(src), wire.Hash(icfg)
	c.send(&wire.Upload{Blobs: []wire.Blob{{Hash: h, Size: uint64(len(src)), Data: wire.Compress(src)},
		{Hash: hcfg, Size: uint64(len(icfg)), Data: wire.Compress(icfg)}}})
	return &wire.RunWhole{Cwd: "/w", Args: []string{"-p=" + p, "-o", "/w/p.a", "-importcfg=/w/importcfg", "/w/p.go"}, Env: []string{"GOROOT=/g", "HOME=/h"},
		Files: []wire.File{{Path: "/w/p.go", Hash: h}, {Path: "/w/importcfg", Hash: hcfg}}}
}

// waitPids waits (boundedly) until n sleeping fake compiles run, and
// returns their pids.
func waitPids(t *testing.T, dir string, n int) []int {
	t.Helper()
	for i := 0; ; i++ {
		ents, _ := os.ReadDir(dir)
		var pids []int
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) >= n {
			return pids
		}
		if i == 500 {
			t.Fatalf("%d fake compiles running after 10s, want %d", len(pids), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGone waits (boundedly) until the process is gone.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i == 500 {
			t.Fatalf("compile %d still runs 10s after its connection closed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWholeOutcomes runs fake compiles that end in every way a RunWhole can.
func TestWholeOutcomes(t *testing.T) {
	s, addr, _ := startFake(t, time.Minute)
	c, _ := dial(t, addr, nil, s.Toolchain())
	defer func(max int) { maxRunOutput = max }(maxRunOutput)
	maxRunOutput = 10000
	for _, tc := range []struct {
		pkg    string
		status uint64
		exit   uint64
		output string // exact
		msg    string // in Msg
	}{
		// Output in the order it was written to either stream, the job
		// dir mapped back, the output flag's path the client's, no
		// worker-mode flag.
		{"print", 0, 3, "out1\nerr1\nout2\n/w/x.go:1:1: bad\n-p=print\n-o=/w/p.a\n-importcfg=/w/importcfg\n-trimpath=/g=>$GOROOT;/w=>/w\n--\n/w/p.go\n", ""},
		{"ok", 0, 0, "", ""},
		{"nooutput", 1, 0, "", "compile exited 0 but wrote no -o file"},
		{"signal", 1, 0, "", "signal: killed"},
		{"big", 1, 0, "", "output too large"},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			d := c.whole(fakeRun(c, tc.pkg))
			if d.Status != tc.status || d.Exit != tc.exit || string(d.Output) != tc.output || !strings.Contains(d.Msg, tc.msg) {
				t.Fatalf("status %d exit %d msg %q output\n%q\nwant status %d exit %d msg with %q output\n%q",
					d.Status, d.Exit, d.Msg, d.Output, tc.status, tc.exit, tc.msg, tc.output)
			}
			if tc.status == 1 && strings.Contains(d.Msg, "\n") {
				t.Errorf("Msg of more than one line: %q", d.Msg)
			}
			if tc.pkg == "ok" {
				if got := outputFiles(t, d); len(got) != 1 || string(got["o"]) != "obj\n" {
					t.Errorf("outputs %q", got)
				}
			}
		})
	}
	if st := s.Stats(); st.Runs != 5 || st.JobsOK != 2 || st.JobsFailed != 3 || st.ResultHits != 0 {
		t.Errorf("stats: runs %d ok %d failed %d hits %d, want 5 2 3 0", st.Runs, st.JobsOK, st.JobsFailed, st.ResultHits)
	}
}

// TestWholeTimeout: a compile that outlives the job timeout is killed
// and the RunWhole fails.
// TestHeartbeat checks that a worker sends Working while a RunWhole waits
// for a slot and while its compile runs, and nothing after Whole.
func TestHeartbeat(t *testing.T) {
	s, addr, pids := startFakeOptions(t, Options{Slots: 1, JobTimeout: 1500 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
	// The first RunWhole holds the only slot for 1.5 s (its job timeout); the
	// second waits for it, then runs 1.5 s itself.
	c1, _ := dial(t, addr, nil, s.Toolchain())
	c2, _ := dial(t, addr, nil, s.Toolchain())
	c1.send(fakeRun(c1, "sleep"))
	waitPids(t, pids, 1)
	r2 := fakeRun(c2, "sleep")
	r2.Args[0] = "-p=sleep2" // another action: no result cache between them
	t0 := time.Now()
	c2.send(r2)
	if d, ok := c1.recv().(*wire.Whole); !ok || d.Status != 1 {
		t.Fatalf("first Run: %#v", d)
	}
	if d, ok := c2.recv().(*wire.Whole); !ok || d.Status != 1 {
		t.Fatalf("second Run: %#v", d)
	}
	// At 100 ms, about 10 beats while the first compile runs and 25 for
	// the second's wait and run; a loaded machine may lose some.
	if wait := time.Since(t0); c1.beats < 5 || c2.beats < int(wait/(200*time.Millisecond)) {
		t.Errorf("Working messages: %d for the first Run, %d for the second in %v", c1.beats, c2.beats, wait)
	}
	// Nothing follows Whole: a StatsReq's answer comes next.
	c2.send(&wire.StatsReq{})
	c2.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if m, _, err := wire.Read(c2.nc); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*wire.Stats); !ok {
		t.Errorf("after Done: %T, want the Status", m)
	}
}

func TestWholeTimeout(t *testing.T) {
	s, addr, pids := startFake(t, time.Second)
	c, _ := dial(t, addr, nil, s.Toolchain())
	d := c.whole(fakeRun(c, "sleep"))
	if d.Status != 1 || !strings.Contains(d.Msg, "compile timed out after 1s") {
		t.Fatalf("status %d msg %q", d.Status, d.Msg)
	}
	waitGone(t, waitPids(t, pids, 1)[0])
}

// TestWholeCacheNoSlot: with every slot busy, a RunWhole in the result cache
// is answered at once. Then a closed connection kills its compile, and
// so does a peer that sends a message during its RunWhole.
func TestWholeCacheNoSlot(t *testing.T) {
	s, addr, pids := startFake(t, time.Minute)
	c, _ := dial(t, addr, nil, s.Toolchain())
	if d := c.whole(fakeRun(c, "ok")); d.Status != 0 || d.Cached {
		t.Fatalf("first run: %+v", d)
	}
	var sleepers []*client
	for i := 0; i < 2; i++ {
		sc, _ := dial(t, addr, nil, s.Toolchain())
		sc.send(fakeRun(sc, "sleep"))
		sleepers = append(sleepers, sc)
	}
	running := waitPids(t, pids, 2)
	if st := s.Stats(); st.Running != 2 {
		t.Fatalf("%d running, want 2", st.Running)
	}
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if d := c.whole(fakeRun(c, "ok")); d.Status != 0 || !d.Cached || string(outputFiles(t, d)["o"]) != "obj\n" {
		t.Fatalf("cached run: %+v", d)
	}

	// The first sleeper's connection closes; the second sends a message
	// in the middle of its RunWhole. Both compiles are killed, both
	// connections closed.
	sleepers[0].nc.Close()
	sleepers[1].send(&wire.StatsReq{})
	for _, pid := range running {
		waitGone(t, pid)
	}
	sleepers[1].nc.SetDeadline(time.Now().Add(10 * time.Second))
	if m, _, err := wire.Read(sleepers[1].nc); err == nil {
		t.Fatalf("connection still open after data during a Run: %#v", m)
	}
	for i := 0; s.Stats().Running != 0; i++ {
		if i == 500 {
			t.Fatal("slots still busy 10s after the compiles were killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.cfg.CacheDir, "jobs")); len(ents) != 0 {
		t.Errorf("%d job directories left", len(ents))
	}
}

// fakeStart is fakeRun's Start (a split task).
func fakeStart(c *client, p string) *wire.Start {
	r := fakeRun(c, p)
	return &wire.Start{Cwd: r.Cwd, Args: r.Args, Env: r.Env, Files: r.Files}
}

// waitStat waits (boundedly) until what reads the worker's statistics
// says so.
func waitStat(t *testing.T, s *Server, what string, ok func(*wire.Stats) bool) {
	t.Helper()
	for i := 0; !ok(s.Stats()); i++ {
		if i == 500 {
			t.Fatalf("after 10s, still not %s: %+v", what, s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSplitConnClosed: a split job whose connection closes while its
// compile runs, after the Job, is killed and frees its slot; so is a
// Start or RunWhole that waits for a slot when its connection closes.
func TestSplitConnClosed(t *testing.T) {
	s, addr, pids := startFake(t, time.Minute)
	var sleepers []*client
	for i := 0; i < 2; i++ {
		c, _ := dial(t, addr, nil, s.Toolchain())
		c.send(fakeStart(c, "sleep"))
		if m := c.recv(); m == nil {
			t.Fatal("no answer")
		} else if _, ok := m.(*wire.Started); !ok {
			t.Fatalf("start: %#v", m)
		}
		job := []byte("a job")
		c.send(&wire.Job{Size: uint64(len(job)), Data: wire.Compress(job)})
		sleepers = append(sleepers, c)
	}
	running := waitPids(t, pids, 2)

	// Both slots are busy: a Start and a RunWhole queue, then their
	// connections close.
	for _, split := range []bool{true, false} {
		c, _ := dial(t, addr, nil, s.Toolchain())
		if split {
			c.send(fakeStart(c, "ok"))
		} else {
			c.send(fakeRun(c, "ok"))
		}
		waitStat(t, s, "one queued", func(st *wire.Stats) bool { return st.Queued == 1 })
		c.nc.Close()
		waitStat(t, s, "none queued", func(st *wire.Stats) bool { return st.Queued == 0 && st.Running == 2 })
	}

	// The sleepers' connections close: their compiles die at once, long
	// before the job timeout, and the slots are free.
	for i, c := range sleepers {
		c.nc.Close()
		waitGone(t, running[i])
	}
	waitStat(t, s, "no job running", func(st *wire.Stats) bool { return st.Running == 0 && st.Queued == 0 })
	if st := s.Stats(); st.Jobs != 2 || st.JobsFailed != 2 {
		t.Errorf("stats: jobs %d failed %d, want 2 and 2", st.Jobs, st.JobsFailed)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.cfg.CacheDir, "jobs")); len(ents) != 0 {
		t.Errorf("%d job directories left", len(ents))
	}
}

// TestRunRefusals sends Runs that must not run; each is refused with an
// Error that names the flag or path, and the connection stays usable.
func TestRunRefusals(t *testing.T) {
	s, addr, _ := startFake(t, time.Minute)
	c, _ := dial(t, addr, nil, s.Toolchain())
	good := fakeRun(c, "ok")
	f, cfg := good.Files[0], good.Files[1]
	args := func(a ...string) []string { return append([]string{"-importcfg=/w/importcfg"}, a...) }
	files := func(f ...wire.File) []wire.File { return append(f, cfg) }
	for _, tc := range []struct {
		name string
		run  wire.RunWhole
		want string
	}{
		{"flag", wire.RunWhole{Cwd: "/w", Args: args("-json=0,file:///tmp/j", "-o=/w/p.a", "p.go"), Files: files(f)}, "flag -json is not on the worker's whitelist"},
		{"not uploaded", wire.RunWhole{Cwd: "/w", Args: args("-o=/w/p.a", "/etc/passwd"), Files: files(f)}, "source file /etc/passwd was not uploaded"},
		{"relative dotdot", wire.RunWhole{Cwd: "/w/a", Args: args("-o=/w/p.a", "../../../../../../../../../../etc/passwd"),
			Files: files(wire.File{Path: "/etc/passwd", Hash: f.Hash})}, "source file ../../../../../../../../../../etc/passwd leaves the working directory"},
		{"path", wire.RunWhole{Cwd: "/w", Args: args("-o=/w/p.a", "p.go"), Files: files(wire.File{Path: "/w/../p.go", Hash: f.Hash})}, "not clean"},
		{"no -o", wire.RunWhole{Cwd: "/w", Args: args("p.go"), Files: files(f)}, "needs -o"},
		{"no importcfg", wire.RunWhole{Cwd: "/w", Args: []string{"-p=ok", "-o=/w/p.a", "p.go"}, Files: []wire.File{f}}, "no -importcfg"},
		{"GOSSADIR", wire.RunWhole{Cwd: "/w", Args: args("-o=/w/p.a", "p.go"), Env: []string{"GOSSADIR=/tmp/x"}, Files: files(f)}, "environment variable GOSSADIR"},
		{"cpuprofile", wire.RunWhole{Cwd: "/w", Args: args("-o=/w/p.a", "-cpuprofile=/tmp/prof", "p.go"), Files: files(f)}, "flag -cpuprofile writes a file"},
		{"missing blob", wire.RunWhole{Cwd: "/w", Args: args("-o=/w/p.a", "p.go"), Files: files(wire.File{Path: "/w/p.go", Hash: make([]byte, 32)})}, "input /w/p.go: no proof of possession for blob sha256:000000000000…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.send(&tc.run)
			m := c.recv()
			e, ok := m.(*wire.Error)
			if !ok || !strings.Contains(e.Msg, tc.want) {
				t.Fatalf("got %#v, want an error with %q", m, tc.want)
			}
		})
	}
	// A blob that does not match its hash fails the next RunWhole.
	c.send(&wire.Upload{Blobs: []wire.Blob{{Hash: make([]byte, 32), Size: 3, Data: wire.Compress([]byte("abc"))}}})
	c.send(good)
	if e, ok := c.recv().(*wire.Error); !ok || !strings.Contains(e.Msg, "does not match its hash") {
		t.Fatalf("bad blob: got %#v", e)
	}
	if d := c.whole(good); d.Status != 0 || d.Exit != 0 {
		t.Fatalf("good run after refusals: %+v", d)
	}
	if st := s.Stats(); st.Refused != 10 || st.Runs != 1 {
		t.Errorf("stats: refused %d runs %d, want 10 and 1", st.Refused, st.Runs)
	}
}

// TestCacheDirLock checks that a cache dir serves one daemon at a time:
// a second New on it fails naming it, until the first shuts down; and
// that its job directories are the daemon's user's alone.
func TestCacheDirLock(t *testing.T) {
	compile := testutil.Compile(t)
	cfg := Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 64 << 20, Compile: compile}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(cfg.CacheDir + "/jobs"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("jobs dir: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), cfg.CacheDir) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second daemon on %s: %v, want an error naming it", cfg.CacheDir, err)
	}
	s.Shutdown(context.Background())
	s2, err := New(cfg)
	if err != nil {
		t.Fatalf("after the first daemon's shutdown: %v", err)
	}
	s2.Shutdown(context.Background())
}
