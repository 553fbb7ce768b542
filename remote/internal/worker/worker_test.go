// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
)

// startServer runs a worker on an ephemeral loopback port.
func startServer(t *testing.T, compile string, token []byte) (*Server, string) {
	t.Helper()
	s, err := New(Config{Slots: 2, CacheDir: t.TempDir(), CacheMax: 64 << 20, Token: token, Compile: compile,
		Name: "test", JobTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, ln.Addr().String()
}

// client is a raw protocol client.
type client struct {
	t        *testing.T
	nc       net.Conn
	raw, zst int // bytes uploaded, before and after compression
}

func (c *client) send(m any) {
	c.t.Helper()
	if _, err := wire.Write(c.nc, m); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) recv() any {
	c.t.Helper()
	m, _, err := wire.Read(c.nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// dial connects and runs the handshake; it returns the final message
// (Welcome or Error).
func dial(t *testing.T, addr string, token, toolchain []byte) (*client, any) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(time.Minute))
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	c.send(&wire.Hello{Version: wire.Version, Nonce: nonce, Toolchain: toolchain, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH})
	ch, ok := c.recv().(*wire.Challenge)
	if !ok {
		t.Fatal("no challenge")
	}
	var mac []byte
	if token != nil {
		mac = wire.ClientMAC(token, nonce, ch.Nonce)
	}
	c.send(&wire.Auth{MAC: mac})
	m := c.recv()
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
	var hashes [][]byte
	data := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			c.t.Fatal(err)
		}
		h := wire.Hash(b)
		data[string(h)] = b
		hashes = append(hashes, h)
		st.Files = append(st.Files, wire.File{Path: p, Hash: h})
	}
	c.send(&wire.Query{Hashes: hashes})
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

// TestWorkerJobs runs the real compile in worker mode through the daemon:
// a job with the client's fingerprint gives a result, an empty job none,
// and a job with another fingerprint is refused with the compiler's
// message.
func TestWorkerJobs(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	dir := t.TempDir()
	cwd, args := testutil.Package(t, compile, dir)
	env := []string{"GOROOT=" + testutil.GOROOT(compile)}
	fp := testutil.Fingerprint(t, compile, cwd, env, args...)

	for _, tc := range []struct {
		name   string
		job    []byte
		status uint64
		want   string // in Msg, or the result's prefix
	}{
		{"ok", testutil.Job(fp, "p.Gcd<ABIInternal>"), 0, "distssa\x00"},
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
// whitelist, inputs that were not uploaded.
func TestJobRefusals(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	c, _ := dial(t, addr, nil, s.Toolchain())
	src := []byte("package p\n")
	h := wire.Hash(src)
	c.send(&wire.Upload{Blobs: []wire.Blob{{Hash: h, Size: uint64(len(src)), Data: wire.Compress(src)}}})
	good := wire.File{Path: "/w/p.go", Hash: h}
	for _, tc := range []struct {
		name  string
		start wire.Start
		want  string
	}{
		{"dotdot", wire.Start{Cwd: "/w", Args: []string{"p.go"}, Files: []wire.File{{Path: "/w/../../etc/p.go", Hash: h}}}, "not clean"},
		{"relative", wire.Start{Cwd: "/w", Args: []string{"p.go"}, Files: []wire.File{{Path: "w/p.go", Hash: h}}}, "not absolute"},
		{"cwd", wire.Start{Cwd: "../w", Args: []string{"p.go"}, Files: []wire.File{good}}, "cwd"},
		{"root", wire.Start{Cwd: "/w", Args: []string{"p.go"}, Files: []wire.File{{Path: "/", Hash: h}}}, "names no file"},
		{"not uploaded", wire.Start{Cwd: "/w", Args: []string{"../../etc/passwd"}, Files: []wire.File{good}}, "source file /etc/passwd was not uploaded"},
		{"importcfg outside", wire.Start{Cwd: "/w", Args: []string{"-importcfg=/etc/importcfg", "p.go"}, Files: []wire.File{good}}, "-importcfg file /etc/importcfg was not uploaded"},
		{"flag", wire.Start{Cwd: "/w", Args: []string{"-S", "p.go"}, Files: []wire.File{good}}, "flag -S is not on the worker's whitelist"},
		{"coveragecfg", wire.Start{Cwd: "/w", Args: []string{"-coveragecfg=/w/c", "p.go"}, Files: []wire.File{good}}, "flag -coveragecfg"},
		{"worker flag", wire.Start{Cwd: "/w", Args: []string{"-distssaworker=/tmp", "p.go"}, Files: []wire.File{good}}, "flag -distssaworker"},
		{"missing blob", wire.Start{Cwd: "/w", Args: []string{"p.go"}, Files: []wire.File{{Path: "/w/p.go", Hash: make([]byte, 32)}}}, "not in the worker's store"},
		{"response file", wire.Start{Cwd: "/w", Args: []string{"@/etc/args"}, Files: []wire.File{good}}, "response file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.send(&tc.start)
			e, ok := c.recv().(*wire.Error)
			if !ok || !strings.Contains(e.Msg, tc.want) {
				t.Fatalf("got %#v, want an error with %q", e, tc.want)
			}
		})
	}
	// A blob whose content does not match its hash fails the next Start.
	c.send(&wire.Upload{Blobs: []wire.Blob{{Hash: make([]byte, 32), Size: uint64(len(src)), Data: wire.Compress(src)}}})
	c.send(&wire.Start{Cwd: "/w", Args: []string{"p.go"}, Files: []wire.File{good}})
	if e, ok := c.recv().(*wire.Error); !ok || !strings.Contains(e.Msg, "does not match its hash") {
		t.Fatalf("bad blob: got %#v", e)
	}
	if st := s.Stats(); st.Refused != 12 || st.Jobs != 0 {
		t.Errorf("stats: refused %d jobs %d, want 12 and 0", st.Refused, st.Jobs)
	}
}

func TestBadConfig(t *testing.T) {
	compile := testutil.Compile(t)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Slots: 0, CacheMax: 1 << 20, Compile: compile}, "slots must be at least 1"},
		{Config{Slots: 1, CacheMax: 10, Compile: compile}, "cache size 10 is below 1 MiB"},
		{Config{Slots: 1, CacheMax: 1 << 20, Compile: "/nonexistent/compile"}, "compile binary: open /nonexistent/compile"},
	} {
		tc.cfg.CacheDir = t.TempDir()
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestNoTokenOnlyLoopback(t *testing.T) {
	compile := testutil.Compile(t)
	s, err := New(Config{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile})
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
	cwd, args := testutil.Package(t, compile, dir)
	env := []string{"GOROOT=" + testutil.GOROOT(compile)}
	fp := testutil.Fingerprint(t, compile, cwd, env, args...)
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
