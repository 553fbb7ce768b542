// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package distssa splits the compiler's SSA backend between the local
// compile and worker processes, or sends the whole compile to a worker.
//
// This file is its front door: the hooks that upstream calls, in the
// order a compile calls them.
//
//   - ParseFlag (gc.Main, after the flags): parse -distssa (spec.go) and
//     start the transport (transport.go): exec workers, or the agent,
//     which may run the compile as a whole on a worker (placement.go).
//   - BeforeCompileFunctions (gc.compileFunctions, first): in worker
//     mode, compile the job's functions and exit (worker.go); otherwise
//     plan the split and send the workers their jobs (split.go).
//   - AfterCompileFunctions (deferred in gc.compileFunctions): replay and
//     assemble what the workers compiled, compile the rest (split.go);
//     at exit, report the split's statistics and phases (phases.go).
//
// Below them: the front-end fingerprint (fingerprint.go), verification
// (verify.go), the compile's outputs (outputs.go), and two packages:
// result, the encoding of jobs and results, and agentclient, the
// compiler's side of the local protocol with the agent.
//
// The packages must build with the bootstrap toolchain (cmd/dist compiles
// cmd/compile/internal/... with Go >= 1.17.13): std only, no generics.
package distssa

import (
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/distssa/result"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/ssagen"
)

// ParseFlag parses base.Flag.DistSSA into spec, starts the transport
// and installs the backend hooks that the flags ask for. It is called
// right after base.ParseFlags and exits the compile with a message that
// names the flag if the value is malformed.
//
// The transport starts here, before the front end, so that the workers'
// front ends run while this compile's does; with the agent, the compile
// waits here for its placement, and a compile placed whole on a worker
// exits here.
func ParseFlag() {
	s, err := ParseSpec(base.Flag.DistSSA)
	if err != nil {
		log.Fatalf("invalid -distssa value %v", err)
	}
	spec = s
	if base.Flag.DistSSAWorker != "" {
		initWorker()
	} else {
		startWorkers()
	}
	placed = time.Now()
	initVerify()
	if base.Debug.DistSSARoundTrip != 0 {
		ssagen.BeforeFlush = result.RoundTrip
	}
}

// beforeCompileFunctions is BeforeCompileFunctions (compat.go), called as
// gc.compileFunctions begins, with the queue in its original
// (deterministic) order. It returns the functions to compile in this
// process. In worker mode it does the worker's job and exits.
func beforeCompileFunctions(queue []*ir.Func) []*ir.Func {
	if base.Flag.DistSSAWorker != "" {
		workerMain(queue)
	}
	if base.Debug.DistSSAFingerprint != 0 {
		fp := Fingerprint(queue)
		fmt.Fprintf(os.Stderr, "distssa: %s: fingerprint %s, %d functions\n", base.Ctxt.Pkgpath, hex.EncodeToString(fp[:]), len(queue))
	}
	return planSplit(queue)
}

// AfterCompileFunctions is called by gc.compileFunctions once the local
// share is compiled, before it tears down the backend's state. It
// assembles the workers' functions and compiles locally those they did
// not deliver. At exit, once the object is written, it prints the
// statistics and sends them to the agent (STATS).
func AfterCompileFunctions() {
	s := finishSplit()
	if s == nil {
		return
	}
	// The connection stays open until the compile exits: it holds the
	// compile's local token.
	c := agent
	agent = nil
	base.AtExit(func() { s.finish(c) })
}
