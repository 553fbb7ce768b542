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
	"strings"
	"sync"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/distssa/agentclient"
	"cmd/compile/internal/distssa/result"
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
	// Send records the worker's job; Close sends it.
	Send(job []byte)
	// Close sends the job, if any, and ends the job stream, without
	// waiting for the worker to take it. A worker that gets no job exits
	// without compiling anything.
	Close()
	// Recv returns the part of the result that arrived since its last
	// call, perhaps none, and perhaps ending inside a chunk (the rest
	// comes with a later call). Unless wait,
	// it does not block; with wait, it blocks until something arrives or
	// the result ends. end reports that nothing more will come: then err
	// says why the worker failed, if it did, and at is when the last of
	// the result arrived here (for the phases: the transfer ends there).
	Recv(wait bool) (data []byte, end bool, at time.Time, err error)
	// Cancel stops a worker whose result the compile no longer needs.
	Cancel()
}

// execTimeout bounds a worker process of the exec transport.
const execTimeout = 10 * time.Minute

// execTransport runs each worker as a child process of this compiler,
// which reruns this compile's command line in worker mode. The job goes
// to the child's standard input; the result comes back as it is made,
// chunk by chunk, on a pipe (worker.go, resultFDEnv).
type execTransport struct{}

type execWorker struct {
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	job   []byte
	out   bytes.Buffer // the worker's output, for its failure's message

	mu      sync.Mutex
	data    []byte        // chunks that arrived and Recv did not return yet
	last    time.Time     // when the last chunk arrived
	readErr error         // reading the stream failed
	arrived chan struct{} // a signal that data grew

	err  error         // the process failed
	done chan struct{} // closed once the process exited and its stream is read
}

func (execTransport) Start() Worker {
	w := &execWorker{arrived: make(chan struct{}, 1), done: make(chan struct{})}
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
	pr, pw, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	w.cmd.ExtraFiles = []*os.File{pw} // descriptor 3
	w.cmd.Env = append(os.Environ(), resultFDEnv+"=3")
	err = w.cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return fail(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer pr.Close()
		for {
			c, err := result.ReadChunk(pr)
			w.mu.Lock()
			if err == nil {
				w.data = append(w.data, c...)
				w.last = time.Now()
			} else if err != io.EOF {
				w.readErr = err
			}
			w.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case w.arrived <- struct{}{}:
			default:
			}
		}
	}()
	go func() {
		timer := time.AfterFunc(execTimeout, func() { w.cmd.Process.Kill() })
		w.err = w.cmd.Wait()
		timer.Stop()
		<-read
		close(w.done)
	}()
	return w
}

func (w *execWorker) Send(job []byte) { w.job = job }

func (w *execWorker) Close() {
	if w.stdin == nil {
		return
	}
	// The worker reads its job once its front end is done, which may be
	// after this compile's: write it in the background. A worker that
	// died shows in Recv.
	go func(stdin io.WriteCloser, job []byte) {
		stdin.Write(job)
		stdin.Close()
	}(w.stdin, w.job)
	w.stdin = nil
}

func (w *execWorker) Recv(wait bool) ([]byte, bool, time.Time, error) {
	for {
		end := false
		select {
		case <-w.done:
			end = true
		default:
		}
		w.mu.Lock()
		data, last, readErr := w.data, w.last, w.readErr
		w.data = nil
		w.mu.Unlock()
		if end {
			if w.dir != "" {
				os.RemoveAll(w.dir)
			}
			if w.err != nil {
				return data, true, last, fmt.Errorf("worker: %v: %s", w.err, lastLine(w.out.String()))
			}
			if readErr != nil {
				return data, true, last, fmt.Errorf("worker: reading its result: %v", readErr)
			}
			return data, true, last, nil
		}
		if len(data) > 0 || !wait {
			return data, false, last, nil
		}
		select {
		case <-w.arrived:
		case <-w.done:
		}
	}
}

func (w *execWorker) Cancel() {
	w.Close()
	select {
	case <-w.done:
	default:
		if w.cmd != nil && w.cmd.Process != nil {
			w.cmd.Process.Kill()
		}
		<-w.done
	}
	if w.dir != "" {
		os.RemoveAll(w.dir)
	}
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

// closeWorkers ends workers that get no job: it stops them at once (an
// exec worker is killed and reaped; an agent's gets its empty JOB),
// rather than wait for them to finish their front end and read the
// empty job.
func closeWorkers(ws []Worker) {
	for _, w := range ws {
		w.Cancel()
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
