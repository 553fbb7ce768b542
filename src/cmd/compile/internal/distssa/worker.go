// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// Worker mode: the compile runs the whole front end like its client,
// checks the fingerprint, compiles the assigned functions through genssa
// one at a time, and writes a result instead of an object.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/distssa/result"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/objw"
	"cmd/compile/internal/ssagen"
	"cmd/compile/internal/types"
	"cmd/internal/obj"
)

// The file in a worker's directory that receives its result, unless
// the environment variable resultFDEnv names a file descriptor to stream
// it on.
const (
	resultFile  = "result"
	resultFDEnv = "DISTSSA_RESULT_FD"
)

// effects counts the global state that a function's backend may change
// and that the result does not carry yet. The worker compiles one group
// at a time, so a difference is that group's doing.
type effects struct {
	data, messages, largeFrames int
}

func snapshot() effects {
	var e effects
	e.data = len(base.Ctxt.Data)
	e.messages = base.NumMessages()
	e.largeFrames = ssagen.NumLargeStackFrames()
	return e
}

// unreplayable names the first side effect between a and b that the
// client cannot replay yet, or returns "".
func unreplayable(a, b effects) string {
	switch {
	case a.data != b.data:
		return "data symbols"
	case a.messages != b.messages:
		return "diagnostics"
	case a.largeFrames != b.largeFrames:
		return "large frame"
	}
	return ""
}

// testFault is $DISTSSA_TEST_FAULT in worker mode: it makes the worker
// fail on purpose, for the fault tests.
//
//	start        exit before the front end runs
//	frontend     exit after the front end, before compiling anything
//	result       write a truncated result
//	garble       write a result with one byte changed
//	fingerprint  compute another fingerprint, as another compiler would
//	skew         change an instruction's constant operand in the first function, which
//	             decodes fine and makes the object differ (for verify)
//	slow         stream the first group, then wait a minute before the others, so
//	             that the client compiles them itself
var testFault string

func initWorker() {
	testFault = os.Getenv("DISTSSA_TEST_FAULT")
	if testFault == "start" {
		os.Exit(2)
	}
	// $DISTSSA_WORKER_CPUS pins a worker to other CPUs than its client's,
	// for the benchmark (bench/splitbench): a comma-separated list.
	if cpus := os.Getenv("DISTSSA_WORKER_CPUS"); cpus != "" {
		if err := setAffinity(cpus); err != nil {
			fmt.Fprintf(os.Stderr, "distssa worker: DISTSSA_WORKER_CPUS: %v\n", err)
			os.Exit(2)
		}
	}
}

// workerMain is worker mode: it does the worker's job and exits the
// process.
func workerMain(queue []*ir.Func) {
	ph := result.Phases{Start: started, FrontEnd: time.Since(started)}
	if testFault == "frontend" {
		os.Exit(2)
	}
	dir := base.Flag.DistSSAWorker
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "distssa worker: %v\n", err)
		os.Exit(3)
	}
	// The client sends the job once its own front end is done; a client
	// that has no work for this worker closes the stream empty. Take the
	// fingerprint first, while the client is likely still busy.
	fp := Fingerprint(queue)
	job, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	if len(job) == 0 {
		os.RemoveAll(dir)
		os.Exit(0)
	}
	want, names, err := result.DecodeJob(job)
	if err != nil {
		fail(fmt.Errorf("reading job: %v", err))
	}
	ph.Job = time.Since(started) - ph.FrontEnd
	if testFault == "fingerprint" {
		fp[0] ^= 1
	}
	if fp != want {
		fail(fmt.Errorf("front-end fingerprint %x differs from the client's %x: the inputs or the compiler differ", fp[:8], want[:8]))
	}
	byName := make(map[string]*ir.Func, len(queue))
	for _, fn := range queue {
		byName[result.FuncKey(fn.LSym)] = fn
	}

	// The state compileFunctions sets up for the backend.
	types.CalcSizeDisabled = true
	base.Ctxt.InParallel = true

	enc := result.NewEncoder()
	ssagen.BeforeFlush = func(fn *ir.Func, pp *objw.Progs) bool {
		if testFault == "skew" {
			testFault = ""
			for p := pp.Text; p != nil; p = p.Link {
				if p.As >= obj.A_ARCHSPECIFIC && p.From.Type == obj.TYPE_CONST {
					p.From.Offset++
					break
				}
			}
		}
		enc.Func(fn, pp.Text)
		return false // the client assembles
	}
	// With the exec transport, the result streams to the client, a chunk
	// per group, on the file descriptor that $DISTSSA_RESULT_FD names;
	// otherwise it goes to the result file once complete.
	var stream *os.File
	if fd := os.Getenv(resultFDEnv); fd != "" {
		n, err := strconv.Atoi(fd)
		if err != nil || n < 3 {
			fail(fmt.Errorf("$%s=%q is not a file descriptor above 2", resultFDEnv, fd))
		}
		stream = os.NewFile(uintptr(n), "result stream")
	}
	// put sends a chunk down the stream. A client that stopped reading
	// (it compiled the rest itself) ends this worker.
	put := func(chunk []byte) {
		chunk = testResultFault(chunk)
		if _, err := stream.Write(chunk); err != nil {
			fail(fmt.Errorf("streaming the result: %v", err))
		}
	}
	for i, name := range names {
		if testFault == "slow" && i == 1 {
			time.Sleep(time.Minute)
		}
		fn := byName[name]
		if fn == nil {
			fail(fmt.Errorf("job names %q, which is not in the compile queue", name))
		}
		enc.Begin(fn)
		before := snapshot()
		compileGroup(fn)
		enc.End(name, unreplayable(before, snapshot()))
		if stream != nil {
			put(enc.Chunk(fp))
		}
	}
	out := enc.Finish(fp, ph)
	if stream != nil {
		put(out)
		os.Exit(0)
	}
	out = testResultFault(out)
	tmp := filepath.Join(dir, resultFile+".tmp")
	if err := os.WriteFile(tmp, out, 0o666); err != nil {
		fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, resultFile)); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// testResultFault applies the "result" and "garble" faults to the
// first chunk that the worker sends, or to its whole result.
func testResultFault(out []byte) []byte {
	switch testFault {
	case "result":
		out = out[:len(out)/2]
	case "garble":
		out[len(out)/2] ^= 0x40
	default:
		return out
	}
	testFault = ""
	return out
}

// compileGroup runs the backend on fn and its closures, in that order, in
// this goroutine.
func compileGroup(fn *ir.Func) {
	for _, f := range result.GroupFuncs(fn) {
		compileFunc(f)
	}
}
