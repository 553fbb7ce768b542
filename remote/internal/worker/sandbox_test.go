// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/sandbox"
	"distssa/remote/internal/testutil"
)

// sandboxJob makes a job directory laid out as materialize does, with
// p.go in its root, and returns the job and the file's path.
func sandboxJob(t testing.TB, s *Server) (*workdir, string) {
	t.Helper()
	dir, err := os.MkdirTemp(s.cfg.CacheDir+"/jobs", "t-")
	if err != nil {
		t.Fatal(err)
	}
	j := &workdir{dir: dir, root: dir + "/root", out: dir + "/out"}
	for _, d := range []string{j.root + "/w", j.out, dir + "/tmp"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := j.root + "/w/p.go"
	if err := os.WriteFile(src, []byte("package p\n\nfunc F() int { return 1 }\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	j.cwd = j.root + "/w"
	return j, src
}

// TestSandboxCompile runs the real compile the way the worker does, in
// a job directory: under the sandbox, a compile of the job's own source
// into its out directory succeeds, and one that reads a source file or
// writes its object outside the job directory fails with "permission
// denied". Unconfined, all three succeed.
func TestSandboxCompile(t *testing.T) {
	compile := testutil.Compile(t)
	if _, err := sandbox.Available(); err != nil {
		t.Skipf("skipping: Landlock is not available on this kernel: %v", err)
	}
	outside := t.TempDir()
	secret := outside + "/secret.go"
	if err := os.WriteFile(secret, []byte("package p\n\nfunc G() int { return 2 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, off := range []bool{false, true} {
		s, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile, NoSandbox: off})
		if err != nil {
			t.Fatal(err)
		}
		j, src := sandboxJob(t, s)
		for _, tc := range []struct {
			name   string
			obj    string
			src    string
			denied bool
		}{
			{"inside", j.out + "/p.a", src, false},
			{"read outside", j.out + "/q.a", secret, true},
			{"write outside", outside + "/p.a", src, true},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			j.args = []string{"-p=p", "-o=" + tc.obj, "-pack", "-complete", "--", tc.src}
			cmd := s.compileCommand(ctx, j)
			cmd.Dir, cmd.Env = j.cwd, []string{"TMPDIR=" + j.dir + "/tmp"}
			out, err := cmd.CombinedOutput()
			cancel()
			denied := strings.Contains(string(out), "permission denied")
			want := tc.denied && !off
			if (err != nil) != want || denied != want {
				t.Errorf("sandbox off %v, %s: %v\n%s", off, tc.name, err, out)
			}
			if want {
				t.Logf("%s: %s", tc.name, cmdline.LastLine(string(out)))
			}
		}
	}
}

// TestSandboxSetupFailure: a compile the sandbox cannot start (a shell
// script, whose interpreter is outside the toolchain) fails the RunWhole with
// the sandbox's message as the worker's, not as the compile's exit.
func TestSandboxSetupFailure(t *testing.T) {
	if _, err := sandbox.Available(); err != nil {
		t.Skipf("skipping: Landlock is not available on this kernel: %v", err)
	}
	compile := filepath.Join(t.TempDir(), "compile")
	if err := os.WriteFile(compile, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, addr := startServerOptions(t, Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 64 << 20, Compile: compile,
		JobTimeout: time.Minute})
	c, _ := dial(t, addr, nil, s.Toolchain())
	d := c.whole(fakeRun(c, "ok"))
	if d.Status != 1 || !strings.Contains(d.Msg, "sandbox: exec") || !strings.Contains(d.Msg, "permission denied") {
		t.Fatalf("status %d exit %d msg %q output %q", d.Status, d.Exit, d.Msg, d.Output)
	}
}

// startSandboxFake runs a sandboxed worker whose compile is the fake
// compile of testutil.FakeCompile; it returns the fake's path and a
// client.
func startSandboxFake(t *testing.T) (string, *client) {
	t.Helper()
	fake := testutil.FakeCompile(t)
	t.Cleanup(func() { testutil.KillProcs(fake) })
	s, addr := startServerOptions(t, Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 64 << 20, Compile: fake, JobTimeout: time.Minute})
	c, _ := dial(t, addr, nil, s.Toolchain())
	return fake, c
}

// TestSandboxProcesses runs fake compiles that start processes: one a
// grandchild in a session of its own, which leaves the compile's
// process group, the other 20 children. Under the sandbox none starts,
// and no process of the fake compile outlives its job.
func TestSandboxProcesses(t *testing.T) {
	fake, c := startSandboxFake(t)
	for _, tc := range []struct{ pkg, want string }{
		// The worker's compile path reads "the compile" in its answers.
		{"spawn", "spawn: fork/exec the compile: operation not permitted\n"},
		{"forks", "started 0 of 20\n"},
	} {
		d := c.whole(fakeRun(c, tc.pkg))
		if d.Status != 0 || d.Exit != 3 || string(d.Output) != tc.want {
			t.Errorf("-p=%s: status %d exit %d msg %q output %q, want exit 3 output %q", tc.pkg, d.Status, d.Exit, d.Msg, d.Output, tc.want)
		}
		if left := testutil.WaitNoProcs(fake); len(left) > 0 {
			t.Errorf("-p=%s: processes %v of the fake compile outlive its job by 10s", tc.pkg, left)
		}
	}
}

// TestSandboxUnixSocket: a compile cannot connect to a unix socket that
// listens in a directory it cannot even read.
func TestSandboxUnixSocket(t *testing.T) {
	_, c := startSandboxFake(t)
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	d := c.whole(fakeRun(c, "unix:"+sock))
	if want := "connect: dial unix " + sock + ": socket: permission denied\n"; d.Status != 0 || d.Exit != 3 || string(d.Output) != want {
		t.Errorf("status %d exit %d msg %q output %q, want exit 3 output %q", d.Status, d.Exit, d.Msg, d.Output, want)
	}
}

// TestSandboxMissing: on a kernel without Landlock, or without seccomp
// filters (test hooks say so), the worker says so once at start, and its
// compiles run with what there is; with NeedSandbox (-sandbox=require) it
// refuses to start, naming what is missing.
func TestSandboxMissing(t *testing.T) {
	compile := testutil.Compile(t)
	defer func(f func() (int, error), g func() error) { landlockAvailable, seccompAvailable = f, g }(landlockAvailable, seccompAvailable)
	for _, tc := range []struct {
		landlock, seccomp error
		warn, refusal     string
	}{
		{errors.New("no landlock_create_ruleset system call"), nil,
			"landlock: not available on this kernel (no landlock_create_ruleset system call); compiles can read and write what the worker's user can",
			"sandbox required (-sandbox=require), but Landlock is not available on this kernel (no landlock_create_ruleset system call); -sandbox=best-effort runs compiles without it"},
		{nil, errors.New("the kernel has no seccomp filters"),
			"seccomp: the filter is not available (the kernel has no seccomp filters); compiles can start processes and open sockets",
			"sandbox required (-sandbox=require), but the seccomp filter is not available (the kernel has no seccomp filters); -sandbox=best-effort runs compiles without it"},
	} {
		landlockAvailable = func() (int, error) { return 7, tc.landlock }
		seccompAvailable = func() error { return tc.seccomp }
		var log bytes.Buffer
		s, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile,
			Log: slog.New(slog.NewTextHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if got := log.String(); strings.Count(got, "level=WARN") != 1 || !strings.Contains(got, tc.warn) || !strings.Contains(got, "nofile=1024") {
			t.Errorf("log:\n%s\nwant one warning, %q, and the limits", got, tc.warn)
		}
		p := s.compilePolicy()
		if p.Landlock != (tc.landlock == nil) || p.Seccomp != (tc.seccomp == nil) || p.NoFile != 1024 || p.AS != 8<<30 {
			t.Errorf("policy %+v, want Landlock %v, Seccomp %v, the limits", p, tc.landlock == nil, tc.seccomp == nil)
		}
		_, err = New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile, NeedSandbox: true})
		if err == nil || err.Error() != tc.refusal || !errors.Is(err, errSandboxMissing) {
			t.Errorf("NeedSandbox: %v, want %q", err, tc.refusal)
		}
	}
	landlockAvailable = func() (int, error) { return 7, nil }
	seccompAvailable = func() error { return nil }
	if _, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile, NeedSandbox: true}); err != nil {
		t.Errorf("NeedSandbox with Landlock and seccomp: %v", err)
	}
	_, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile, NeedSandbox: true, NoSandbox: true})
	if want := "the sandbox cannot be both required and off"; err == nil || err.Error() != want {
		t.Errorf("NeedSandbox and NoSandbox: %v, want %q", err, want)
	}
}

// TestSandboxConfig: a compile memory bound below 512 MiB is refused,
// naming the field.
func TestSandboxConfig(t *testing.T) {
	compile := testutil.Compile(t)
	_, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile, CompileMem: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "compile memory bound 1048576 is below 512 MiB") {
		t.Fatalf("New: %v", err)
	}
}

// BenchmarkSandbox compiles a one-function package in a job directory
// b.N times with the sandbox and b.N times without, alternating, and
// reports the median time of one compile of each: the difference is the
// trampoline's cost.
func BenchmarkSandbox(b *testing.B) {
	compile := testutil.Compile(b)
	var servers [2]*Server
	var times [2][]time.Duration
	for i, off := range []bool{false, true} {
		s, err := New(Options{Slots: 1, CacheDir: b.TempDir(), CacheMax: 1 << 20, Compile: compile, NoSandbox: off})
		if err != nil {
			b.Fatal(err)
		}
		servers[i] = s
	}
	for n := 0; n < b.N; n++ {
		for i, s := range servers {
			j, src := sandboxJob(b, s)
			j.args = []string{"-p=p", "-o=" + j.out + "/p.a", "-pack", "-complete", "--", src}
			cmd := s.compileCommand(context.Background(), j)
			cmd.Dir, cmd.Env = j.cwd, []string{"TMPDIR=" + j.dir + "/tmp"}
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
			times[i] = append(times[i], time.Since(t0))
		}
	}
	for i, unit := range []string{"ms/sandboxed", "ms/unconfined"} {
		sort.Slice(times[i], func(a, b int) bool { return times[i][a] < times[i][b] })
		b.ReportMetric(float64(times[i][len(times[i])/2].Microseconds())/1000, unit)
	}
}
