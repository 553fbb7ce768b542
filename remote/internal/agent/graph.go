// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// The build graph: the go command writes its action graph to a file
// (-graph=FILE, PROTOCOL.md §2), and the scheduler serves first the
// compiles that the rest of the build waits for longest. Each action's
// cost is estimated (costs.go: a compile from its history or its source
// size, a link from the links of earlier builds, anything else free),
// and each gets
//
//   - its priority: the longest chain of estimated cost from its start
//     to the end of the build, its own cost included;
//   - its slack: how much later than it could, it may end without making
//     the build longer (the build's longest path less the longest path
//     through it). A compile with little slack is on the critical path.
//
// A compile finds its action by its object directory (the directory of
// its -o), which the go command makes for each action: unlike the
// package path (every command is package main), it is unique.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// graphVersion is the version of the graph file that the agent reads.
const graphVersion = 1

// graphFile is the file the go command writes.
type graphFile struct {
	Version int           `json:"version"`
	Target  string        `json:"target"` // GOOS/GOARCH
	Actions []graphAction `json:"actions"`
}

// graphAction is one action of the go command.
type graphAction struct {
	ID     int    `json:"id"`
	Mode   string `json:"mode"`             // "build" (a compile), "link", …
	Pkg    string `json:"pkg,omitempty"`    // the package, as the go command describes it
	Objdir string `json:"objdir,omitempty"` // the action's object directory
	Bytes  int64  `json:"bytes,omitempty"`  // a compile's .go source
	Deps   []int  `json:"deps,omitempty"`   // the ids of the actions it waits for
}

// graph is the loaded build graph.
type graph struct {
	file     string
	target   string
	nodes    []gnode
	byObjdir map[string]*gnode
	longest  time.Duration // the build's longest path
}

// gnode is an action with its estimates.
type gnode struct {
	mode, pkg  string
	bytes      int64
	cost       time.Duration
	known      bool          // cost came from the history
	prio       time.Duration // longest path from its start to the build's end
	slack      time.Duration
	deps, next []int // what it waits for, what waits for it
}

// critical tells whether n lies on the build's critical path.
func (g *graph) critical(n *gnode) bool {
	return critical(n.slack, g.longest)
}

// node returns the compile whose output is out, or nil.
func (g *graph) node(out string) *gnode {
	if g == nil || out == "" {
		return nil
	}
	return g.byObjdir[filepath.Dir(out)]
}

// loadGraph reads the graph file and estimates its actions with cs.
func loadGraph(file string, cs *costs) (*graph, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("build graph: %v", err)
	}
	var gf graphFile
	if err := json.Unmarshal(data, &gf); err != nil {
		return nil, fmt.Errorf("build graph %s: %v", file, err)
	}
	if gf.Version != graphVersion {
		return nil, fmt.Errorf("build graph %s: version %d, want %d", file, gf.Version, graphVersion)
	}
	g := &graph{file: file, target: gf.Target, nodes: make([]gnode, len(gf.Actions)), byObjdir: map[string]*gnode{}}
	index := map[int]int{}
	for i, a := range gf.Actions {
		if _, dup := index[a.ID]; dup {
			return nil, fmt.Errorf("build graph %s: action id %d twice", file, a.ID)
		}
		index[a.ID] = i
	}
	for i, a := range gf.Actions {
		n := &g.nodes[i]
		n.mode, n.pkg, n.bytes = a.Mode, a.Pkg, a.Bytes
		for _, d := range a.Deps {
			j, ok := index[d]
			if !ok {
				return nil, fmt.Errorf("build graph %s: action %d depends on %d, which is not in the graph", file, a.ID, d)
			}
			n.deps = append(n.deps, j)
			g.nodes[j].next = append(g.nodes[j].next, i)
		}
		switch {
		case a.Mode == "build" && a.Pkg != "":
			n.cost, n.known = cs.estimate(compileKey(gf.Target, a.Pkg), a.Bytes)
			if a.Objdir != "" {
				g.byObjdir[filepath.Clean(a.Objdir)] = n
			}
		case a.Mode == "link":
			if n.cost, n.known = cs.estimate(holdKey("link"), 0); !n.known {
				n.cost = DefaultLinkCost
			}
		}
	}
	order, err := g.topo()
	if err != nil {
		return nil, fmt.Errorf("build graph %s: %v", file, err)
	}
	// up: the longest chain of estimated cost before an action starts.
	up := make([]time.Duration, len(g.nodes))
	for _, i := range order {
		for _, d := range g.nodes[i].deps {
			up[i] = max(up[i], up[d]+g.nodes[d].cost)
		}
	}
	for k := len(order) - 1; k >= 0; k-- {
		n := &g.nodes[order[k]]
		var after time.Duration
		for _, j := range n.next {
			after = max(after, g.nodes[j].prio)
		}
		n.prio = n.cost + after
	}
	for i := range g.nodes {
		g.longest = max(g.longest, up[i]+g.nodes[i].prio)
	}
	for i := range g.nodes {
		g.nodes[i].slack = g.longest - up[i] - g.nodes[i].prio
	}
	return g, nil
}

// topo orders the actions so that each comes after its dependencies, or
// fails on a cycle.
func (g *graph) topo() ([]int, error) {
	waiting := make([]int, len(g.nodes))
	var order []int
	for i, n := range g.nodes {
		waiting[i] = len(n.deps)
		if waiting[i] == 0 {
			order = append(order, i)
		}
	}
	for k := 0; k < len(order); k++ {
		for _, j := range g.nodes[order[k]].next {
			if waiting[j]--; waiting[j] == 0 {
				order = append(order, j)
			}
		}
	}
	if len(order) != len(g.nodes) {
		return nil, fmt.Errorf("a cycle of dependencies (%d actions wait on it)", len(g.nodes)-len(order))
	}
	return order, nil
}
