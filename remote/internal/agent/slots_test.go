// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
)

// acquire takes up to n slots for target as the scheduler does, and says
// why it got none.
func acquire(a *Agent, n int, target string) ([]*host, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	hs := a.acquireLocked(n, target, now, anyTask)
	switch {
	case len(hs) > 0:
		return hs, ""
	case a.usableLocked(target, now, anyTask):
		return nil, "no free worker slots"
	}
	v := a.viewLocked(&request{target: target}, now)
	return nil, unusableReason(v.hosts, v.backing, v.refused)
}

// TestNoSplitHost: a host with split=false gets whole compiles but no
// split job, nor a hedge of one; with no host taking split work, no
// compile asks to split.
func TestNoSplitHost(t *testing.T) {
	a, err := New(Config{Hosts: []hosts.Host{{Addr: "a:1", Slots: 2, NoSplit: true}, {Addr: "b:1", Slots: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	split := a.acquireLocked(3, "t", time.Now(), splitTask)
	a.mu.Unlock()
	if len(split) != 1 || split[0].Addr != "b:1" {
		t.Fatalf("split acquired %v, want b:1 only", split)
	}
	if h := a.acquireOther(nil, "t"); h != nil {
		t.Fatalf("a hedge went to %s, which takes no split work", h.Addr)
	}
	if whole, _ := acquire(a, 2, "t"); len(whole) != 2 || whole[0].Addr != "a:1" || whole[1].Addr != "a:1" {
		t.Fatalf("whole acquired %v, want a:1 twice", whole)
	}
	if !a.splitHosts() {
		t.Error("splitHosts false with b:1 taking split work")
	}
	b, err := New(Config{Hosts: []hosts.Host{{Addr: "a:1", Slots: 2, NoSplit: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if b.splitHosts() {
		t.Error("splitHosts true with every host split=false")
	}
}

func TestAcquire(t *testing.T) {
	a, err := New(Config{Hosts: []hosts.Host{{Addr: "a:1", Slots: 2}, {Addr: "b:1", Slots: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := acquire(a, 2, "t")
	if len(got) != 2 || a.FreeSlots() != 1 {
		t.Fatalf("acquire(2): %d hosts, %d free", len(got), a.FreeSlots())
	}
	more, _ := acquire(a, 5, "t")
	if len(more) != 1 || a.FreeSlots() != 0 {
		t.Fatalf("acquire(5) with 1 free: %d hosts", len(more))
	}
	if none, reason := acquire(a, 1, "t"); len(none) != 0 || reason != "no free worker slots" {
		t.Fatalf("acquire with none free: %d, %q", len(none), reason)
	}
	for _, h := range append(got, more...) {
		a.release(h)
	}
	if a.FreeSlots() != 3 {
		t.Fatalf("after release: %d free", a.FreeSlots())
	}
	// A host in backoff lends no slots.
	a.hostFailed(a.hosts[0])
	if got, _ := acquire(a, 3, "t"); len(got) != 1 || got[0].Addr != "b:1" {
		t.Fatalf("with a backing off: %v", got)
	}
	a.hostFailed(a.hosts[1])
	if got, reason := acquire(a, 1, "t"); len(got) != 0 || !strings.Contains(reason, "backing off") {
		t.Fatalf("all backing off: %d %q", len(got), reason)
	}
}

// TestAcquireRefused: a host that refused a target's handshake lends it
// no slots for the rest of the build, while other targets still get
// them; the reason says which case it is.
func TestAcquireRefused(t *testing.T) {
	a, err := New(Config{Hosts: []hosts.Host{{Addr: "a:1", Slots: 1}, {Addr: "b:1", Slots: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	a.refuse(a.hosts[0], "t", "toolchain mismatch")
	a.refuse(a.hosts[0], "t", "again")
	if got := a.hosts[0].refused["t"]; got != "toolchain mismatch" {
		t.Fatalf("refusal kept: %q, want the first", got)
	}
	got, _ := acquire(a, 2, "t")
	if len(got) != 1 || got[0].Addr != "b:1" {
		t.Fatalf("with a refused: %v", got)
	}
	a.release(got[0])
	if got, _ := acquire(a, 2, "u"); len(got) != 2 {
		t.Fatalf("another target: %d hosts, want 2", len(got))
	} else {
		a.release(got[0])
		a.release(got[1])
	}
	a.hostFailed(a.hosts[1])
	if got, reason := acquire(a, 1, "t"); len(got) != 0 || reason != "1 hosts backing off after failures, 1 refused this toolchain or token" {
		t.Fatalf("a refused, b backing off: %d %q", len(got), reason)
	}
	a.refuse(a.hosts[1], "t", "wrong token")
	if got, reason := acquire(a, 1, "t"); len(got) != 0 || reason != "all 2 hosts refused this toolchain or token" {
		t.Fatalf("both refused: %d %q", len(got), reason)
	}
	if got := a.acquireOther(nil, "t"); got != nil {
		t.Fatalf("a hedge on a refusing host: %v", got.Addr)
	}
}

// TestSlotsAcrossCompiles runs compiles at once against one host of 3
// slots whose worker never answers: the grants share the slots, and the
// slots come back when the compiles go away.
func TestSlotsAcrossCompiles(t *testing.T) {
	compile := testutil.Compile(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: ln.Addr().String(), Slots: 3}},
		MinCost: 1, BytesPerWorker: 1, MaxPerCompile: 2})
	cwd, args := testutil.Package(t, compile, t.TempDir())
	hello := &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args}
	var grants []uint64
	var compiles []*fakeCompile
	for i := 0; i < 3; i++ {
		f, g := dialAgent(t, sock, hello)
		grants = append(grants, g.N)
		compiles = append(compiles, f)
		if i == 2 && g.Reason != "no free worker slots" {
			t.Errorf("third compile: reason %q", g.Reason)
		}
	}
	if grants[0] != 2 || grants[1] != 1 || grants[2] != 0 || a.FreeSlots() != 0 {
		t.Fatalf("grants %v, %d free", grants, a.FreeSlots())
	}
	for _, f := range compiles {
		f.nc.Close()
	}
	a.Close() // waits for the compiles' handlers
	if a.FreeSlots() != 3 {
		t.Fatalf("after the compiles: %d free slots, want 3", a.FreeSlots())
	}
}

func TestTarget(t *testing.T) {
	a, _ := New(Config{})
	for _, tc := range []struct {
		compile string
		env     []string
		want    string
	}{
		{"/g/pkg/tool/linux_arm64/compile", nil, "linux/arm64"},
		{"/g/pkg/tool/linux_amd64/compile", []string{"GOOS=windows"}, "windows/amd64"},
		{"/g/pkg/tool/linux_amd64/compile", []string{"GOARCH=386", "GOOS=linux"}, "linux/386"},
	} {
		in, err := a.collect(&localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: tc.compile, Cwd: "/", Env: tc.env})
		if err != nil {
			t.Fatal(err)
		}
		if got := in.id.GOOS + "/" + in.id.GOARCH; got != tc.want {
			t.Errorf("%s %q: target %s, want %s", tc.compile, tc.env, got, tc.want)
		}
	}
}

func TestLocalReason(t *testing.T) {
	a, _ := New(Config{Hosts: []hosts.Host{{Addr: "a:1", Slots: 1}}, MinCost: 1})
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"-p=p"}, nil, ""},
		{[]string{"-dwarf=true"}, nil, ""},
		{[]string{"-dwarf=false", "-+"}, nil, ""},
		{[]string{"-p=p"}, []string{"GOSSAFUNC=F"}, "GOSSAFUNC"},
		{[]string{"-p=p", "-S"}, nil, ""},
		{[]string{"-p=p", "-json=0,file:///tmp/j"}, nil, "flag -json is not on the worker's whitelist"},
		{[]string{"-p=p", "-cpuprofile=/tmp/c"}, nil, "flag -cpuprofile writes a file where the compile runs"},
		{[]string{"-p=p", "-d=ssa/genssa/dump=F"}, nil, "flag -d setting ssa/genssa/dump writes a file where the compile runs"},
		{[]string{"-p=p"}, []string{"GSHS_LOGFILE=/tmp/l"}, "GSHS_LOGFILE"},
	} {
		in, err := a.collect(&localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: "/c", Cwd: "/", Args: tc.args, Env: tc.env})
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = in.localEnv
		}
		if got != tc.want {
			t.Errorf("%q %q: %q, want %q", tc.args, tc.env, got, tc.want)
		}
	}
}
