// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// Placement by the agent (remote/PROTOCOL.md §1). With the agent
// transport, a compile asks the agent where to run before its front end:
// the agent answers when a local CPU token or a worker slot is free.
//
//   - kindLocal: the compile runs here and holds a local token until it
//     exits (the connection closes with the process); GRANT's n workers,
//     if any, take shares of its backend (split).
//   - kindWhole: a worker runs the whole compile. WHOLE brings its exit
//     status, its output and its files; this compile writes them and
//     exits, having run no front end. A WHOLE that reports a failure of
//     the remote side (host down, timeout, bad answer) makes it compile
//     locally; the agent sends it once a local token is held for it.

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"cmd/compile/internal/base"
)

// wholeOutputs maps a whole compile's output names (PROTOCOL.md: the
// output flags) to the flag values of this compile.
func wholeOutputs() map[string]string {
	m := make(map[string]string)
	for name, v := range map[string]string{"o": base.Flag.LowerO, "linkobj": base.Flag.LinkObj, "asmhdr": base.Flag.AsmHdr} {
		if v != "" {
			m[name] = v
		}
	}
	return m
}

// awaitPlacement waits for the agent's GRANT. On a whole placement whose
// compile ran on the worker, it writes the outcome and exits; otherwise
// it returns and the compile runs here.
func awaitPlacement(a *agentConn) {
	timer := time.NewTimer(agentQueueTimeout)
	defer timer.Stop()
	var g grantMsg
	select {
	case g = <-a.granted:
	case <-a.dead:
		select {
		case g = <-a.granted:
		default:
			return // agentWorkers says why
		}
	case <-timer.C:
		a.fail(fmt.Errorf("timeout: no GRANT within %v", agentQueueTimeout))
		return
	}
	if g.kind != kindWhole {
		a.granted <- g // for agentWorkers, at the split
		return
	}
	w, reason := awaitWhole(a)
	if reason != "" {
		// Compile here, without workers.
		a.granted <- grantMsg{reason: "whole compile failed: " + reason}
		return
	}
	if w.verify != 0 && w.exit == 0 {
		// Sampled verification: compile here all the same, with the
		// local token the agent took for it, and compare at exit.
		base.AtExit(func() { verifyWhole(a, w) })
		a.granted <- grantMsg{reason: "verifying the whole compile of " + w.host}
		return
	}
	finishWhole(w)
}

// verifyWhole compares the outputs this compile wrote with a worker's
// (WHOLE with verify) and tells the agent in VERDICT. The compile's own
// outputs stay: they are the local compile's.
func verifyWhole(a *agentConn, w wholeMsg) {
	outs := wholeOutputs()
	var diffs []string
	for _, f := range w.files {
		local, err := os.ReadFile(outs[f.name])
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("the local compile wrote no -%s (%v)", f.name, err))
		} else if i := firstDiff(local, f.data); i >= 0 {
			diffs = append(diffs, fmt.Sprintf("-%s differs at byte %d of %d/%d", f.name, i, len(local), len(f.data)))
		}
	}
	sendVerdict(a, diffs)
}

// sendVerdict tells the agent whether a verification found differences.
func sendVerdict(a *agentConn, diffs []string) {
	m := verdictMsg{match: 1}
	if len(diffs) > 0 {
		m = verdictMsg{msg: strings.Join(diffs, "; ")}
	}
	a.send(m.encode())
}

// firstDiff returns the offset of the first byte where a and b differ,
// or -1 if they are equal.
func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// awaitWhole waits for WHOLE; it returns the reason if the compile must
// run here instead.
func awaitWhole(a *agentConn) (wholeMsg, string) {
	timer := time.NewTimer(agentWholeTimeout)
	defer timer.Stop()
	var w wholeMsg
	select {
	case w = <-a.whole:
	case <-a.dead:
		select {
		case w = <-a.whole:
		default:
			return w, a.failure().Error()
		}
	case <-timer.C:
		a.fail(fmt.Errorf("no WHOLE within %v", agentWholeTimeout))
		return w, fmt.Sprintf("no answer within %v", agentWholeTimeout)
	}
	if w.status != resultOK {
		if w.msg == "" {
			w.msg = "no message"
		}
		return w, w.msg
	}
	if w.exit > 255 {
		return w, fmt.Sprintf("exit status %d", w.exit)
	}
	// finishWhole writes every file the WHOLE names, whatever the exit
	// status: each must be an output of this compile, named once.
	want := wholeOutputs()
	for _, f := range w.files {
		if _, ok := want[f.name]; !ok {
			return w, fmt.Sprintf("worker returned an output %q this compile does not write, or twice", f.name)
		}
		delete(want, f.name)
	}
	if w.exit == 0 {
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
func finishWhole(w wholeMsg) {
	outs := wholeOutputs()
	for _, f := range w.files {
		if err := writeAtomic(outs[f.name], f.data); err != nil {
			base.Fatalf("distssa: writing the output of a whole remote compile: %v", err)
		}
	}
	os.Stdout.Write(w.output)
	if w.exit != 0 && base.Flag.LowerO != "" {
		os.Remove(base.Flag.LowerO)
	}
	if base.Debug.DistSSAStats != 0 {
		n := 0
		for _, f := range w.files {
			n += len(f.data)
		}
		fmt.Fprintf(os.Stderr, "distssa: %s: whole compile on a worker, exit status %d, %d output bytes\n", base.Ctxt.Pkgpath, w.exit, n)
	}
	if w.exit == 0 && base.Debug.DistSSAVerify != 0 {
		splitUsed = true
		verify()
	}
	base.Exit(int(w.exit))
}

// writeAtomic writes data to name through a temporary file in the same
// directory, so that no reader sees a partial file. The file gets the
// mode a local compile's os.Create gives it (0666 less the umask).
func writeAtomic(name string, data []byte) error {
	tmp := fmt.Sprintf("%s.distssa-%d.tmp", name, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
