// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"distssa/remote/internal/wire"
)

var testToken = []byte("0123456789abcdef-test-token")

// TestAcceptFDShortage runs a worker in a child process whose file
// descriptor limit leaves room for a few connections, and opens more idle
// connections than that: the worker logs the shortage, keeps accepting,
// and serves an authenticated client once the idle connections' handshake
// time is up.
func TestAcceptFDShortage(t *testing.T) {
	if os.Getenv("DISTSSA_TEST_FD_CHILD") == "1" {
		fdChild()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAcceptFDShortage$")
	cmd.Env = append(os.Environ(), "DISTSSA_TEST_FD_CHILD=1")
	stdin, _ := cmd.StdinPipe() // the child serves until it closes
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() string { // ends the child; returns its log
		stdin.Close()
		<-exited
		return stderr.String()
	}
	defer stop()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
	if err != nil || !ok {
		t.Fatalf("child: %q %v\n%s", line, err, stop())
	}
	const idle = 30
	for i := 0; i < idle; i++ {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v\nworker's log:\n%s", i, err, stop())
		}
		defer nc.Close()
	}
	// The kernel queues the connections the worker cannot accept yet; it
	// takes this one when the idle ones have timed out.
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%v\nworker's log:\n%s", err, stop())
	}
	c, m := handshake(t, nc, testToken, nil)
	if _, ok := m.(*wire.Welcome); !ok {
		t.Fatalf("handshake after %d idle connections: %#v\nworker's log:\n%s", idle, m, stop())
	}
	c.send(&wire.StatsReq{})
	if st, ok := c.recv().(*wire.Stats); !ok || st.Slots != 1 {
		t.Fatalf("status: %#v", st)
	}
	select {
	case <-exited:
		t.Fatalf("child exited: %v\n%s", waitErr, stop())
	default:
	}
	log := stop()
	if waitErr != nil {
		t.Errorf("child: %v\n%s", waitErr, log)
	}
	if n := strings.Count(log, "msg=\"accept fails; retrying\""); n < 1 || n >= idle {
		t.Errorf("%d accept failures logged, want one per burst (at least 1, fewer than %d):\n%s", n, idle, log)
	}
	if !strings.Contains(log, "too many open files") {
		t.Errorf("the log does not name the shortage:\n%s", log)
	}
}

// fdChild is TestAcceptFDShortage's worker: it lowers its own file limit
// to what it has open and 4 more, prints its address, and serves until
// its stdin closes; it exits 3 if Serve returns.
func fdChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	exe, _ := os.Executable() // any file: only its hash is taken
	dir, err := os.MkdirTemp("", "fdchild")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	s, err := New(Options{Slots: 1, CacheDir: dir, CacheMax: 1 << 20, Token: testToken, Compile: exe,
		HandshakeTimeout: time.Second, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		fail(err)
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = uint64(len(fds) + 4)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fail(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	fmt.Printf("addr %s\n", ln.Addr())
	stdin := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdin) }()
	select {
	case err := <-served:
		fmt.Fprintln(os.Stderr, "Serve returned:", err)
		os.RemoveAll(dir)
		os.Exit(3)
	case <-stdin:
	}
}

// TestMaxConns: past MaxConns, a new connection is closed at once, and
// counted; when one closes, a client is served again.
func TestMaxConns(t *testing.T) {
	exe, _ := os.Executable()
	s, addr := startServerOptions(t, Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: exe,
		MaxConns: 3, HandshakeTimeout: time.Minute})
	var idle []net.Conn
	for i := 0; i < 3; i++ {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		idle = append(idle, nc)
	}
	waitConns := func(n int) {
		t.Helper()
		for i := 0; ; i++ {
			s.mu.Lock()
			got := len(s.conns)
			s.mu.Unlock()
			if got == n {
				return
			}
			if i == 500 {
				t.Fatalf("%d connections after 10s, want %d", got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitConns(3)
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection past MaxConns: read %d, %v; want it closed at once", n, err)
	}
	if got := s.Stats().Refused; got != 1 {
		t.Errorf("Refused = %d, want 1", got)
	}
	idle[0].Close()
	waitConns(2)
	if _, m := dial(t, addr, nil, nil); m == nil {
		t.Fatal("no answer")
	} else if _, ok := m.(*wire.Welcome); !ok {
		t.Fatalf("after an idle connection closed: %#v", m)
	}
}

// TestHandshakeTimeout: the whole handshake is bounded, not each frame:
// a peer that sends Hello and then nothing is dropped when
// HandshakeTimeout has passed since it connected.
func TestHandshakeTimeout(t *testing.T) {
	exe, _ := os.Executable()
	s, addr := startServerOptions(t, Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: exe,
		Token: testToken, HandshakeTimeout: time.Second})
	for _, hello := range []bool{false, true} {
		t0 := time.Now()
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(t0.Add(5 * time.Second))
		if hello {
			if _, err := wire.Write(nc, &wire.Hello{Version: wire.Version, Nonce: make([]byte, 32), Toolchain: s.Toolchain(), GOOS: "linux", GOARCH: "amd64"}); err != nil {
				t.Fatal(err)
			}
			if m, _, err := wire.Read(nc); err != nil {
				t.Fatal(err)
			} else if _, ok := m.(*wire.Challenge); !ok {
				t.Fatalf("hello: %#v", m)
			}
		}
		m, _, err := wire.Read(nc)
		if e, ok := m.(*wire.Error); ok {
			if !strings.Contains(e.Msg, "timeout") {
				t.Errorf("error %q does not say timeout", e.Msg)
			}
			_, _, err = wire.Read(nc)
		}
		if !errors.Is(err, io.EOF) {
			t.Fatalf("hello %v: %v after %v, want the connection closed after the handshake timeout", hello, err, time.Since(t0))
		}
	}
}

// fakeClock is a clock that tests move.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// dialFrom is dial from the loopback address local.
func dialFrom(t *testing.T, local, addr string, token, toolchain []byte) any {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, m := handshake(t, nc, token, toolchain)
	return m
}

// TestAuthThrottle: after AuthFailLimit failed authentications within a
// minute, a source's handshakes are refused, the right token too, for a
// minute, by a Throttle that names the time left; another source is
// served meanwhile.
func TestAuthThrottle(t *testing.T) {
	exe, _ := os.Executable()
	s, addr := startServerOptions(t, Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: exe,
		Token: testToken, AuthFailLimit: 3})
	clock := &fakeClock{t: time.Now()}
	s.auth.mu.Lock()
	s.auth.now = clock.now
	s.auth.mu.Unlock()
	wantErr := func(m any, want string) {
		t.Helper()
		if e, ok := m.(*wire.Error); !ok || !strings.Contains(e.Msg, want) {
			t.Fatalf("got %#v, want an error with %q", m, want)
		}
	}
	wantThrottle := func(m any, want time.Duration) {
		t.Helper()
		if th, ok := m.(*wire.Throttle); !ok || th.ForNs != uint64(want) || th.Msg != fmt.Sprintf("too many failed authentications from 127.0.0.1: refused for %v more", want) {
			t.Fatalf("got %#v, want a throttle for %v", m, want)
		}
	}
	wantWelcome := func(m any) {
		t.Helper()
		if _, ok := m.(*wire.Welcome); !ok {
			t.Fatalf("got %#v, want welcome", m)
		}
	}
	// Two failures, then a minute passes: the count starts again.
	for i := 0; i < 2; i++ {
		wantErr(dialFrom(t, "127.0.0.1", addr, []byte("wrong-token-guess-1"), nil), "wrong token")
	}
	clock.add(61 * time.Second)
	for i := 0; i < 2; i++ {
		wantErr(dialFrom(t, "127.0.0.1", addr, []byte("wrong-token-guess-2"), nil), "wrong token")
	}
	wantWelcome(dialFrom(t, "127.0.0.1", addr, testToken, nil))
	// A success forgets the failures; three in a row refuse the source.
	for i := 0; i < 3; i++ {
		wantErr(dialFrom(t, "127.0.0.1", addr, nil, nil), "requires a token")
	}
	wantThrottle(dialFrom(t, "127.0.0.1", addr, testToken, nil), time.Minute)
	wantWelcome(dialFrom(t, "127.0.0.2", addr, testToken, nil))
	clock.add(59 * time.Second)
	wantThrottle(dialFrom(t, "127.0.0.1", addr, testToken, nil), time.Second)
	clock.add(2 * time.Second)
	wantWelcome(dialFrom(t, "127.0.0.1", addr, testToken, nil))
	if st := s.Stats(); st.AuthFails != 7 || st.Refused != 2 {
		t.Errorf("stats: auth fails %d refused %d, want 7 and 2", st.AuthFails, st.Refused)
	}
}
