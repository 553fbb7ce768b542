// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
)

// writeGraph writes a graph file of actions and returns its name.
func writeGraph(t *testing.T, actions []graphAction) string {
	t.Helper()
	data, err := json.Marshal(graphFile{Version: graphVersion, Target: "linux/amd64", Actions: actions})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "graph.json")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// diamond is a small build: runtime (3s) is compiled first; a (1s) and
// b (4s) import it; c (1s) imports a; d (1s) imports nothing; the link
// (2s) takes c, b and d; a "nop" action (free) stands between d and the
// link. Its longest path is runtime, b, link: 9s.
func diamond() ([]graphAction, map[string]time.Duration) {
	costs := map[string]time.Duration{"runtime": 3 * time.Second, "a": time.Second, "b": 4 * time.Second, "c": time.Second, "d": time.Second}
	return []graphAction{
		{ID: 10, Mode: "link", Pkg: "c", Objdir: "/w/b001/", Deps: []int{13, 12, 16}},
		{ID: 11, Mode: "build", Pkg: "runtime", Objdir: "/w/b010/"},
		{ID: 12, Mode: "build", Pkg: "b", Objdir: "/w/b004/", Deps: []int{11}},
		{ID: 13, Mode: "build", Pkg: "c", Objdir: "/w/b002/", Deps: []int{14}},
		{ID: 14, Mode: "build", Pkg: "a", Objdir: "/w/b003/", Deps: []int{11}},
		{ID: 15, Mode: "build", Pkg: "d", Objdir: "/w/b005/"},
		{ID: 16, Mode: "nop", Deps: []int{15}},
	}, costs
}

// historyOf makes a history that knows the compile costs cs and, unless
// cs is nil, a link of 2s.
func historyOf(t *testing.T, cs map[string]time.Duration) *costs {
	c, _ := loadCosts(filepath.Join(t.TempDir(), "costs"))
	for pkg, d := range cs {
		c.record(compileKey("linux/amd64", pkg), d, 0)
	}
	if cs != nil {
		c.record(holdKey("link"), 2*time.Second, 0)
	}
	return c
}

// TestGraphPriority: each compile's priority is the longest chain of
// estimated cost from its start to the build's end, and the compiles
// without slack are on the critical path.
func TestGraphPriority(t *testing.T) {
	actions, cs := diamond()
	g, err := loadGraph(writeGraph(t, actions), historyOf(t, cs))
	if err != nil {
		t.Fatal(err)
	}
	if g.longest != 9*time.Second {
		t.Errorf("longest path %v, want 9s", g.longest)
	}
	for _, tc := range []struct {
		out      string
		prio     time.Duration
		critical bool
	}{
		{"/w/b010/_pkg_.a", 9 * time.Second, true}, // runtime: 3 + b 4 + link 2
		{"/w/b004/_pkg_.a", 6 * time.Second, true}, // b: 4 + link 2
		{"/w/b003/_pkg_.a", 4 * time.Second, false},
		{"/w/b002/_pkg_.a", 3 * time.Second, false},
		{"/w/b005/_pkg_.a", 3 * time.Second, false}, // d: 1 + nop 0 + link 2
	} {
		n := g.node(tc.out)
		if n == nil {
			t.Errorf("%s: no action", tc.out)
			continue
		}
		if !n.known || n.prio != tc.prio || g.critical(n) != tc.critical {
			t.Errorf("%s (%s): priority %v, critical %v, from history %v; want %v, %v, true",
				tc.out, n.pkg, n.prio, g.critical(n), n.known, tc.prio, tc.critical)
		}
	}
	if n := g.node("/w/b099/_pkg_.a"); n != nil {
		t.Errorf("an unknown object directory found %s", n.pkg)
	}
	// Without history, compiles are estimated from their size and
	// links at DefaultLinkCost.
	actions[1].Bytes = 1 << 20
	g, err = loadGraph(writeGraph(t, actions), historyOf(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	rt := g.node("/w/b010/_pkg_.a")
	want := srcCost(1<<20) + 2*srcCost(0) + DefaultLinkCost // runtime, a and c (no bytes), link
	if rt.known || rt.prio != want || g.longest != want {
		t.Errorf("runtime without history: priority %v (known %v), longest %v; want %v", rt.prio, rt.known, g.longest, want)
	}
}

// TestGraphBad: a graph that cannot be used is an error naming the file;
// the agent goes on without priorities, says so in its summary, and
// places compiles.
func TestGraphBad(t *testing.T) {
	actions, _ := diamond()
	cycle := append([]graphAction(nil), actions...)
	cycle[1] = graphAction{ID: 11, Mode: "build", Pkg: "runtime", Deps: []int{13}}
	dup := append([]graphAction(nil), actions...)
	dup[2].ID = 11
	missing := append([]graphAction(nil), actions...)
	missing[3] = graphAction{ID: 13, Mode: "build", Pkg: "c", Deps: []int{99}}
	dir := t.TempDir()
	raw := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o644)
		return p
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		{"missing file", filepath.Join(dir, "nosuch.json"), "no such file"},
		{"not JSON", raw("bad.json", "{\"version\": 1, \"actions\": [{"), "unexpected end"},
		{"version", raw("v9.json", `{"version": 9}`), "version 9, want 1"},
		{"cycle", writeGraph(t, cycle), "cycle"},
		{"duplicate id", writeGraph(t, dup), "action id 11 twice"},
		{"unknown dependency", writeGraph(t, missing), "depends on 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadGraph(tc.file, historyOf(t, nil))
			if err == nil || !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, tc.file, tc.want)
			}
			a, err := New(Config{Hosts: []hosts.Host{{Addr: "w:1", Slots: 1}}, Graph: tc.file})
			if err != nil {
				t.Fatal(err)
			}
			if a.graph != nil {
				t.Fatal("a bad graph was loaded")
			}
			if p := placeWithin(t, a, request{whole: true, cost: srcCost(DefaultSplitCost), target: "t"}); p.kind != localproto.KindWhole {
				t.Errorf("placement %+v without a graph, want whole", p)
			}
			var sum bytes.Buffer
			a.Summary(&sum)
			if !strings.Contains(sum.String(), "note: build graph") || !strings.Contains(sum.String(), "no build graph") {
				t.Errorf("summary:\n%s", sum.String())
			}
		})
	}
}

// TestCompileLearns: a compile finds its action in the build graph by
// its -o; its time here enters the history at Close, under the graph's
// name for the package; the next build's agent estimates it from there,
// and says so in its summary.
func TestCompileLearns(t *testing.T) {
	compile := testutil.Compile(t)
	dir := t.TempDir()
	cwd, args := testutil.Package(t, compile, dir)
	graph := writeGraph(t, []graphAction{
		{ID: 1, Mode: "build", Pkg: "example.com/p", Objdir: dir + "/", Bytes: int64(len(testutil.Src))},
		{ID: 2, Mode: "link", Pkg: "example.com/p", Deps: []int{1}},
	})
	costs := filepath.Join(t.TempDir(), "costs")
	key := compileKey(runtime.GOOS+"/"+runtime.GOARCH, "example.com/p")
	build := func() (*Agent, string) {
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: "127.0.0.1:1", Slots: 1}}, Force: "local", Costs: costs, Graph: graph})
		f, g := dialAgent(t, sock, &localproto.Hello{Version: localproto.Version, Caps: localproto.CanWhole | localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args})
		if g.Kind != localproto.KindLocal || g.N != 0 {
			t.Fatalf("grant %+v, want local", g)
		}
		time.Sleep(50 * time.Millisecond) // the compile runs
		f.nc.Close()
		for deadline := time.Now().Add(5 * time.Second); a.costs.len() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		a.Close()
		var sum bytes.Buffer
		a.Summary(&sum)
		return a, sum.String()
	}
	a, sum := build()
	if a.st.inGraph != 1 || a.st.critical != 1 || a.st.historic != 0 {
		t.Errorf("first build: %d compiles in the graph, %d critical, %d from history; want 1, 1, 0\n%s", a.st.inGraph, a.st.critical, a.st.historic, sum)
	}
	c, err := loadCosts(costs)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := c.estimate(key, 0); !ok || d < 50*time.Millisecond || d > time.Minute {
		t.Fatalf("history of %q: %v %v, want the compile's time here", key, d, ok)
	}
	a, sum = build()
	if a.st.historic != 1 || !strings.Contains(sum, "estimates: 1 compiles from the cost history (1 entries), 0 from their source size; 1 in the build graph") {
		t.Errorf("second build: %d compiles from history; summary:\n%s", a.st.historic, sum)
	}
}
