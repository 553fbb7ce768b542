// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// The transports, which give a compile its workers: exec:N starts N
// child processes of this compiler in worker mode (worker.go); the agent
// (unix:PATH, package agentclient) places the compile before its front
// end, here or whole on a worker (placement.go), and grants the workers
// of a split.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/distssa/agentclient"
)

// A Transport provides workers. A worker starts as the compile starts,
// so that its front end runs while the client's does, and gets its job
// (the functions to compile) once the client's front end is done.
type Transport interface {
	// Start launches a worker.
	Start() Worker
}

// Worker is a worker that a Transport started.
type Worker interface {
	// Send hands the worker its job. A worker that gets no job before
	// Close exits without compiling anything.
	Send(job []byte)
	// Close ends the job stream.
	Close()
	// Wait returns the job's result and when it arrived here (for the
	// phases: the transfer ends there), or an error if the worker
	// failed.
	Wait() ([]byte, time.Time, error)
}

// execTimeout bounds a worker process of the exec transport.
const execTimeout = 10 * time.Minute

// execTransport runs each worker as a child process of this compiler,
// which reruns this compile's command line in worker mode. The job goes
// to the child's standard input; the result comes back in a file.
type execTransport struct{}

type execWorker struct {
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
	err   error
	ended time.Time // when the process's exit was seen: its result is complete
	done  chan struct{}
}

func (execTransport) Start() Worker {
	w := &execWorker{done: make(chan struct{})}
	fail := func(err error) Worker {
		w.err = err
		close(w.done)
		return w
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	w.dir, err = os.MkdirTemp("", "distssa-")
	if err != nil {
		return fail(err)
	}
	w.cmd = exec.Command(exe, execWorkerArgs(w.dir, os.Args[1:])...)
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		return fail(err)
	}
	if err := w.cmd.Start(); err != nil {
		return fail(err)
	}
	go func() {
		timer := time.AfterFunc(execTimeout, func() { w.cmd.Process.Kill() })
		w.err = w.cmd.Wait()
		w.ended = time.Now()
		timer.Stop()
		close(w.done)
	}()
	return w
}

func (w *execWorker) Send(job []byte) {
	if w.stdin != nil {
		// A worker that died already shows up in Wait.
		w.stdin.Write(job)
	}
}

func (w *execWorker) Close() {
	if w.stdin != nil {
		w.stdin.Close()
	}
}

func (w *execWorker) Wait() ([]byte, time.Time, error) {
	<-w.done
	if w.dir != "" {
		defer os.RemoveAll(w.dir)
	}
	if w.err != nil {
		return nil, time.Time{}, fmt.Errorf("worker: %v: %s", w.err, lastLine(w.out.String()))
	}
	data, err := os.ReadFile(filepath.Join(w.dir, resultFile))
	return data, w.ended, err
}

// workers are the workers started for this compile, if any.
var workers []Worker

// startWorkers launches the workers of the exec transport, unless this
// compile is one that stays local as a whole; with the agent transport,
// it asks the agent where to run.
func startWorkers() {
	if spec.Transport == Agent {
		// Every compile asks the agent: it holds a local token while it
		// runs here, and it may run as a whole on a worker.
		startAgent()
		return
	}
	if spec.Transport == Local || compileReason() != "" {
		return
	}
	var t Transport = execTransport{}
	for i := 0; i < spec.Workers; i++ {
		workers = append(workers, t.Start())
	}
}

// compileReason says why every function of this compile stays local, or
// returns "". It depends on flags only, so that it can be decided before
// the front end runs.
func compileReason() string {
	switch {
	case os.Getenv("GOSSAFUNC") != "":
		return "GOSSAFUNC"
	case base.Flag.S != 0:
		return "-S"
	case base.Flag.LowerM != 0 || base.Flag.Live != 0 || base.Flag.JSON != "":
		return "diagnostic flags"
	}
	return ""
}

// closeWorkers tells workers that got no job to exit, and reaps them.
func closeWorkers(ws []Worker) {
	for _, w := range ws {
		w.Close()
	}
	for _, w := range ws {
		w.Wait()
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// The agent transport.

// agent is this compile's connection to the agent, once startAgent ran,
// until the split's end.
var agent *agentclient.Conn

// startAgent dials the agent, says HELLO and waits for the placement
// (placement.go): the compile runs here, holding a local token, or it
// ran as a whole on a worker and exits there.
func startAgent() {
	var caps uint64
	if compileReason() == "" {
		caps |= agentclient.CanSplit
	}
	if os.Getenv("GOSSAFUNC") == "" { // ssa.html would be written on the worker
		caps |= agentclient.CanWhole
	}
	agent = agentclient.Dial(spec.Socket, caps)
	awaitPlacement(agent)
}

// agentWorkers takes the agent's GRANT of a split and returns its
// workers. If the compile gets no workers, it returns the reason, which
// keeps every function local.
func agentWorkers() ([]Worker, string) {
	c := agent
	if c == nil {
		return nil, "no agent" // not reached: startWorkers ran
	}
	aws, verifySplit, reason := c.Workers()
	if reason != "" {
		return nil, reason
	}
	if verifySplit {
		// Sampled verification of this split: a local compile at exit.
		sampled = c
		base.AtExit(verify)
	}
	ws := make([]Worker, len(aws))
	for i, w := range aws {
		ws[i] = w
	}
	return ws, ""
}

// closeAgent ends the exchange of a compile that sends no jobs: it
// releases the workers of a GRANT nobody took. The connection stays open
// until the compile exits: it holds the compile's local token.
func closeAgent() {
	c := agent
	if c == nil {
		return
	}
	agent = nil
	c.Release()
}
