// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"distssa/remote/internal/sandbox"
)

// The compile's limits: its address space by default, its open files,
// the size of a file it writes.
const (
	defaultCompileMem = 8 << 30
	minCompileMem     = 512 << 20
	compileNoFile     = 1024
	compileFSize      = 1 << 30
)

// compileCommand returns the command that runs the compile of job j:
// confined by package sandbox unless the configuration says NoSandbox.
// The compile reads the toolchain and its job directory, and writes in
// the job's out and tmp directories only. It runs in a process group of
// its own, which the end of ctx kills, and so does killRest.
func (s *Server) compileCommand(ctx context.Context, j *workdir) *exec.Cmd {
	if s.cfg.NoSandbox {
		return sandbox.Command(ctx, nil, s.cfg.Compile, j.args...)
	}
	p := s.compilePolicy()
	p.ReadOnly = append(p.ReadOnly, j.dir)
	p.ReadWrite = append(p.ReadWrite, j.out, j.dir+"/tmp")
	return sandbox.Command(ctx, p, s.cfg.Compile, j.args...)
}

// killRest kills what is left of a compile's process group once the
// compile has exited: the processes it started, where it could (without
// the seccomp filter).
func killRest(cmd *exec.Cmd) { sandbox.KillGroup(cmd) }

// landlockAvailable and seccompAvailable are sandbox.Available and
// sandbox.SeccompAvailable; tests replace them.
var (
	landlockAvailable = sandbox.Available
	seccompAvailable  = sandbox.SeccompAvailable
)

// errSandboxMissing is the error of New with NeedSandbox on a kernel
// that lacks what confines the compiles.
var errSandboxMissing = errors.New("sandbox required (-sandbox=require)")

// checkSandbox checks the sandbox's configuration: with NeedSandbox,
// the kernel must have Landlock and the seccomp filter.
func checkSandbox(cfg *Options) error {
	if !cfg.NeedSandbox {
		return nil
	}
	if cfg.NoSandbox {
		return errors.New("the sandbox cannot be both required and off")
	}
	if _, err := landlockAvailable(); err != nil {
		return fmt.Errorf("%w, but Landlock is not available on this kernel (%v); -sandbox=best-effort runs compiles without it", errSandboxMissing, err)
	}
	if err := seccompAvailable(); err != nil {
		return fmt.Errorf("%w, but the seccomp filter is not available (%v); -sandbox=best-effort runs compiles without it", errSandboxMissing, err)
	}
	return nil
}

// hugePageSize is the file the Go runtime reads at start for the huge
// page size.
const hugePageSize = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"

// compilePolicy is the policy of every compile, without its job
// directory: the toolchain and the Go runtime's hugePageSize read-only,
// /dev/null read-write, Landlock and the seccomp filter where the kernel
// has them, and the limits. Its CPU time is the job timeout on every CPU
// of the machine: it stops a compile that the timeout could not.
func (s *Server) compilePolicy() *sandbox.Policy {
	mem := s.cfg.CompileMem
	if mem == 0 {
		mem = defaultCompileMem
	}
	_, err := landlockAvailable()
	ro := toolchainPaths(s.cfg.Compile)
	if _, err := os.Stat(hugePageSize); err == nil {
		ro = append(ro, hugePageSize)
	}
	return &sandbox.Policy{
		ReadOnly:   ro,
		ReadWrite:  []string{"/dev/null"},
		Landlock:   err == nil,
		Seccomp:    seccompAvailable() == nil,
		AS:         uint64(mem),
		NoFile:     compileNoFile,
		FSize:      compileFSize,
		CPUSeconds: uint64((s.cfg.JobTimeout.Seconds() + 1) * float64(runtime.NumCPU())),
	}
}

// toolchainPaths returns what a compile may read of the toolchain: the
// binary (its link resolved) and its GOROOT, if it sits in
// GOROOT/pkg/tool/GOOS_GOARCH, or else its directory.
func toolchainPaths(compile string) []string {
	bin, err := filepath.Abs(compile)
	if err != nil {
		return nil // Start reports it
	}
	if b, err := filepath.EvalSymlinks(bin); err == nil {
		bin = b
	}
	dir := filepath.Dir(bin)
	if tool := filepath.Dir(dir); filepath.Base(tool) == "tool" && filepath.Base(filepath.Dir(tool)) == "pkg" {
		dir = filepath.Dir(filepath.Dir(tool))
	}
	return []string{dir, bin}
}

// sandboxFailed says whether a compile's error and output are those of
// a sandbox that could not confine or start it: a failure of the
// worker, not the compile's exit.
func sandboxFailed(err error, output []byte) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == sandbox.ExitSetup && bytes.Contains(output, []byte(": sandbox: "))
}

// logSandbox says once, at start, what confines the compiles: a warning
// for each mechanism the kernel lacks.
func (s *Server) logSandbox() {
	if s.cfg.NoSandbox {
		s.cfg.Log.Warn("sandbox: off; compiles run unconfined (-sandbox=off is for debugging)")
		return
	}
	p := s.compilePolicy()
	limits := []any{"mem", p.AS, "nofile", p.NoFile, "fsize", p.FSize, "cpu_seconds", p.CPUSeconds}
	abi, lerr := landlockAvailable()
	serr := seccompAvailable()
	if lerr != nil {
		s.cfg.Log.Warn(fmt.Sprintf("landlock: not available on this kernel (%v); compiles can read and write what the worker's user can", lerr))
	}
	if serr != nil {
		s.cfg.Log.Warn(fmt.Sprintf("seccomp: the filter is not available (%v); compiles can start processes and open sockets", serr))
	}
	attrs := []any{"landlock", abi, "seccomp", serr == nil}
	if lerr == nil {
		attrs = append(attrs, "toolchain", p.ReadOnly)
	}
	s.cfg.Log.Info("sandbox", append(attrs, limits...)...)
}
