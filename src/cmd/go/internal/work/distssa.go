// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package work

// The go command's side of distssa (remote/PROTOCOL.md §2): with the
// build flag -distssa=FILE, a Builder starts one distssa agent before it
// runs its first action,
//
//	$GOTOOLDIR/distssa-agent -hosts=FILE -socket=$WORK/distssa.sock -graph=$WORK/distssa-graph.json [-v]
//
// hands it the action graph (writeDistSSAGraph), waits for the agent's
// "ready N" line, points every compile at the
// socket (-distssa=unix:$WORK/distssa.sock) and stops the agent when the
// Builder closes. The hooks are calls in upstream files: Do (exec.go)
// calls startDistSSA and runs distssaSlots more actions at once, gc
// (gc.go) adds distssaFlags to the compiler's arguments, runOut
// (exec.go) and the test runner (test.go) run their processes through
// DistSSARun, and Close (action.go) calls stopDistSSA.
//
// The agent owns the local CPU tokens (-p) and the workers' slots. The go
// command runs up to -p + N actions at once, N being the workers' slots;
// every process that runs on this machine holds a local token while it
// runs: a compile asks the agent itself (it may also run on a worker),
// and any other process (link, asm, cgo, vet, a test binary) asks
// through DistSSARun.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"cmd/go/internal/base"
	"cmd/go/internal/cfg"
	"cmd/go/internal/trace"
)

const (
	// distssaAgentTool is the agent's name in the tool directory.
	distssaAgentTool = "distssa-agent"
	// distssaSocket is the agent's socket in the work directory.
	distssaSocket = "distssa.sock"
	// distssaGraph is the action graph for the agent, in the work
	// directory.
	distssaGraph = "distssa-graph.json"
	// distssaReadyTimeout bounds the agent's start: it reads the hosts
	// file and listens, then says "ready".
	distssaReadyTimeout = 30 * time.Second
	// distssaStopTimeout bounds the agent's stop once its standard input
	// is closed: it cancels outstanding work and prints its summary.
	distssaStopTimeout = 10 * time.Second
	// maxSocketPath is what fits in a unix socket address (sun_path is
	// 108 bytes on Linux, with a terminating NUL).
	maxSocketPath = 107
)

// distssaAgent is the agent of one Builder.
type distssaAgent struct {
	ctx     context.Context // the build's, for its -debug-trace
	trace   string          // the agent's trace file, with -debug-trace
	slots   int             // actions to run beyond -p for the workers, from "ready N"
	socket  string
	sockDir string // a directory made for the socket, removed at stop; "" if in $WORK
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	done    chan struct{} // closed once the agent exited and was reaped
	waitErr error
}

var distssaAgents sync.Map // a Builder's distssaKey → *distssaAgent

// distssaFlags returns the compiler flag that points a compile at the
// build's agent, or nothing without -distssa.
//
// -distssa deliberately does NOT enter action IDs (buildActionID hashes
// gcflags, and this flag is not among them): a build with -distssa shares
// the build cache with local builds, in both directions. That is safe
// only because distssa guarantees that every object is byte-for-byte
// what a local compile produces, whatever the workers do.
func (b *Builder) distssaFlags() []string {
	v, ok := distssaAgents.Load(b.distssaKey())
	if !ok {
		return nil
	}
	return []string{"-distssa=unix:" + v.(*distssaAgent).socket}
}

// startDistSSA starts the build's agent, once per Builder, if -distssa is
// set and the action graph has compiles. An agent that cannot start or
// exits before it is ready stops the build (its own messages, on the go
// command's standard error, say why: a missing hosts file, a malformed
// line).
func (b *Builder) startDistSSA(ctx context.Context, all []*Action) {
	if cfg.BuildDistSSA == "" || cfg.BuildToolchainName != "gc" {
		return
	}
	if _, ok := distssaAgents.Load(b.distssaKey()); ok {
		return
	}
	compiles := false
	for _, a := range all {
		if a.Mode == "build" && a.Package != nil {
			compiles = true
			break
		}
	}
	if !compiles {
		return
	}

	// The hosts file is relative to the go command's directory; the
	// agent gets an absolute path.
	hosts := cfg.BuildDistSSA
	if !filepath.IsAbs(hosts) {
		hosts = filepath.Join(base.Cwd(), hosts)
	}
	ag := &distssaAgent{ctx: ctx, socket: filepath.Join(b.WorkDir, distssaSocket), done: make(chan struct{})}
	if !cfg.BuildN && len(ag.socket) > maxSocketPath {
		dir, err := os.MkdirTemp("", "distssa")
		if err != nil {
			base.Fatalf("go: -distssa: %v", err)
		}
		ag.sockDir, ag.socket = dir, filepath.Join(dir, distssaSocket)
	}
	tool := filepath.Join(build.ToolDir, distssaAgentTool) + cfg.ToolExeSuffix()
	args := []string{tool, "-hosts=" + hosts, "-socket=" + ag.socket, "-local=" + strconv.Itoa(cfg.BuildP), "-work=" + b.WorkDir}
	graph := filepath.Join(b.WorkDir, distssaGraph)
	if !cfg.BuildN {
		if err := writeDistSSAGraph(graph, all); err != nil {
			// The agent does without: it orders compiles by cost.
			fmt.Fprintf(os.Stderr, "go: -distssa: %v\n", err)
			graph = ""
		}
	}
	if graph != "" {
		args = append(args, "-graph="+graph)
	}
	if cfg.DebugTrace != "" {
		// The agent's placements and remote spans join the go
		// command's trace when the agent stops.
		ag.trace = filepath.Join(b.WorkDir, "distssa-trace.json")
		args = append(args, "-trace="+ag.trace)
	}
	if cfg.BuildV {
		args = append(args, "-v")
	}
	if cfg.BuildN || cfg.BuildX {
		b.distssaShowCmd("%s &", joinUnambiguously(args))
	}
	if cfg.BuildN {
		distssaAgents.Store(b.distssaKey(), ag) // the compiles show the flag
		return
	}
	fail := func(format string, a ...any) {
		if ag.sockDir != "" {
			os.RemoveAll(ag.sockDir)
		}
		base.Fatalf("go: -distssa=%s: "+format, append([]any{cfg.BuildDistSSA}, a...)...)
	}
	if _, err := os.Stat(tool); err != nil {
		fail("the distssa agent is not installed in this toolchain: %v", err)
	}

	ag.cmd = exec.Command(tool, args[1:]...)
	ag.cmd.Stderr = os.Stderr
	var err error
	if ag.stdin, err = ag.cmd.StdinPipe(); err != nil {
		fail("%v", err)
	}
	stdout, err := ag.cmd.StdoutPipe()
	if err != nil {
		fail("%v", err)
	}
	if err := ag.cmd.Start(); err != nil {
		fail("starting the distssa agent: %v", err)
	}
	hideToken()
	// The agent's stdout carries "ready\n" and nothing else we need;
	// drain it, then reap the agent.
	ready := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		ready <- line
		io.Copy(io.Discard, r)
		ag.waitErr = ag.cmd.Wait()
		close(ag.done)
	}()
	timer := time.NewTimer(distssaReadyTimeout)
	defer timer.Stop()
	select {
	case line := <-ready:
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, "ready "), "\n")); err == nil && n >= 0 && strings.HasSuffix(line, "\n") {
			ag.slots = n
			distssaAgents.Store(b.distssaKey(), ag)
			return
		}
		ag.stdin.Close()
		select {
		case <-ag.done:
		case <-time.After(distssaStopTimeout):
			ag.cmd.Process.Kill()
			<-ag.done
		}
		if ag.waitErr != nil {
			fail("the distssa agent failed before it was ready (%v)", ag.waitErr)
		}
		fail("the distssa agent said %q, want \"ready N\"", line)
	case <-timer.C:
		ag.cmd.Process.Kill()
		<-ag.done
		fail("the distssa agent was not ready within %v", distssaReadyTimeout)
	}
}

// distssaAction is an action in the agent's graph file
// (remote/PROTOCOL.md §2).
type distssaAction struct {
	ID     int    `json:"id"`
	Mode   string `json:"mode"`
	Pkg    string `json:"pkg,omitempty"`
	Objdir string `json:"objdir,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	Deps   []int  `json:"deps,omitempty"`
}

// writeDistSSAGraph writes the action graph to file for the agent's
// scheduler, which serves first the compiles that the longest chains of
// the build wait for. Every action is in it, also those that run no
// process (they carry dependencies): its mode, its package as the go
// command names it (a test variant is "p [p.test]"), its object
// directory (by which the agent knows a compile: its -o is there), the
// size of a compile's Go files, and the actions it depends on.
func writeDistSSAGraph(file string, all []*Action) error {
	ids := make(map[*Action]int, len(all))
	for i, a := range all {
		ids[a] = i
	}
	g := struct {
		Version int             `json:"version"`
		Target  string          `json:"target"`
		Actions []distssaAction `json:"actions"`
	}{Version: 1, Target: cfg.Goos + "/" + cfg.Goarch, Actions: make([]distssaAction, 0, len(all))}
	for i, a := range all {
		d := distssaAction{ID: i, Mode: a.Mode, Objdir: a.Objdir}
		if p := a.Package; p != nil {
			d.Pkg = p.Desc()
			if a.Mode == "build" {
				for _, names := range [][]string{p.GoFiles, p.CgoFiles} {
					for _, f := range names {
						if fi, err := os.Stat(filepath.Join(p.Dir, f)); err == nil {
							d.Bytes += fi.Size()
						}
					}
				}
			}
		}
		for _, dep := range a.Deps {
			if j, ok := ids[dep]; ok {
				d.Deps = append(d.Deps, j)
			}
		}
		g.Actions = append(g.Actions, d)
	}
	data, err := json.Marshal(&g)
	if err == nil {
		err = os.WriteFile(file, data, 0o666)
	}
	if err != nil {
		return fmt.Errorf("the action graph for the agent: %v", err)
	}
	return nil
}

// stopDistSSA stops the Builder's agent, if any: it closes the agent's
// standard input, which asks it to finish, and waits for it, bounded.
// An agent that failed during the build only made compiles local; that
// is reported, not an error, unless DISTSSA_STRICT=1 asks the agent to
// treat remote failures as errors of the build: then any exit status
// but 0 fails the build (the outputs are still correct, compiled
// locally; the agent's own lines say what failed).
func (b *Builder) stopDistSSA() {
	v, ok := distssaAgents.LoadAndDelete(b.distssaKey())
	if !ok {
		return
	}
	ag := v.(*distssaAgent)
	if ag.cmd == nil {
		return // -n
	}
	exited := false
	select {
	case <-ag.done:
		exited = true
	default:
	}
	ag.stdin.Close()
	select {
	case <-ag.done:
	case <-time.After(distssaStopTimeout):
		ag.cmd.Process.Kill()
		<-ag.done
	}
	interrupted := false
	select {
	case <-base.Interrupted: // the agent got the terminal's SIGINT too
		interrupted = true
	default:
	}
	switch {
	case interrupted || ag.waitErr == nil:
	case os.Getenv("DISTSSA_STRICT") == "1":
		fmt.Fprintf(os.Stderr, "go: -distssa: strict mode (DISTSSA_STRICT=1): the distssa agent reports remote failures (%v)\n", ag.waitErr)
		base.SetExitStatus(1)
	case exited:
		fmt.Fprintf(os.Stderr, "go: warning: the distssa agent exited during the build (%v); compiles after that ran locally\n", ag.waitErr)
	}
	if ag.trace != "" {
		data, err := os.ReadFile(ag.trace)
		if err == nil {
			err = trace.AddEvents(ag.ctx, data)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "go: -distssa: the agent's trace: %v\n", err)
		}
	}
	if ag.sockDir != "" {
		os.RemoveAll(ag.sockDir)
	}
}

// distssaSlots returns the number the agent said in "ready N": the go
// command runs that many actions at once beyond -p, for the workers.
func (b *Builder) distssaSlots() int {
	if v, ok := distssaAgents.Load(b.distssaKey()); ok {
		return v.(*distssaAgent).slots
	}
	return 0
}

// distssaRun runs cmd for the Builder whose distssaKey is key (the
// version's DistSSARun, in distssa_compat.go, calls it). With -distssa, a
// process other than the compiler holds one of the agent's local tokens
// while it runs, so that the extra actions the go command runs for the
// workers' slots never oversubscribe the local CPUs. An agent that cannot
// be reached does not stop the build: the process runs without a token.
func distssaRun(key interface{}, cmd *exec.Cmd) error {
	v, ok := distssaAgents.Load(key)
	if !ok || v.(*distssaAgent).cmd == nil {
		return cmd.Run()
	}
	// The compiler, also under -toolexec: it asks the agent itself.
	compile := base.Tool("compile")
	for _, arg := range cmd.Args {
		if arg == compile {
			return cmd.Run()
		}
	}
	if release, err := distssaHold(v.(*distssaAgent).socket, filepath.Base(cmd.Path)); err == nil {
		defer release()
	}
	return cmd.Run()
}

// The local protocol's HOLD exchange (remote/PROTOCOL.md §1): a frame is
// uvarint(len) body; HOLD is type 6 with one string, the agent answers
// with GRANT (type 2) once a local token is held, and closing the
// connection returns the token. distssa_test.go checks the frames
// against the protocol's golden frames, and distssaDial against the
// compiler's dial.
const (
	distssaMsgGrant = 2
	distssaMsgHold  = 6
)

// distssaHold takes a local token from the agent at socket for a process
// named what; release gives it back.
func distssaHold(socket, what string) (release func(), err error) {
	c, err := distssaDial(socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(distssaHoldFrame(what)); err != nil {
		c.Close()
		return nil, err
	}
	// The token may take as long as the running processes do.
	if err := distssaReadGrant(bufio.NewReader(c)); err != nil {
		c.Close()
		return nil, err
	}
	return func() { c.Close() }, nil
}

// distssaHoldFrame returns the frame of HOLD for a process named what.
func distssaHoldFrame(what string) []byte {
	body := append([]byte{distssaMsgHold}, binary.AppendUvarint(nil, uint64(len(what)))...)
	body = append(body, what...)
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

// distssaReadGrant reads the agent's answer to HOLD, which must be a
// GRANT, up to its type.
func distssaReadGrant(r *bufio.Reader) error {
	n, err := binary.ReadUvarint(r)
	if err == nil && (n == 0 || n > 1<<10) {
		err = fmt.Errorf("GRANT frame of %d bytes", n)
	}
	if err == nil {
		var t byte
		if t, err = r.ReadByte(); err == nil && t != distssaMsgGrant {
			err = fmt.Errorf("message type %d, want GRANT", t)
		}
	}
	if err == io.EOF {
		err = errors.New("the agent closed the connection")
	}
	return err
}

// hideToken removes DISTSSA_TOKEN from the environment of every process
// the go command starts after the agent: the agent alone talks to the
// workers, and compiles, cgo, vet, test binaries and go run's program
// have no use for the farm's secret.
func hideToken() {
	const name = "DISTSSA_TOKEN"
	os.Unsetenv(name)
	kept := cfg.OrigEnv[:0:0]
	for _, e := range cfg.OrigEnv {
		if !strings.HasPrefix(e, name+"=") {
			kept = append(kept, e)
		}
	}
	cfg.OrigEnv = kept
}
