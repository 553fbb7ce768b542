// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// Stragglers. A whole compile that runs on its worker well past its
// estimate (twice the estimate plus Config.RaceAfter) is raced: once a
// local token is free and no one waits for one, the agent runs the same
// compile here, its outputs in a temporary directory. The first good
// outcome answers the compile and the other run is cancelled: the two
// are byte-identical, the same compiler on the same inputs and flags
// (where a compile writes its outputs does not change them, as a
// worker's job directory shows). A slow, overloaded or stalling worker
// thus costs the build at most one local compile. A worker that lost
// the race is not blamed unless it said nothing for Config.SilentAfter
// by then (it says Working every 3 s while it runs the compile): that
// one has stalled, and backs off as a stall found by the stall timeout
// does. A local run that fails (other than with compile errors, which
// are an outcome) leaves the outcome to the worker.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/localproto"
)

// wholeOutcome is the outcome of one run of a whole compile.
type wholeOutcome struct {
	w      *localproto.Whole
	cached bool
	err    error
}

// raceWhole runs the compile on h (wholeOnWorker) and, if it straggles
// (Policy.raceDelay), here too. here says that the local run's outcome
// is returned.
func (c *compile) raceWhole(h *host, l lane) (o wholeOutcome, here bool) {
	a := c.a
	if !a.pol.races() {
		w, cached, err := c.wholeOnWorker(c.ctx, h, l)
		return wholeOutcome{w, cached, err}, false
	}
	rctx, rcancel := context.WithCancelCause(c.ctx)
	defer rcancel(nil)
	remote := make(chan wholeOutcome, 1)
	go func() {
		w, cached, err := c.wholeOnWorker(rctx, h, l)
		remote <- wholeOutcome{w, cached, err}
	}()
	lctx, lcancel := context.WithCancel(c.ctx)
	defer lcancel() // stops a local run that lost
	var local chan wholeOutcome
	var failed *wholeOutcome // the remote outcome, a failure, while the local run goes on
	timer := time.NewTimer(a.pol.raceDelay(c.est))
	defer timer.Stop()
	for {
		select {
		case r := <-remote:
			if r.err == nil || local == nil {
				return r, false
			}
			failed, remote = &r, nil
		case <-timer.C:
			if _, ok := a.placeNow(request{hold: true}); !ok {
				timer.Reset(a.pol.RaceRetry)
				continue
			}
			a.st.inc(&a.st.races)
			local = make(chan wholeOutcome, 1)
			go func(out chan<- wholeOutcome) {
				defer a.releaseLocal()
				ll, t0 := a.tr.take("local tokens"), time.Now()
				w, err := c.raceHere(lctx)
				a.tr.span(ll, c.pkg(), t0, time.Now(), map[string]any{"placement": "race of a straggling whole compile", "error": errString(err)})
				a.tr.release(ll)
				out <- wholeOutcome{w: w, err: err}
			}(local)
		case r := <-local:
			local = nil
			if r.err == nil {
				rcancel(errRaceLost)
				if remote != nil {
					// Interrupted at once; its slot is released
					// after. A worker silent meanwhile has stalled.
					if r := <-remote; errors.Is(r.err, errStalled) && c.ctx.Err() == nil {
						failed = &r
					}
				}
				a.st.inc(&a.st.racesWon)
				if failed != nil && c.ctx.Err() == nil {
					// The worker failed first: a remote failure
					// all the same (strict mode counts it).
					h.failedWith(failed.err)
					a.fail(strings.ReplaceAll(fmt.Sprintf("distssa: worker %s: whole compile: %v (the local race answered)", h.Addr, failed.err), "\n", " "))
				}
				return r, true
			}
			// The local run failed (or the compile went away): the
			// worker's outcome decides, as without a race.
			if failed != nil {
				return *failed, false
			}
		}
	}
}

// raceHere runs the compile on this machine, as the go command would but
// with its outputs in a temporary directory, and returns its WHOLE. A
// failure that is not compile errors (compileErrors) is an error.
func (c *compile) raceHere(ctx context.Context) (*localproto.Whole, error) {
	dir, err := os.MkdirTemp("", "distssa-race")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	args, outs := hereArgs(c.in.cl, dir)
	cmd := exec.CommandContext(ctx, c.in.compile, args...)
	cmd.Dir = c.in.cwd
	cmd.Env = hereEnv(os.Environ(), c.hello.Env)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, &ee) && ee.Exited() && compileErrors(uint64(ee.ExitCode()), out.Bytes()):
		return &localproto.Whole{Status: localproto.StatusOK, Exit: uint64(ee.ExitCode()), Output: out.Bytes()}, nil
	case err != nil:
		return nil, fmt.Errorf("%v: %s", err, cmdline.LastLine(out.String()))
	}
	w := &localproto.Whole{Status: localproto.StatusOK, Output: out.Bytes()}
	for _, name := range outs {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("the compile exited 0 but wrote no -%s: %v", name, err)
		}
		w.Files = append(w.Files, localproto.File{Name: name, Data: data})
	}
	return w, nil
}

// hereArgs is the compile's command line with each output flag naming a
// file of dir, and the flags that a worker drops (-distssa among them)
// dropped; it returns the output names too, each once.
func hereArgs(cl *cmdline.Cmdline, dir string) (args, outs []string) {
	seen := map[string]bool{}
	args = cl.FlagArgs(func(_ int, f cmdline.Flag) (string, bool) {
		if f.Kind != cmdline.Output {
			return f.Value, true
		}
		if !seen[f.Name] {
			seen[f.Name] = true
			outs = append(outs, f.Name)
		}
		return filepath.Join(dir, f.Name), true
	})
	args = append(args, "--")
	return append(args, cl.Files...), outs
}

// hereEnv is the agent's environment with the compile's GO* variables
// instead of the agent's, and without distssa's own (its token).
func hereEnv(agent, compile []string) []string {
	var env []string
	for _, e := range agent {
		if !strings.HasPrefix(e, "GO") && !strings.HasPrefix(e, "DISTSSA_") {
			env = append(env, e)
		}
	}
	return append(env, compile...)
}
