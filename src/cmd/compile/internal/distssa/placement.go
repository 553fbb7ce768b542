// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// Placement by the agent (remote/PROTOCOL.md §1). With the agent
// transport, a compile asks the agent where to run before its front end:
// the agent answers when a local CPU token or a worker slot is free.
//
//   - KindLocal: the compile runs here and holds a local token until it
//     exits (the connection closes with the process); GRANT's n workers,
//     if any, take shares of its backend (split).
//   - KindWhole: a worker runs the whole compile. WHOLE brings its exit
//     status, its output and its files; this compile writes them and
//     exits, having run no front end. A WHOLE that reports a failure of
//     the remote side (host down, timeout, bad answer) makes it compile
//     locally; the agent sends it once a local token is held for it.

import (
	"fmt"
	"os"

	"cmd/compile/internal/base"
	"cmd/compile/internal/distssa/agentclient"
)

// awaitPlacement waits for the agent's GRANT. On a whole placement whose
// compile ran on the worker, it writes the outcome and exits; otherwise
// it returns and the compile runs here.
func awaitPlacement(c *agentclient.Conn) {
	g, ok := c.AwaitGrant()
	if !ok {
		return // agentWorkers says why
	}
	if g.Kind != agentclient.KindWhole {
		c.PutGrant(g) // for agentWorkers, at the split
		return
	}
	w, reason := awaitWhole(c)
	if reason != "" {
		// Compile here, without workers.
		c.PutGrant(agentclient.Grant{Reason: "whole compile failed: " + reason})
		return
	}
	if w.Verify != 0 && w.Exit == 0 {
		// Sampled verification: compile here all the same, with the
		// local token the agent took for it, and compare at exit.
		base.AtExit(func() { verifyWhole(c, w) })
		c.PutGrant(agentclient.Grant{Reason: "verifying the whole compile of " + w.Host})
		return
	}
	finishWhole(w)
}

// verifyWhole compares the outputs this compile wrote with a worker's
// (WHOLE with verify) and tells the agent in VERDICT. The compile's own
// outputs stay: they are the local compile's.
func verifyWhole(c *agentclient.Conn, w agentclient.Whole) {
	outs := wholeOutputs()
	var diffs []string
	for _, f := range w.Files {
		local, err := os.ReadFile(outs[f.Name])
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("the local compile wrote no -%s (%v)", f.Name, err))
		} else if i := firstDiff(local, f.Data); i >= 0 {
			diffs = append(diffs, fmt.Sprintf("-%s differs at byte %d of %d/%d", f.Name, i, len(local), len(f.Data)))
		}
	}
	c.SendVerdict(diffs)
}

// awaitWhole waits for WHOLE; it returns the reason if the compile must
// run here instead.
func awaitWhole(c *agentclient.Conn) (agentclient.Whole, string) {
	w, err := c.AwaitWhole()
	if err != nil {
		return w, err.Error()
	}
	if w.Status != agentclient.StatusOK {
		if w.Msg == "" {
			w.Msg = "no message"
		}
		return w, w.Msg
	}
	if w.Exit > 255 {
		return w, fmt.Sprintf("exit status %d", w.Exit)
	}
	// finishWhole writes every file the WHOLE names, whatever the exit
	// status: each must be an output of this compile, named once.
	want := wholeOutputs()
	for _, f := range w.Files {
		if _, ok := want[f.Name]; !ok {
			return w, fmt.Sprintf("worker returned an output %q this compile does not write, or twice", f.Name)
		}
		delete(want, f.Name)
	}
	if w.Exit == 0 {
		for name := range want {
			return w, fmt.Sprintf("worker returned no -%s output", name)
		}
	}
	return w, ""
}

// finishWhole ends a compile that ran whole on a worker: it writes the
// outputs (each atomically: a temporary file in the same directory,
// renamed), prints what the compile printed, and exits with its status.
// A failing compile removes -o, as base.ErrorExit does.
func finishWhole(w agentclient.Whole) {
	outs := wholeOutputs()
	for _, f := range w.Files {
		if err := writeAtomic(outs[f.Name], f.Data); err != nil {
			base.Fatalf("distssa: writing the output of a whole remote compile: %v", err)
		}
	}
	os.Stdout.Write(w.Output)
	if w.Exit != 0 && base.Flag.LowerO != "" {
		os.Remove(base.Flag.LowerO)
	}
	if base.Debug.DistSSAStats != 0 {
		n := 0
		for _, f := range w.Files {
			n += len(f.Data)
		}
		fmt.Fprintf(os.Stderr, "distssa: %s: whole compile on a worker, exit status %d, %d output bytes\n", base.Ctxt.Pkgpath, w.Exit, n)
	}
	if w.Exit == 0 && base.Debug.DistSSAVerify != 0 {
		splitUsed = true
		verify()
	}
	base.Exit(int(w.Exit))
}
