// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
)

// TestRaceStraggler: a whole compile that runs on its worker past its
// estimate is raced here once a local token is free. When the local run
// ends first, its outputs, byte-identical to a local compile's, answer
// the compile, the worker's run is cancelled and the host is not blamed;
// when the worker answers first, the local run is killed and its token
// returned; a worker that fails while the local run goes on is a
// failure, but the compile is answered here. With RaceAfter < 0 nothing
// is raced.
func TestRaceStraggler(t *testing.T) {
	hello := splitHello(t)
	hello.Caps = localproto.CanWhole
	waitTokens := func(a *Agent) {
		t.Helper()
		for i := 0; a.FreeTokens() != a.cfg.LocalTokens; i++ {
			if i == 1000 {
				t.Fatalf("%d local tokens free 10s after the race, want %d", a.FreeTokens(), a.cfg.LocalTokens)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	summary := func(a *Agent) string {
		var b strings.Builder
		a.Summary(&b)
		return b.String()
	}

	t.Run("local run wins", func(t *testing.T) {
		// The worker would answer after 30 s, saying Working meanwhile.
		addr, conns, jobs := fakeWorker{beat: 50 * time.Millisecond, answerAfter: 30 * time.Second}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, Force: "whole",
			ResultTimeout: time.Minute, RaceAfter: 100 * time.Millisecond})
		// The local run ends after the worker has the RunWhole.
		h := *hello
		h.Compile = gated(t, hello.Compile, jobs, 0)
		t0 := time.Now()
		f, g := dialAgent(t, sock, &h)
		if g.Kind != localproto.KindWhole {
			t.Fatalf("grant %+v, want whole", g)
		}
		f.nc.SetDeadline(time.Now().Add(20 * time.Second))
		w, ok := f.recv().(*localproto.Whole)
		if !ok || w.Status != localproto.StatusOK || w.Exit != 0 || len(w.Files) != 1 || w.Files[0].Name != "o" {
			t.Fatalf("whole answer %+v", w)
		}
		if d := time.Since(t0); d > 15*time.Second {
			t.Errorf("answered after %v: the race did not end it", d)
		}
		// The compile the go command would have run here.
		cmd := exec.Command(hello.Compile, hello.Args...)
		cmd.Dir = hello.Cwd
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("local compile: %v\n%s", err, out)
		}
		want, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(hello.Cwd)), "p.a"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.Files[0].Data, want) {
			t.Errorf("the raced object (%d bytes) differs from a local compile's (%d bytes)", len(w.Files[0].Data), len(want))
		}
		f.nc.Close()
		awaitConn(t, conns) // the worker's run was cancelled
		waitTokens(a)
		if n := backoffs(a.hosts[0]); n != 0 {
			t.Errorf("%d backoffs of a host that lost a race, want 0", n)
		}
		if s := summary(a); !strings.Contains(s, "1 stragglers raced here (1 won)") {
			t.Errorf("summary:\n%s", s)
		}
	})

	t.Run("worker answers first", func(t *testing.T) {
		// The local run is a compile that never ends.
		dir := t.TempDir()
		pid := filepath.Join(dir, "pid")
		slow := filepath.Join(dir, "compile")
		if err := os.WriteFile(slow, []byte("#!/bin/sh\necho $$ >"+pid+"\nexec sleep 60\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		h := *hello
		h.Compile = slow
		addr, _, _ := fakeWorker{beat: 20 * time.Millisecond, answerAfter: 5 * time.Second}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, Force: "whole",
			ResultTimeout: time.Minute, RaceAfter: 50 * time.Millisecond})
		f, _ := dialAgent(t, sock, &h)
		f.nc.SetDeadline(time.Now().Add(20 * time.Second))
		w, ok := f.recv().(*localproto.Whole)
		if !ok || w.Status != localproto.StatusOK || len(w.Files) != 1 || string(w.Files[0].Data) != "object" {
			t.Fatalf("whole answer %+v", w)
		}
		f.nc.Close()
		if _, err := os.Stat(pid); err != nil {
			t.Fatalf("the local race never started: %v", err)
		}
		waitTokens(a)
		if s := summary(a); !strings.Contains(s, "1 stragglers raced here (0 won)") {
			t.Errorf("summary:\n%s", s)
		}
		// The local run was killed with its context.
		data, _ := os.ReadFile(pid)
		p := strings.TrimSpace(string(data))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			if _, err := os.Stat("/proc/" + p); err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if ctx.Err() != nil {
			t.Errorf("the losing local run (pid %s) still runs", p)
		}
	})

	t.Run("worker fails during the race", func(t *testing.T) {
		// The worker stalls and is dropped at 1 s; the local run,
		// started at once, takes 2 s more than the compile.
		dir := t.TempDir()
		slow := filepath.Join(dir, "compile")
		if err := os.WriteFile(slow, []byte("#!/bin/sh\nsleep 2\nexec "+hello.Compile+" \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		h := *hello
		h.Compile = slow
		addr, _, _ := fakeWorker{}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, Force: "whole",
			ResultTimeout: time.Minute, StallTimeout: time.Second, RaceAfter: time.Millisecond})
		f, _ := dialAgent(t, sock, &h)
		f.nc.SetDeadline(time.Now().Add(20 * time.Second))
		w, ok := f.recv().(*localproto.Whole)
		if !ok || w.Status != localproto.StatusOK || len(w.Files) != 1 || len(w.Files[0].Data) == 0 {
			t.Fatalf("whole answer %+v", w)
		}
		f.nc.Close()
		waitTokens(a)
		if s := summary(a); !strings.Contains(s, "1 stragglers raced here (1 won)") || !strings.Contains(s, "0 after a failed whole compile") {
			t.Errorf("summary:\n%s", s)
		}
		if fs := a.Failures(); len(fs) != 1 || !strings.Contains(fs[0], "(the local race answered)") || !strings.Contains(fs[0], addr) {
			t.Errorf("failures %q, want the worker's, answered by the race", fs)
		}
	})

	t.Run("never", func(t *testing.T) {
		addr, _, _ := fakeWorker{beat: 20 * time.Millisecond, answerAfter: 500 * time.Millisecond}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, Force: "whole",
			ResultTimeout: time.Minute, RaceAfter: -1})
		f, _ := dialAgent(t, sock, hello)
		f.nc.SetDeadline(time.Now().Add(20 * time.Second))
		if w, ok := f.recv().(*localproto.Whole); !ok || string(w.Files[0].Data) != "object" {
			t.Fatalf("whole answer %+v", w)
		}
		if s := summary(a); !strings.Contains(s, "0 stragglers raced here (0 won)") {
			t.Errorf("summary:\n%s", s)
		}
	})
}

// gated returns a compile that runs compile once the fake worker has got
// a job (from its jobs) and wait has passed since: a race run here ends
// only then, however loaded the machine.
func gated(t *testing.T, compile string, jobs <-chan struct{}, wait time.Duration) string {
	dir := t.TempDir()
	flag := filepath.Join(dir, "open")
	script := filepath.Join(dir, "compile")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nwhile [ ! -e "+flag+" ]; do sleep 0.01; done\nexec "+compile+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	go func() {
		select {
		case <-jobs:
			time.Sleep(wait)
		case <-time.After(time.Minute):
		}
		os.WriteFile(flag, nil, 0o600)
	}()
	return script
}

// TestRaceStall: a straggler raced here while a local token is free. If
// its worker said nothing for SilentAfter when the race answers (it
// says Working every few seconds while it runs a compile), it has
// stalled: the host backs off, and the failure is counted, as if the
// stall timeout had passed. A worker that says Working and loses the
// race is only slow: no backoff, no failure.
func TestRaceStall(t *testing.T) {
	hello := splitHello(t)
	hello.Caps = localproto.CanWhole
	for _, tc := range []struct {
		name    string
		fw      fakeWorker
		stalled bool
	}{
		{"silent", fakeWorker{}, true},
		{"working", fakeWorker{beat: 20 * time.Millisecond, answerAfter: 30 * time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns, jobs := tc.fw.start(t)
			a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, Force: "whole",
				ResultTimeout: time.Minute, StallTimeout: time.Minute, SilentAfter: time.Second, RaceAfter: 100 * time.Millisecond})
			// The local run ends at least 1.5 s after the worker got
			// the RunWhole: by then a silent worker has been silent for
			// longer than SilentAfter.
			h := *hello
			h.Compile = gated(t, hello.Compile, jobs, 1500*time.Millisecond)
			f, g := dialAgent(t, sock, &h)
			if g.Kind != localproto.KindWhole {
				t.Fatalf("grant %+v, want whole", g)
			}
			f.nc.SetDeadline(time.Now().Add(30 * time.Second))
			w, ok := f.recv().(*localproto.Whole)
			if !ok || w.Status != localproto.StatusOK || w.Exit != 0 || len(w.Files) != 1 || string(w.Files[0].Data) == "object" {
				t.Fatalf("whole answer %+v, want the local race's", w)
			}
			f.nc.Close()
			awaitConn(t, conns) // the worker's run was cancelled
			var sum strings.Builder
			a.Summary(&sum)
			if !strings.Contains(sum.String(), "1 stragglers raced here (1 won)") {
				t.Errorf("summary:\n%s", sum.String())
			}
			fs := a.Failures()
			if !tc.stalled {
				if n := backoffs(a.hosts[0]); n != 0 || len(fs) != 0 {
					t.Errorf("%d backoffs, failures %q of a worker that said Working; want none", n, fs)
				}
				return
			}
			if n := backoffs(a.hosts[0]); n != 1 {
				t.Errorf("%d backoffs of a silent worker that lost a race, want 1", n)
			}
			if len(fs) != 1 || !strings.Contains(fs[0], addr) || !strings.Contains(fs[0], "stalled: silent for") || !strings.Contains(fs[0], "(the local race answered)") {
				t.Errorf("failures %q, want the stall, answered by the race", fs)
			}
			_, g = dialAgent(t, sock, &h)
			if g.Kind == localproto.KindWhole || !strings.Contains(g.Reason, "backing off") {
				t.Errorf("next compile: grant %+v, want local, backing off", g)
			}
		})
	}
}
