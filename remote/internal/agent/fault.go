// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// Faults and outcomes: the one place that tells the failures of remote
// work apart. A failure is one of
//
//   - a refusal (wire.Refusal): the worker's Error, or the agent's
//     refusal of a worker in the handshake; nothing in the build changes
//     it, so the host is refused for the target, or throttled;
//   - errCompileFailed: the worker ran the compile and it failed other
//     than with compile errors; the compile runs here, and the host is
//     not at fault;
//   - errCancelled and errRaceLost: the compile went away, or a local
//     race answered it; no one is at fault, but a worker silent by then
//     has stalled (errStalled);
//   - anything else: a fault of the host or the network (isHostFault),
//     which backs the host off.
//
// A compile's own failure, its compile errors, is no failure of remote
// work: it is the compile's outcome (compileErrors), whether the worker
// or this machine ran it.

import (
	"bytes"
	"errors"
	"regexp"
	"strings"

	"distssa/remote/internal/wire"
)

// errCancelled is the end of remote work whose compile went away.
var errCancelled = errors.New("compile went away")

// errStalled is the failure of a worker that said nothing for
// Config.SilentAfter while it owed an answer, until a local race
// answered the compile.
var errStalled = errors.New("stalled")

// isHostFault tells faults of the host or the network, which back the
// host off, from refusals and compile failures, which do not.
func isHostFault(err error) bool {
	var we wire.Refusal
	return !errors.As(err, &we) && !errors.Is(err, errCompileFailed)
}

// errCompileFailed is a compile that failed on the worker other than
// with compile errors: the worker's outcome is not the compile's, which
// runs here, but the host is not at fault either.
var errCompileFailed = errors.New("compile failed on the worker")

// errRaceLost is the cause of the cancellation of a worker's run that a
// local race answered.
var errRaceLost = errors.New("a local race answered the compile")

// diagnostic matches the first line of a compile error: a position
// (file:line or file:line:col) and a message.
var diagnostic = regexp.MustCompile(`^[^\t].*?:[0-9]+(:[0-9]+)?: [^ ]`)

// osErrors are operating-system errors: in a compile's output they mean
// that the worker's machine failed the compile, not the source.
var osErrors = []string{
	"no space left on device", "disk quota exceeded", "file too large", "input/output error",
	"read-only file system", "too many open files", "cannot allocate memory",
	"resource temporarily unavailable", "permission denied", "no such file or directory",
}

// compileErrors tells whether a failed compile's exit status and output
// are those of compile errors: exit status 2 (base.ErrorExit), and every
// line of output a positioned diagnostic or its continuation (a tab),
// with no crash of the Go runtime and no operating-system error in it.
// The compile's other failures (log.Fatalf's exit 1 for I/O errors,
// usage errors, crashes) are not recognised, and compile locally.
func compileErrors(exit uint64, out []byte) bool {
	if exit != 2 || len(out) == 0 || runtimeCrash(out) {
		return false
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if !diagnostic.MatchString(lines[0]) {
		return false
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "\t") && !diagnostic.MatchString(l) {
			return false
		}
	}
	low := strings.ToLower(string(out))
	for _, e := range osErrors {
		if strings.Contains(low, e) {
			return false
		}
	}
	return true
}

// runtimeCrash tells whether a compile's output shows a crash of the Go
// runtime rather than compile errors.
func runtimeCrash(out []byte) bool {
	for _, s := range []string{"fatal error: ", "runtime: out of memory", "SIGKILL", "signal: "} {
		if bytes.HasPrefix(out, []byte(s)) || bytes.Contains(out, []byte("\n"+s)) {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
