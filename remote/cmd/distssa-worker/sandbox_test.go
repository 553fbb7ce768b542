// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"net"
	"os"
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
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-listen=127.0.0.1:0", "-cache=" + t.TempDir(), "-compile=" + compile}, flags...)...)
	cmd.Env = append(os.Environ(), "DISTSSA_TEST_MAIN=1", "DISTSSA_TOKEN=")
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
// (Landlock's ABI and the limits, or why there is no Landlock), or that
// -sandbox=false leaves them unconfined; it refuses a -compile-mem too
// small to run a compile.
func TestSandboxFlags(t *testing.T) {
	compile := testutil.Compile(t)
	log := startLog(t, compile, "-compile-mem=4294967296", "-job-timeout=1m")
	want := "msg=sandbox landlock="
	if _, err := sandbox.Available(); err != nil {
		want = "landlock: not available on this kernel ("
	}
	if !strings.Contains(log, want) || !strings.Contains(log, "mem=4294967296") || !strings.Contains(log, "nofile=1024") {
		t.Errorf("default: log has no %q with mem=4294967296 nofile=1024:\n%s", want, log)
	}
	if strings.Count(log, "landlock") != 1 {
		t.Errorf("default: landlock said more than once:\n%s", log)
	}
	if log := startLog(t, compile, "-sandbox=false"); !strings.Contains(log, "sandbox: off") || strings.Contains(log, "mem=") {
		t.Errorf("-sandbox=false:\n%s", log)
	}
	if log := startLog(t, compile, "-compile-mem=1000"); !strings.Contains(log, "compile memory bound 1000 is below 512 MiB") {
		t.Errorf("-compile-mem=1000:\n%s", log)
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
	answer := make(chan any, 1)
	go func() {
		m, _, err := wire.Read(nc)
		if err != nil {
			answer <- err
			return
		}
		answer <- m
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
// hash tc, and sends it a Run of the fake compile with -p=pkg; it
// returns the connection, the Run's answer unread.
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
	send(&wire.Run{Cwd: "/w", Args: []string{"-p=" + pkg, "-o", "/w/p.a", "-importcfg=/w/importcfg", "/w/p.go"}, Env: []string{"GOROOT=/g"},
		Files: []wire.File{{Path: "/w/p.go", Hash: h}, {Path: "/w/importcfg", Hash: hcfg}}})
	return nc
}
