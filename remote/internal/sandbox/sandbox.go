// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package sandbox confines the processes the worker runs: each one under
// resource limits, confined by Landlock to the trees its Policy names
// where the kernel has Landlock, under a seccomp filter that lets it
// start no process and open no socket, in a process group of its own,
// and killed when the worker dies.
//
// Go cannot run code between fork and exec, and Landlock and seccomp
// confine the calling thread and its future children, so Command runs a
// trampoline: the current executable again, as
//
//	EXE -sandbox-exec POLICY-JSON NAME ARGS...
//
// The package's init function recognizes that command line, before any
// other package of the program sees it: on the locked main thread it
// sets the resource limits, applies Landlock and the seccomp filter
// (after PR_SET_NO_NEW_PRIVS) and execs NAME, so the confined process
// keeps the trampoline's pid. Any binary that links this package, a test
// binary included, can therefore run Command's commands; nothing needs
// to call a hook.
//
// Nothing of a confined process outlives it, its job or the worker: the
// seccomp filter refuses it every way to start a process (fork, vfork,
// clone without CLONE_THREAD; clone3, whose flags a filter cannot read,
// fails with ENOSYS, after which Go and the C library use clone), so its
// threads are all there is of it, and its parent-death signal (SIGKILL),
// which it may not unset, kills them with the worker. A process group
// alone would not do: a child that calls setsid leaves it. (Nor would a
// trampoline that stays, as a subreaper, rather than exec: the SIGKILL
// that kills it with the worker leaves it no time to kill its orphans,
// which then go to init. A cgroup would hold them, but the worker's
// user has none where the unit of remote/deploy runs it, and a cgroup
// outlives a worker killed with SIGKILL. RLIMIT_NPROC counts the threads
// of every process of the user, the worker's included, and binds no
// root: it cannot say "no process" without failing the compile's own
// threads.) Without the filter, where the kernel has none, the process
// group is what Command's cancel and KillGroup kill.
package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// Policy is what confines one process.
type Policy struct {
	// ReadOnly are trees (directories) and files the process may read
	// and execute; ReadWrite are trees and files it may also write,
	// create files in and remove files from. Paths must exist. With
	// Landlock, nothing else of the file system can be opened.
	ReadOnly  []string `json:",omitempty"`
	ReadWrite []string `json:",omitempty"`
	// Landlock asks for the confinement by Landlock. Where Available
	// says the kernel has none, the process runs without it.
	Landlock bool `json:",omitempty"`
	// Seccomp asks for the seccomp filter (seccomp_linux.go): the
	// process may start threads but no process, may not open a socket
	// (EACCES), nor use io_uring, ptrace or process_vm_readv/writev, nor
	// change its parent-death signal. The trampoline fails where
	// SeccompAvailable says the kernel has no filters.
	Seccomp bool `json:",omitempty"`

	// Resource limits, soft and hard, 0 for the inherited one. A limit
	// above the worker's own hard limit is lowered to that.
	AS         uint64 `json:",omitempty"` // address space, bytes (RLIMIT_AS)
	NoFile     uint64 `json:",omitempty"` // open files (RLIMIT_NOFILE)
	FSize      uint64 `json:",omitempty"` // size of a written file, bytes (RLIMIT_FSIZE)
	CPUSeconds uint64 `json:",omitempty"` // CPU time of all threads; SIGKILL when spent (RLIMIT_CPU)
}

// Flag is the trampoline's first argument.
const Flag = "-sandbox-exec"

// ExitSetup is the exit status of a trampoline that could not confine
// or start its process; its stderr says why.
const ExitSetup = 125

// Command returns the command that runs name with args in context ctx
// under policy p: through the trampoline (the current executable), with
// SIGKILL as its parent-death signal, in a process group of its own,
// which the end of ctx kills. A nil policy runs name unconfined, still
// killed with its parent. As with exec.CommandContext, the command's
// Err, returned by Start, holds a setup error.
func Command(ctx context.Context, p *Policy, name string, args ...string) *exec.Cmd {
	if p == nil {
		return groupCommand(ctx, name, args...)
	}
	fail := func(err error) *exec.Cmd {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Err = fmt.Errorf("sandbox: %v", err)
		return cmd
	}
	// The trampoline runs in the command's Dir: it gets an absolute path.
	if filepath.Base(name) == name {
		lp, err := exec.LookPath(name)
		if err != nil {
			return fail(err)
		}
		name = lp
	}
	name, err := filepath.Abs(name)
	if err != nil {
		return fail(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("trampoline: %v", err))
	}
	q := *p
	if err := q.check(); err != nil {
		return fail(err)
	}
	js, err := json.Marshal(&q)
	if err != nil {
		return fail(err)
	}
	return groupCommand(ctx, exe, append([]string{Flag, string(js), name}, args...)...)
}

// groupCommand returns the command that runs name with args in a process
// group of its own, with SIGKILL as its parent-death signal; the end of
// ctx kills the process and its group.
func groupCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error {
		KillGroup(cmd)
		return cmd.Process.Kill()
	}
	return cmd
}

// KillGroup kills with SIGKILL what is left in the process group of a
// command of Command that started: the processes its process started
// and that stayed in its group, where no seccomp filter kept it from
// starting any. Call it when the job ends, after Wait. (The group's id is
// the process's pid, which the kernel does not reuse while the group
// has members.)
func KillGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		killGroup(cmd.Process.Pid)
	}
}

// check checks p's paths (absolute, existing) and lowers its limits to
// the caller's hard limits, which the trampoline could not raise.
func (p *Policy) check() error {
	for _, l := range [][]string{p.ReadOnly, p.ReadWrite} {
		for _, d := range l {
			if !filepath.IsAbs(d) {
				return fmt.Errorf("path %q is not absolute", d)
			}
			if _, err := os.Stat(d); err != nil {
				return err
			}
		}
	}
	return clampLimits(p)
}

func init() {
	if len(os.Args) < 4 || os.Args[1] != Flag {
		return
	}
	// Init functions run on the main thread, locked to it: the thread
	// that applies Landlock is the one that execs.
	runtime.LockOSThread()
	err := trampoline(os.Args[2], os.Args[3], os.Args[3:])
	fmt.Fprintf(os.Stderr, "%s: sandbox: %v\n", filepath.Base(os.Args[0]), err)
	os.Exit(ExitSetup)
}

// trampoline confines the current process by the JSON policy js and
// execs name with argv; it returns only on failure.
func trampoline(js, name string, argv []string) error {
	var p Policy
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		return fmt.Errorf("policy: %v", err)
	}
	if err := setLimits(&p); err != nil {
		return err
	}
	if p.Landlock {
		if _, err := Available(); err == nil {
			if err := landlock(&p); err != nil {
				return fmt.Errorf("landlock: %v", err)
			}
		}
	}
	// Last: the filter refuses what the steps above may need.
	if p.Seccomp {
		if err := seccomp(); err != nil {
			return fmt.Errorf("seccomp: %v", err)
		}
	}
	err := syscall.Exec(name, argv, os.Environ())
	return fmt.Errorf("exec %s: %v", name, err)
}
