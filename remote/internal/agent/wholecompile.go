// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// Whole compiles: a worker runs the compile in normal mode (wire.RunWhole)
// and its outcome, exit status, output and files, is the compile's
// (PROTOCOL.md §1, WHOLE).

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
	"distssa/remote/internal/wire"
)

// runWhole answers GRANT (whole), runs the compile on h's slot, which
// it releases, reports the outcome and answers WHOLE. If the compile
// must run locally after all (the policy's afterWhole), it returns why:
// then WHOLE said so (a remote failure, or a verification), and a local
// token is held for the compile. It returns "" when the compile is
// answered, or went away.
func (c *compile) runWhole(h *host) string {
	a := c.a
	if err := c.send(&localproto.Grant{Kind: localproto.KindWhole}); err != nil {
		a.release(h)
		return ""
	}
	h.mu.Lock()
	h.jobs++
	h.mu.Unlock()
	l, start := a.tr.take(h.Addr), time.Now()
	o, here := c.raceWhole(h, l)
	w, err := o.w, o.err
	a.tr.span(l, c.pkg(), start, time.Now(), map[string]any{"placement": "whole", "why": c.why, "cached": o.cached, "won by a local race": here, "error": errString(err)})
	a.tr.release(l)
	a.release(h)
	var exit uint64
	if err == nil {
		exit = w.Exit
		if !here {
			h.mu.Lock()
			h.ok++
			h.mu.Unlock()
		}
		a.st.ranWhole(o.cached)
	}
	var msg string
	switch afterWhole(err != nil, exit, here, c.ctx.Err() != nil, func() bool { return a.sample(h) }) {
	case answer:
		c.send(w)
		return ""
	case abandon:
		return "" // the compile went away, or the build ends: no one to answer
	case verify:
		// Sampled verification: the compile runs here too, with a
		// local token, and compares (VERDICT).
		w.Verify, w.Host = 1, h.Addr
		return c.placeBack(w, reasonVerify, func() { c.verifyHosts = []*host{h} })
	}
	msg = strings.ReplaceAll(fmt.Sprintf("distssa: worker %s: whole compile: %v", h.Addr, err), "\n", " ")
	h.failedWith(err)
	a.fail(msg)
	return c.placeBack(&localproto.Whole{Status: localproto.StatusFailed, Msg: msg}, reasonFallBack, nil)
}

// placeBack places a whole compile back here, for the reason: it takes
// a local token for the compile and answers w, which tells the compiler
// to compile itself. It returns the reason, or "" if the compile went
// away meanwhile. set, if not nil, runs once the token is held.
func (c *compile) placeBack(w *localproto.Whole, reason string, set func()) string {
	a := c.a
	p, err := a.place(c.ctx, request{hold: true})
	if err != nil {
		return ""
	}
	if set != nil {
		set()
	}
	if reason == reasonFallBack {
		a.st.inc(&a.st.fellBack)
	}
	if c.send(w) != nil {
		a.unplace(p)
		return ""
	}
	return reason
}

// wholeOnWorker runs the compile on h and returns its WHOLE answer; ctx
// interrupts it.
func (c *compile) wholeOnWorker(ctx context.Context, h *host, l lane) (*localproto.Whole, bool, error) {
	a, in := c.a, c.in
	t0 := time.Now()
	wc, err := c.connect(ctx, h, wholeTask)
	t1 := time.Now()
	a.tr.span(l, "upload", t0, t1, nil)
	if err != nil {
		return nil, false, err
	}
	defer func() { a.tr.span(l, "compile", t1, time.Now(), nil) }()
	stop := context.AfterFunc(ctx, wc.Interrupt)
	defer stop()
	m, err := wc.RoundTrip(&wire.RunWhole{Cwd: in.cwd, Args: in.args, Env: in.env, Files: in.wireFiles(), Work: a.cfg.Work}, a.cfg.ResultTimeout)
	if err != nil {
		// A timeout is the worker's fault (it stalls) unless the
		// compile went away, which interrupts the wait the same way.
		return nil, false, a.broken(ctx, wc, fmt.Errorf("waiting for the outcome: %w", err))
	}
	d, ok := m.(*wire.Whole)
	if !ok {
		wc.NC.Close()
		return nil, false, wire.Unexpected(m)
	}
	if !stop() {
		wc.NC.Close()
		return nil, false, errCancelled
	}
	wc.NC.SetDeadline(time.Time{})
	h.put(wc)
	a.hostOK(h)
	rt := time.Since(t0)
	c.learnWhole(d, rt)
	if d.Status == 0 && d.Exit == 0 && !d.Cached {
		a.addPace(&a.wholePace, rt, c.est)
	}
	w, err := wholeAnswer(d)
	return w, d.Cached, err
}

// wholeAnswer turns a worker's Whole into the compile's WHOLE, or says
// why the compile must run locally instead. A failure is the compile's
// own outcome only if it is recognisably compile errors (see
// compileErrors); anything else (the worker's disk, memory or limits, a
// crash) is a failure of the worker, which a local compile need not
// share: when in doubt, compile locally.
func wholeAnswer(d *wire.Whole) (*localproto.Whole, error) {
	if d.Status != 0 {
		return nil, fmt.Errorf("%w: %s", errCompileFailed, d.Msg)
	}
	if d.Exit != 0 && !compileErrors(d.Exit, d.Output) {
		return nil, fmt.Errorf("%w: exit status %d: %s", errCompileFailed, d.Exit, cmdline.LastLine(string(d.Output)))
	}
	w := &localproto.Whole{Status: localproto.StatusOK, Exit: d.Exit, Output: d.Output}
	for _, o := range d.Outputs {
		data, err := wire.Decompress(o.Data, o.Size)
		if err != nil {
			return nil, fmt.Errorf("output %s: %v", o.Name, err)
		}
		w.Files = append(w.Files, localproto.File{Name: o.Name, Data: data})
	}
	return w, nil
}

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
