// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// Verify mode, -d=distssaverify=1: when a compile that split its backend
// has written its outputs, it compiles the package once more without
// -distssa, in a child process with the same arguments but outputs in a
// temporary directory, and fails loudly, naming the output and the first
// differing byte, unless every output is byte-for-byte the same. So
// every function that went remote is also compiled locally, and so is
// the assembly of everything around it.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"cmd/compile/internal/base"
	"cmd/compile/internal/distssa/agentclient"
)

// profileFlags name the files a compile writes for profiling. A second
// process of the same compile (an exec worker, the verifying compile)
// goes without them: it would create the same files and truncate or
// append to its parent's.
var profileFlags = map[string]bool{
	"bench": true, "cpuprofile": true, "memprofile": true,
	"traceprofile": true, "blockprofile": true, "mutexprofile": true,
}

// verifyDropped are flags the verifying compile goes without: the
// transport, and the profiles.
var verifyDropped = map[string]bool{"distssa": true}

func init() {
	for f := range profileFlags {
		verifyDropped[f] = true
	}
}

// splitUsed records that this compile gave work to workers.
var splitUsed bool

// sampled is the agent connection of a split that the agent chose for
// sampled verification (GRANT verify): verify then tells the agent in
// VERDICT, and on a difference keeps the local compile's outputs rather
// than failing the compile.
var sampled *agentclient.Conn

// verified makes verify run once, whether -d=distssaverify or the agent
// asked for it, or both.
var verified bool

func initVerify() {
	if base.Debug.DistSSAVerify != 0 && spec.Transport != Local && base.Flag.DistSSAWorker == "" {
		base.AtExit(verify)
	}
}

func verify() {
	if verified {
		return
	}
	verified = true
	if !splitUsed || base.Errors() > 0 {
		if sampled != nil {
			sampled.SendVerdict(nil) // nothing of the workers' is in the outputs
		}
		return
	}
	var outs map[string]string
	fail := func(format string, args ...interface{}) {
		msg := fmt.Sprintf(format, args...)
		if sampled != nil && base.Debug.DistSSAVerify == 0 {
			// Keep what a local compile writes, and tell the agent.
			for orig, copy := range outs {
				if data, err := os.ReadFile(copy); err == nil {
					writeAtomic(orig, data)
				}
			}
			sampled.SendVerdict([]string{msg})
			return
		}
		fmt.Fprintf(os.Stderr, "distssa verify: %s: %s\n", base.Ctxt.Pkgpath, msg)
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "distssa-verify-")
	if err != nil {
		fail("%v", err)
		return
	}
	defer os.RemoveAll(dir)
	var args []string
	args, outs = verifyArgs(os.Args[1:], dir)
	if len(outs) == 0 {
		// For example a command line in a response file (@file), which
		// verifyArgs does not rewrite: say so rather than check nothing.
		fail("cannot find the outputs (-o) in the command line to verify")
		return
	}
	exe, err := os.Executable()
	if err != nil {
		fail("%v", err)
		return
	}
	cmd := exec.Command(exe, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		fail("the local compile failed: %v\n%s", err, stderr.Bytes())
		return
	}
	for orig, copy := range outs {
		a, err := os.ReadFile(orig)
		if err != nil {
			fail("%v", err)
			return
		}
		b, err := os.ReadFile(copy)
		if err != nil {
			fail("%v", err)
			return
		}
		if i := firstDiff(a, b); i >= 0 {
			fail("%s differs from a local compile's: first difference at byte %d of %d/%d", orig, i, len(a), len(b))
			return
		}
	}
	if sampled != nil {
		sampled.SendVerdict(nil)
	}
}

// verifyArgs returns the arguments of the verifying compile, which writes
// its outputs in dir, and a map from each output to its copy.
func verifyArgs(args []string, dir string) ([]string, map[string]string) {
	outs := make(map[string]string)
	out := rewriteFlags(args, func(name, value string) (string, bool) {
		switch {
		case verifyDropped[name]:
			return "", false
		case verifyOutputs[name]:
			copy := filepath.Join(dir, name+"-"+filepath.Base(value))
			outs[value] = copy
			return copy, true
		}
		return value, true
	}, func(name string) bool { return verifyDropped[name] || verifyOutputs[name] })
	return out, outs
}

// rewriteFlags returns args with the flags for which takes reports true
// rewritten by f: f gets the flag's name and value (each of those flags
// takes one, as -name=value or -name value) and returns the new value,
// or false to drop the flag. Other arguments are kept as they are.
func rewriteFlags(args []string, f func(name, value string) (string, bool), takes func(name string) bool) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || name == "" {
			out = append(out, a)
			continue
		}
		value, hasValue := "", false
		if j := strings.IndexByte(name, '='); j >= 0 {
			name, value, hasValue = name[:j], name[j+1:], true
		}
		if !takes(name) {
			out = append(out, a)
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++
			value = args[i]
		}
		if v, ok := f(name, value); ok {
			out = append(out, "-"+name+"="+v)
		}
	}
	return out
}

// execWorkerArgs returns the arguments of an exec worker of this compile
// (args are the compile's own): the compile's without its profiles.
func execWorkerArgs(dir string, args []string) []string {
	drop := func(string, string) (string, bool) { return "", false }
	kept := rewriteFlags(args, drop, func(name string) bool { return profileFlags[name] })
	return append([]string{"-distssaworker=" + dir}, kept...)
}
