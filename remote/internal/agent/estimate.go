// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// The cost history: what each package's compile took in earlier builds,
// so that the scheduler estimates a compile in time rather than in bytes
// of source. One small text file (Config.Costs; the agent's command
// takes $DISTSSA_COSTS or os.UserCacheDir()/distssa/costs) holds an
// entry per package and target:
//
//	distssa-costs 2
//	NS BYTES RUNS UNIX FRONT KEY
//
// KEY (the rest of the line) is "GOOS/GOARCH import-path" for a compile
// and "hold NAME" for a local process of the go command (a link); NS is
// the estimate in nanoseconds for BYTES of .go source (0: not measured,
// as for a package that only ever split), RUNS how many builds measured
// it, UNIX when the last did, and FRONT the front end's share of the
// package's splits (policy.go; 0: never split). A file of version 1,
// without FRONT, is read as never split. The file is read when the
// agent starts and written when it closes, through a temporary file and
// a rename: concurrent agents never leave a torn file, and the last to
// close wins, having first merged the entries that others wrote since it
// read the file. A file that does not parse is ignored (and replaced at
// Close). At most maxCosts entries are kept, the least recently measured
// dropped first.
//
// A compile's measure is its wall time as it ran: here, from its
// placement to its exit (split or not); on a worker, the compile time
// that the worker reports (also for a result it answered from its
// cache, which recorded the compile's time). The entry follows an
// exponentially weighted mean, the new measure weighing costWeight: a
// package's compile time moves with the load of the machine and the
// placement (a split compile is shorter, a worker's core faster or
// slower), and a single build's measure is noisy; a weight of one half
// follows a real change within two or three builds and halves a one-off.
// Edits change a package's size between builds: the entry is scaled to
// the source bytes of the compile it estimates (time per byte is much
// steadier per package than time).

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	costsMagic   = "distssa-costs 2"
	costsMagicV1 = "distssa-costs 1"
	maxCosts     = 20000
	costWeight   = 0.5
	// A compile that the history does not know is estimated as
	// CompileFixed plus NsPerByte per byte of its .go source. The
	// defaults fit (least squares) the 128 compiles of a cold
	// `go build -a -p 1 -debug-actiongraph net/http` on this project's
	// 2-core machine: 25 ms of start-up and imports, then 1.2 µs a byte
	// (from 20 ms for a 2 KB package to 360 ms for math/big's 258 KB).
	CompileFixed     = 25 * time.Millisecond
	DefaultNsPerByte = 1200
	// minRateSamples is how many compile entries the history needs
	// before the rate it implies replaces DefaultNsPerByte.
	minRateSamples = 16
	// DefaultLinkCost estimates a link (or another local process of
	// the go command) that the history does not know.
	DefaultLinkCost = time.Second
)

// costEntry is one line of the history.
type costEntry struct {
	ns    float64
	bytes int64
	runs  int
	unix  int64
	front float64
}

// costs is the history of one agent.
type costs struct {
	path string // "": no history
	now  func() time.Time

	mu   sync.Mutex
	m    map[string]costEntry
	rate float64 // ns per byte of source, for compiles without history
}

// loadCosts reads the history at path; "" gives an empty history that
// learns nothing. A file that is missing is an empty history; one that
// cannot be read or parsed is ignored, and the error says why.
func loadCosts(path string) (*costs, error) {
	c := &costs{path: path, now: time.Now, m: map[string]costEntry{}, rate: DefaultNsPerByte}
	if path == "" {
		return c, nil
	}
	m, err := readCosts(path)
	if err != nil {
		return c, err
	}
	c.m = m
	c.rate = learnedRate(m)
	return c, nil
}

// readCosts parses the history file at path; a missing file is empty.
func readCosts(path string) (map[string]costEntry, error) {
	m := map[string]costEntry{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("cost history: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	line := 0
	fields := 6 // of a line of version 2
	bad := func(msg string) (map[string]costEntry, error) {
		return map[string]costEntry{}, fmt.Errorf("cost history %s:%d: %s; ignored, it is rewritten at exit", path, line, msg)
	}
	for s.Scan() {
		line++
		t := s.Text()
		if line == 1 {
			switch t {
			case costsMagic:
			case costsMagicV1:
				fields = 5
			default:
				return bad(fmt.Sprintf("first line %q, want %q", t, costsMagic))
			}
			continue
		}
		f := strings.SplitN(t, " ", fields)
		if len(f) != fields || f[fields-1] == "" {
			if fields == 5 {
				return bad("want NS BYTES RUNS UNIX KEY")
			}
			return bad("want NS BYTES RUNS UNIX FRONT KEY")
		}
		ns, err1 := strconv.ParseFloat(f[0], 64)
		bytes, err2 := strconv.ParseInt(f[1], 10, 64)
		runs, err3 := strconv.Atoi(f[2])
		unix, err4 := strconv.ParseInt(f[3], 10, 64)
		front, err5 := 0.0, error(nil)
		if fields == 6 {
			front, err5 = strconv.ParseFloat(f[4], 64)
		}
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil ||
			math.IsNaN(ns) || math.IsInf(ns, 0) || ns < 0 || bytes < 0 || runs < 1 ||
			!(front >= 0 && front <= 1) {
			return bad("malformed entry")
		}
		m[f[fields-1]] = costEntry{ns, bytes, runs, unix, front}
	}
	if err := s.Err(); err != nil {
		return bad(err.Error())
	}
	if line == 0 {
		return bad("empty file")
	}
	return m, nil
}

// learnedRate is the time per byte that the compiles in m imply, their
// time less CompileFixed each over their bytes, or DefaultNsPerByte with
// too few of them (or an absurd result).
func learnedRate(m map[string]costEntry) float64 {
	var ns, bytes float64
	n := 0
	for k, e := range m {
		if e.ns > 0 && e.bytes > 0 && !strings.HasPrefix(k, "hold ") {
			ns += e.ns - float64(CompileFixed)
			bytes += float64(e.bytes)
			n++
		}
	}
	if n < minRateSamples || ns <= 0 {
		return DefaultNsPerByte
	}
	return ns / bytes
}

// paceMeter measures a pace of this build: the wall time of compiles
// over their estimates, recent compiles weighing most (each older one
// paceDecay of the next), so that it follows the load of the machine
// through the build. Agent.mu guards it.
type paceMeter struct {
	wall, est float64
	n         int
}

const (
	paceDecay = 0.8
	// minPace is how many compiles measure a pace before the policy
	// uses it.
	minPace = 3
)

func (m *paceMeter) add(wall, est time.Duration) {
	m.wall = m.wall*paceDecay + float64(wall)
	m.est = m.est*paceDecay + float64(est)
	m.n++
}

// value is the pace, or 0 while too few compiles measured it.
func (m *paceMeter) value() float64 {
	if m.n < minPace || m.est <= 0 {
		return 0
	}
	return m.wall / m.est
}

// addPace adds a compile of estimate est that took wall to m.
func (a *Agent) addPace(m *paceMeter, wall, est time.Duration) {
	if wall <= 0 || est <= 0 {
		return
	}
	a.mu.Lock()
	m.add(wall, est)
	a.mu.Unlock()
}

// compileKey is the history's key of a compile of pkg for target
// ("GOOS/GOARCH").
func compileKey(target, pkg string) string { return target + " " + pkg }

// holdKey is the history's key of a local process named what.
func holdKey(what string) string { return "hold " + what }

// bytesCost estimates a compile of bytes of source at the current rate.
func (c *costs) bytesCost(bytes int64) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytesCostLocked(bytes)
}

func (c *costs) bytesCostLocked(bytes int64) time.Duration {
	return CompileFixed + time.Duration(float64(bytes)*c.rate)
}

// estimate returns the cost of key for a compile of bytes of source
// (0: unknown), and whether the history knew it.
func (c *costs) estimate(key string, bytes int64) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.ns == 0 {
		return c.bytesCostLocked(bytes), false
	}
	ns := e.ns
	if bytes > 0 && e.bytes > 0 {
		ns *= float64(bytes) / float64(e.bytes)
	}
	return time.Duration(ns), true
}

// record adds a measure of key: d for a compile of bytes of source.
func (c *costs) record(key string, d time.Duration, bytes int64) {
	if d <= 0 || c.path == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	switch {
	case !ok || e.ns == 0:
		e.ns, e.bytes = float64(d), bytes
	default:
		if bytes > 0 && e.bytes > 0 {
			e.ns *= float64(bytes) / float64(e.bytes) // the old measure at today's size
		}
		e.ns += costWeight * (float64(d) - e.ns)
		e.bytes = bytes
	}
	e.runs++
	e.unix = c.now().Unix()
	c.m[key] = e
}

// front returns the front end's share of key's splits (0: unknown).
func (c *costs) front(key string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key].front
}

// recordFront adds a measure of the front end's share of a split of
// key: an entry of a package that only ever split has no NS.
func (c *costs) recordFront(key string, front float64) {
	if c.path == "" || math.IsNaN(front) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.front == 0 {
		e.front = front
	} else {
		e.front += costWeight * (front - e.front)
	}
	e.runs++
	e.unix = c.now().Unix()
	c.m[key] = e
}

// len returns the number of entries.
func (c *costs) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// save writes the history, merged with what other agents wrote since it
// was read (the newer entry of a key wins), bounded to maxCosts entries.
func (c *costs) save() error {
	if c.path == "" {
		return nil
	}
	disk, _ := readCosts(c.path) // a torn or foreign file is replaced
	c.mu.Lock()
	for k, e := range c.m {
		if d, ok := disk[k]; !ok || e.unix >= d.unix {
			disk[k] = e
		}
	}
	c.mu.Unlock()
	keys := make([]string, 0, len(disk))
	for k := range disk {
		keys = append(keys, k)
	}
	// Newest first, then by key, so that the file is deterministic.
	sort.Slice(keys, func(i, j int) bool {
		x, y := disk[keys[i]], disk[keys[j]]
		if x.unix != y.unix {
			return x.unix > y.unix
		}
		return keys[i] < keys[j]
	})
	if len(keys) > maxCosts {
		keys = keys[:maxCosts]
	}
	var b strings.Builder
	b.WriteString(costsMagic + "\n")
	for _, k := range keys {
		e := disk[k]
		fmt.Fprintf(&b, "%.0f %d %d %d %.3f %s\n", e.ns, e.bytes, e.runs, e.unix, e.front, k)
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cost history: %v", err)
	}
	f, err := os.CreateTemp(dir, filepath.Base(c.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cost history: %v", err)
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cost history: %v", err)
	}
	return nil
}

// DefaultCostsPath returns where the agent keeps its cost history:
// $DISTSSA_COSTS if set ("off": nowhere, ""), else
// os.UserCacheDir()/distssa/costs ("" if there is no cache directory).
func DefaultCostsPath() string {
	if p := os.Getenv("DISTSSA_COSTS"); p != "" {
		if p == "off" {
			return ""
		}
		return p
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "distssa", "costs")
}

// The build graph: the go command writes its action graph to a file
// (-graph=FILE, PROTOCOL.md §2), and the scheduler serves first the
// compiles that the rest of the build waits for longest. Each action's
// cost is estimated (estimate.go: a compile from its history or its source
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
