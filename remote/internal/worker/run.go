// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

// Whole compiles (task kind "whole", PROTOCOL.md §3): the worker runs
// the client's compile in normal mode and answers with its exit status,
// its output and its output files; a result cache keyed by actionKey
// answers a compile it has run before without running it.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/store"
	"distssa/remote/internal/wire"
)

// maxRunOutput bounds what a whole compile may print.
var maxRunOutput = 64 << 20

// errOutputTooLarge stops the copy of a compile's output past maxRunOutput.
var errOutputTooLarge = errors.New("output too large")

// boundedBuffer keeps what is written to it, up to max bytes; past that,
// Write fails (the compile then gets EPIPE or SIGPIPE).
type boundedBuffer struct {
	b    []byte
	max  int
	over bool
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > w.max {
		w.over = true
		return 0, errOutputTooLarge
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// prepareWhole materializes a RunWhole with its normal-mode command line.
func (c *conn) prepareWhole(m *wire.RunWhole) (*workdir, error) {
	j, err := c.materialize(&task{cwd: m.Cwd, args: m.Args, env: m.Env, files: m.Files})
	if err != nil {
		return nil, err
	}
	j.args = j.commandLine(whole)
	return j, nil
}

// mapBack rewrites what the compile printed so that it reads as a local
// compile's: each config file and output file of the job dir becomes the
// client's path, and the job root goes, so that ROOT/home/u/x.go reads
// /home/u/x.go.
func (j *workdir) mapBack(out []byte) []byte {
	if len(out) == 0 {
		return nil
	}
	var pairs []string
	for p, client := range j.unmap {
		pairs = append(pairs, p, client)
	}
	pairs = append(pairs, j.root, "")
	sort.Sort(pairSlice(pairs)) // no old string is a prefix of another: for a stable order only
	return []byte(strings.NewReplacer(pairs...).Replace(string(out)))
}

// pairSlice sorts old, new pairs by old.
type pairSlice []string

func (p pairSlice) Len() int           { return len(p) / 2 }
func (p pairSlice) Less(i, j int) bool { return p[2*i] < p[2*j] }
func (p pairSlice) Swap(i, j int) {
	p[2*i], p[2*j] = p[2*j], p[2*i]
	p[2*i+1], p[2*j+1] = p[2*j+1], p[2*i+1]
}

// outputNames lists the output flags of a command line, each once, in
// their order.
func outputNames(cl *cmdline.Cmdline) []string {
	var names []string
	seen := map[string]bool{}
	for _, f := range cl.Flags {
		if f.Kind == cmdline.Output && !seen[f.Name] {
			seen[f.Name] = true
			names = append(names, f.Name)
		}
	}
	return names
}

// serveRunWhole serves a RunWhole: it answers from the result cache, or waits for
// a slot, runs the compile and answers Whole. Refusals are answered with
// Error; an error return means the connection itself failed.
func (c *conn) serveRunWhole(m *wire.RunWhole) error {
	if err := c.uploadErr; err != nil {
		c.uploadErr = nil
		c.s.st.refused.Add(1)
		return c.send(&wire.Error{Msg: err.Error()})
	}
	refuse := func(err error) error {
		c.s.st.refused.Add(1)
		c.log.Warn("job refused", "kind", "whole", "err", err)
		return c.send(&wire.Error{Msg: "job refused: " + err.Error()})
	}
	// First: a blob the connection has not proved is read by nothing,
	// the result cache included.
	if err := c.unproven(m.Files); err != nil {
		return refuse(err)
	}
	cl, err := cmdline.Parse(m.Args)
	if err != nil {
		return refuse(err)
	}
	pkg, _ := cl.Get("p")
	if _, ok := cl.Get("o"); !ok {
		return refuse(errors.New("a whole compile needs -o"))
	}
	// Before the result cache: a task refused is refused on a hit too.
	if err := checkTask(cl, m.Env); err != nil {
		return refuse(err)
	}
	key, err := actionKey(c.s.toolchain, c.goos, c.goarch, m, c.s.store.Read)
	if err != nil {
		return refuse(err)
	}
	// A hit runs nothing, but the client must have uploaded every input
	// all the same: its hashes are claims until the store holds them.
	for _, f := range m.Files {
		if !c.s.store.Has(f.Hash) {
			return refuse(fmt.Errorf("input %s: blob %.12s… is not in the worker's store", f.Path, hex.EncodeToString(f.Hash)))
		}
	}
	if c.s.cfg.Replay > 0 {
		return c.replayWhole(key, pkg, refuse)
	}
	if d, run := c.cachedRun(key); d != nil {
		// RunNs says what the compile took when it ran: what the
		// agent's cost history learns.
		d.RunNs = uint64(run)
		c.s.st.runs.Add(1)
		c.s.st.resultHits.Add(1)
		c.log.Info("job", "kind", "whole", "pkg", pkg, "cached", true, "status", d.Status, "exit", d.Exit,
			"queue", time.Duration(0), "recorded", run, "outputs", outputSize(d), "msg", d.Msg)
		return c.send(d)
	}

	queue, release, err := c.acquire()
	if err != nil {
		return err
	}
	j, err := c.prepareWhole(m)
	if err != nil {
		release()
		return refuse(err)
	}
	defer os.RemoveAll(j.dir)
	c.s.st.runs.Add(1)
	c.s.st.resultMisses.Add(1)
	c.s.st.jobs.Add(1)

	d, rec, connErr := c.compileWhole(j)
	d.QueueNs = uint64(queue)
	if d.Status == 0 {
		c.s.st.ok.Add(1)
	} else {
		c.s.st.failed.Add(1)
	}
	os.RemoveAll(j.dir) // before the answer: the client may look
	release()           // before the answer too: the client may send the next RunWhole at once
	run := time.Duration(d.RunNs)
	if connErr != nil {
		c.log.Info("job", "kind", "whole", "pkg", pkg, "cached", false, "status", 1, "queue", queue, "run", run,
			"msg", "compile killed: connection lost")
		return connErr
	}
	c.log.Info("job", "kind", "whole", "pkg", pkg, "cached", false, "status", d.Status, "exit", d.Exit,
		"queue", queue, "run", run, "outputs", outputSize(d), "msg", d.Msg)
	err = c.send(d)
	// After the answer, which need not wait for the store's fsyncs; the
	// connection's next request waits, so it sees the result cached.
	if rec != nil {
		if kerr := c.keep(key, rec); kerr != nil {
			c.log.Warn("result cache", "pkg", pkg, "err", kerr)
		}
	}
	return err
}

// output is an output file a compile wrote.
type output struct {
	name string
	data []byte
}

// record is a compile's result to keep in the result cache.
type record struct {
	exit    int
	output  []byte
	outputs []output
	run     time.Duration // the compile's wall time
}

// compileWhole runs a materialized whole compile and returns its Whole
// and, when it may be cached (exit status 0), its record. It kills the
// compile if the connection closes, and then returns the connection's
// error.
func (c *conn) compileWhole(j *workdir) (*wire.Whole, *record, error) {
	ctx, cancel := context.WithTimeout(c.s.hardCtx, c.s.cfg.JobTimeout)
	defer cancel()
	cmd := c.s.compileCommand(ctx, j)
	cmd.Dir, cmd.Env = j.cwd, j.env
	// One writer for both: exec.Cmd then gives the compile one pipe as
	// its stdout and stderr, so the output interleaves as in a terminal.
	out := &boundedBuffer{max: maxRunOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return &wire.Whole{Status: 1, Msg: "starting compile: " + err.Error()}, nil, nil
	}
	defer killRest(cmd)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// The agent sends nothing during a RunWhole: a connection that closes, or
	// a peer that breaks the protocol, kills the compile.
	w := c.watchPeer()
	var err error
	select {
	case err = <-exited:
	case <-w.gone:
		cancel()
		err = <-exited
	}
	d := &wire.Whole{Status: 1, RunNs: uint64(time.Since(t0))}
	if connErr := w.stop(); connErr != nil {
		return d, nil, connErr
	}
	printed := j.mapBack(out.b)
	if printed != nil {
		printed = []byte(c.s.scrub(string(printed)))
	}
	var ee *exec.ExitError
	switch {
	case out.over:
		d.Msg = fmt.Sprintf("compile: output too large (more than %d bytes)", maxRunOutput)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		d.Msg = fmt.Sprintf("compile timed out after %v", c.s.cfg.JobTimeout)
	case ctx.Err() != nil:
		d.Msg = fmt.Sprintf("compile cancelled: %v", ctx.Err())
	case sandboxFailed(err, printed):
		d.Msg = "compile: " + cmdline.LastLine(string(printed))
	case errors.As(err, &ee) && ee.Exited():
		d.Status, d.Exit, d.Output = 0, uint64(ee.ExitCode()), printed
	case err != nil:
		d.Msg = fmt.Sprintf("compile: %v: %s", err, cmdline.LastLine(string(printed)))
	default:
		rec := &record{output: printed, run: time.Duration(d.RunNs)}
		for _, name := range outputNames(j.cl) {
			data, err := os.ReadFile(j.outFile(name))
			if err != nil {
				d.Msg = fmt.Sprintf("compile exited 0 but wrote no -%s file", name)
				return d, nil, nil
			}
			rec.outputs = append(rec.outputs, output{name, data})
			d.Outputs = append(d.Outputs, wire.Output{Name: name, Size: uint64(len(data)), Data: wire.Compress(data)})
		}
		d.Status, d.Output = 0, printed
		return d, rec, nil
	}
	return d, nil, nil
}

// cachedRun returns the Whole of a compile in the result cache, or nil,
// and how long the compile ran when it was recorded (0 if the record
// does not say).
func (c *conn) cachedRun(key []byte) (*wire.Whole, time.Duration) {
	a, ok := c.s.store.GetAction(key)
	if !ok {
		return nil, 0
	}
	d := &wire.Whole{Exit: uint64(a.Exit), Output: a.Output, Cached: true}
	for _, o := range a.Outputs {
		data, err := c.s.store.Read(o.Hash)
		if err != nil || int64(len(data)) != o.Size {
			return nil, 0 // evicted meanwhile, or damaged: run the compile
		}
		d.Outputs = append(d.Outputs, wire.Output{Name: o.Name, Size: uint64(len(data)), Data: wire.Compress(data)})
	}
	return d, time.Duration(a.RunNs)
}

// keep stores a result in the result cache: its files as blobs, then
// the record that names them.
func (c *conn) keep(key []byte, rec *record) error {
	a := &store.Action{Exit: rec.exit, Output: rec.output, RunNs: int64(rec.run)}
	for _, o := range rec.outputs {
		h := wire.Hash(o.data)
		if err := c.s.store.Put(h, o.data); err != nil {
			return fmt.Errorf("output %s: %v", o.name, err)
		}
		a.Outputs = append(a.Outputs, store.ActionFile{Name: o.name, Hash: h, Size: int64(len(o.data))})
	}
	return c.s.store.PutAction(key, a)
}

// outputSize is the size of a Whole's output files, for logs.
func outputSize(d *wire.Whole) uint64 {
	var n uint64
	for _, o := range d.Outputs {
		n += o.Size
	}
	return n
}
