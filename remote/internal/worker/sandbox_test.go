// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/sandbox"
	"distssa/remote/internal/testutil"
)

// sandboxJob makes a job directory laid out as materialize does, with
// p.go in its root, and returns the job and the file's path.
func sandboxJob(t testing.TB, s *Server) (*job, string) {
	t.Helper()
	dir, err := os.MkdirTemp(s.cfg.CacheDir+"/jobs", "t-")
	if err != nil {
		t.Fatal(err)
	}
	j := &job{dir: dir, root: dir + "/root", out: dir + "/out"}
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
		s, err := New(Config{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile, NoSandbox: off})
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
				t.Logf("%s: %s", tc.name, lastLine(string(out)))
			}
		}
	}
}

// TestSandboxSetupFailure: a compile the sandbox cannot start (a shell
// script, whose interpreter is outside the toolchain) fails the Run with
// the sandbox's message as the worker's, not as the compile's exit.
func TestSandboxSetupFailure(t *testing.T) {
	if _, err := sandbox.Available(); err != nil {
		t.Skipf("skipping: Landlock is not available on this kernel: %v", err)
	}
	compile := filepath.Join(t.TempDir(), "compile")
	if err := os.WriteFile(compile, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, addr := startServerConfig(t, Config{Slots: 1, CacheDir: t.TempDir(), CacheMax: 64 << 20, Compile: compile,
		JobTimeout: time.Minute})
	c, _ := dial(t, addr, nil, s.Toolchain())
	d := c.whole(fakeRun(c, "ok"))
	if d.Status != 1 || !strings.Contains(d.Msg, "sandbox: exec") || !strings.Contains(d.Msg, "permission denied") {
		t.Fatalf("status %d exit %d msg %q output %q", d.Status, d.Exit, d.Msg, d.Output)
	}
}

// TestNoLandlock: on a kernel without Landlock, the worker says so once
// at start, and its compiles run under the limits only.
func TestNoLandlock(t *testing.T) {
	compile := testutil.Compile(t)
	defer func(f func() (int, error)) { landlockAvailable = f }(landlockAvailable)
	landlockAvailable = func() (int, error) { return 0, errors.New("no landlock_create_ruleset system call") }
	var log bytes.Buffer
	s, err := New(Config{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile,
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	want := "landlock: not available on this kernel (no landlock_create_ruleset system call); compiles are confined by rlimits only"
	if got := log.String(); strings.Count(got, "landlock: not available") != 1 || strings.Contains(got, "msg=sandbox") || !strings.Contains(got, want) || !strings.Contains(got, "nofile=1024") {
		t.Errorf("log:\n%s\nwant one line with %q and the limits", got, want)
	}
	p := s.compilePolicy()
	if p.Landlock || p.NoFile != 1024 || p.AS != 8<<30 {
		t.Errorf("policy %+v, want no Landlock, the limits", p)
	}
}

// TestSandboxConfig: a compile memory bound below 512 MiB is refused,
// naming the field.
func TestSandboxConfig(t *testing.T) {
	compile := testutil.Compile(t)
	_, err := New(Config{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: compile, CompileMem: 1 << 20})
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
		s, err := New(Config{Slots: 1, CacheDir: b.TempDir(), CacheMax: 1 << 20, Compile: compile, NoSandbox: off})
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
