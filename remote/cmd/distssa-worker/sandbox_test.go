// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"distssa/remote/internal/sandbox"
	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
	"distssa/remote/internal/worker"
)

// startLog runs the daemon with flags and returns what it logs before it
// listens, or, if it exits first, everything it printed.
func startLog(t *testing.T, compile string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := daemonCmd(ctx, append([]string{"-listen=127.0.0.1:0", "-cache=" + t.TempDir(), "-compile=" + compile}, flags...)...)
	return cmdLog(t, cmd)
}

// cmdLog starts the daemon's command cmd and returns what it logs before
// it listens, or, if it exits first, everything it printed.
func cmdLog(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var b strings.Builder
	r := bufio.NewReader(stderr)
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || strings.Contains(line, "msg=listening") {
			return b.String()
		}
	}
}

// TestSandboxFlags: the daemon says at start what confines its compiles
// (Landlock's ABI, the seccomp filter and the limits, and a warning for
// what the kernel lacks), or that -sandbox=off (or false) leaves them
// unconfined; it refuses a -compile-mem too small to run a compile, and
// a -sandbox mode it does not know. On loopback, -sandbox=require is no
// default, and it starts where the kernel has what it requires.
func TestSandboxFlags(t *testing.T) {
	compile := testutil.Compile(t)
	log := startLog(t, compile, "-compile-mem=4294967296", "-job-timeout=1m")
	want := "msg=sandbox landlock="
	if !strings.Contains(log, want) || !strings.Contains(log, "mem=4294967296") || !strings.Contains(log, "nofile=1024") {
		t.Errorf("default: log has no %q with mem=4294967296 nofile=1024:\n%s", want, log)
	}
	if _, err := sandbox.Available(); err != nil && !strings.Contains(log, "landlock: not available on this kernel (") {
		t.Errorf("default: log does not say that Landlock is not available:\n%s", log)
	}
	if strings.Count(log, "landlock") != 1 || strings.Contains(log, "require") {
		t.Errorf("default: landlock said more than once, or the sandbox required:\n%s", log)
	}
	for _, off := range []string{"-sandbox=off", "-sandbox=false"} {
		if log := startLog(t, compile, off); !strings.Contains(log, "sandbox: off") || strings.Contains(log, "mem=") {
			t.Errorf("%s:\n%s", off, log)
		}
	}
	if log := startLog(t, compile, "-compile-mem=1000"); !strings.Contains(log, "compile memory bound 1000 is below 512 MiB") {
		t.Errorf("-compile-mem=1000:\n%s", log)
	}
	if log := startLog(t, compile, "-sandbox=strict"); !strings.Contains(log, "distssa-worker: -sandbox=strict: the mode is require, best-effort or off") {
		t.Errorf("-sandbox=strict:\n%s", log)
	}
	_, lerr := sandbox.Available()
	serr := sandbox.SeccompAvailable()
	log = startLog(t, compile, "-sandbox=require")
	switch {
	case lerr != nil:
		want = "distssa-worker: sandbox required (-sandbox=require), but Landlock is not available on this kernel"
	case serr != nil:
		want = "distssa-worker: sandbox required (-sandbox=require), but the seccomp filter is not available"
	default:
		want = "msg=sandbox landlock="
	}
	if !strings.Contains(log, want) {
		t.Errorf("-sandbox=require: log has no %q:\n%s", want, log)
	}
}

// TestSandboxDefault: a worker that listens beyond loopback requires the
// sandbox by default, and says so; one on loopback does not. (The
// worker listens on all addresses in a network namespace of its own,
// which has no interface up.)
func TestSandboxDefault(t *testing.T) {
	compile := testutil.Compile(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := daemonCmd(ctx, "-listen=0.0.0.0:0", "-cache="+t.TempDir(), "-compile="+compile)
	cmd.Env = append(cmd.Env, "DISTSSA_TOKEN=0123456789abcdef0123456789abcdef")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	probe := exec.CommandContext(ctx, "true")
	probe.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := probe.Run(); err != nil {
		t.Skipf("skipping: cannot make a network namespace: %v", err)
	}
	log := cmdLog(t, cmd)
	want := "sandbox: -sandbox=require by default: the worker listens beyond loopback"
	if !strings.Contains(log, want) || !strings.Contains(log, "listen=0.0.0.0:0") {
		t.Errorf("-listen=0.0.0.0:0: log has no %q:\n%s", want, log)
	}
	if _, err := sandbox.Available(); err == nil && sandbox.SeccompAvailable() == nil && !strings.Contains(log, "msg=listening") {
		t.Errorf("-listen=0.0.0.0:0: the worker did not start:\n%s", log)
	}
}

// TestSandboxMode: -sandbox's modes, its boolean past, and its default
// by the listening address.
func TestSandboxMode(t *testing.T) {
	for _, tc := range []struct {
		v, listen string
		mode      string
		byDefault bool
	}{
		{"", "127.0.0.1:7070", "best-effort", true},
		{"", "127.0.0.2:0", "best-effort", true},
		{"", "[::1]:7070", "best-effort", true},
		{"", "localhost:7070", "best-effort", true},
		{"", ":7070", "require", true},
		{"", "0.0.0.0:7070", "require", true},
		{"", "[::]:7070", "require", true},
		{"", "192.0.2.1:7070", "require", true},
		{"", "worker.example:7070", "require", true},
		{"require", "127.0.0.1:7070", "require", false},
		{"best-effort", ":7070", "best-effort", false},
		{"off", ":7070", "off", false},
		{"true", ":7070", "best-effort", false},
		{"false", "127.0.0.1:7070", "off", false},
	} {
		mode, byDefault, err := sandboxMode(tc.v, tc.listen)
		if err != nil || mode != tc.mode || byDefault != tc.byDefault {
			t.Errorf("-sandbox=%q -listen=%s: %q %v %v, want %q %v", tc.v, tc.listen, mode, byDefault, err, tc.mode, tc.byDefault)
		}
	}
	if _, _, err := sandboxMode("yes", ":7070"); err == nil || err.Error() != "-sandbox=yes: the mode is require, best-effort or off" {
		t.Errorf("-sandbox=yes: %v", err)
	}
}

// TestKillWorkerGrandchild kills -9 the worker daemon while its compile,
// a fake one, runs after it tried to start a grandchild in a session of
// its own: no process of the fake compile outlives the daemon.
func TestKillWorkerGrandchild(t *testing.T) {
	fake := testutil.FakeCompile(t)
	t.Cleanup(func() { testutil.KillProcs(fake) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, addr, _ := startDaemon(t, ctx, fake)
	tc, err := worker.HashFile(fake)
	if err != nil {
		t.Fatal(err)
	}
	nc := runFake(t, addr, tc, "spawn-block")
	defer nc.Close()
	// The worker's first answer; Working, its heartbeat while the
	// compile runs, is none (a loaded machine may start the fake compile
	// after the first one).
	answer := make(chan any, 1)
	go func() {
		for {
			m, _, err := wire.Read(nc)
			if err != nil {
				answer <- err
				return
			}
			if _, ok := m.(*wire.Working); !ok {
				answer <- m
				return
			}
		}
	}()
	for i := 0; len(testutil.Ready(fake)) == 0; i++ {
		select {
		case m := <-answer:
			t.Fatalf("the worker answered %#v before the fake compile ran", m)
		case <-time.After(20 * time.Millisecond):
		}
		if i == 1500 {
			t.Fatal("the fake compile did not run within 30s")
		}
	}
	t.Logf("fake compile processes before the kill: %v", testutil.Procs(fake))
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if left := testutil.WaitNoProcs(fake); len(left) > 0 {
		t.Fatalf("processes %v of the fake compile outlive the worker by 10s", left)
	}
}

// runFake connects to the worker at addr, whose compile binary has the
// hash tc, and sends it a RunWhole of the fake compile with -p=pkg; it
// returns the connection, the RunWhole's answer unread.
func runFake(t *testing.T, addr string, tc []byte, pkg string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(time.Minute))
	send := func(m any) {
		if _, err := wire.Write(nc, m); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() any {
		for {
			m, _, err := wire.Read(nc)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.(*wire.Working); !ok {
				return m
			}
		}
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	send(&wire.Hello{Version: wire.Version, Nonce: nonce, Toolchain: tc, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH})
	if m, ok := recv().(*wire.Challenge); !ok {
		t.Fatalf("no challenge: %#v", m)
	}
	send(&wire.Auth{})
	if m, ok := recv().(*wire.Welcome); !ok {
		t.Fatalf("no welcome: %#v", m)
	}
	src, icfg := []byte("package p\n"), []byte("# import config\n")
	h, hcfg := wire.Hash(src), wire.Hash(icfg)
	send(&wire.Upload{Blobs: []wire.Blob{{Hash: h, Size: uint64(len(src)), Data: wire.Compress(src)},
		{Hash: hcfg, Size: uint64(len(icfg)), Data: wire.Compress(icfg)}}})
	send(&wire.RunWhole{Cwd: "/w", Args: []string{"-p=" + pkg, "-o", "/w/p.a", "-importcfg=/w/importcfg", "/w/p.go"}, Env: []string{"GOROOT=/g"},
		Files: []wire.File{{Path: "/w/p.go", Hash: h}, {Path: "/w/importcfg", Hash: hcfg}}})
	return nc
}
