// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// Whole compiles: a worker runs the compile in normal mode (wire.Run)
// and its outcome, exit status, output and files, is the compile's
// (PROTOCOL.md §1, WHOLE).

import (
	"context"
	"fmt"
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
	a.tr.span(l, c.pkg(), start, time.Now(), map[string]any{"placement": "whole", "cached": o.cached, "won by a local race": here, "error": errString(err)})
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
	m, err := wc.RoundTrip(&wire.Run{Cwd: in.cwd, Args: in.args, Env: in.env, Files: in.wireFiles(), Work: a.cfg.Work}, a.cfg.ResultTimeout)
	if err != nil {
		// A timeout is the worker's fault (it stalls) unless the
		// compile went away, which interrupts the wait the same way.
		return nil, false, a.broken(ctx, wc, fmt.Errorf("waiting for the outcome: %w", err))
	}
	d, ok := m.(*wire.Done)
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
	c.learnWhole(d, time.Since(t0))
	w, err := wholeAnswer(d)
	return w, d.Cached, err
}

// wholeAnswer turns a worker's Done into the compile's WHOLE, or says
// why the compile must run locally instead. A failure is the compile's
// own outcome only if it is recognisably compile errors (see
// compileErrors); anything else (the worker's disk, memory or limits, a
// crash) is a failure of the worker, which a local compile need not
// share: when in doubt, compile locally.
func wholeAnswer(d *wire.Done) (*localproto.Whole, error) {
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
