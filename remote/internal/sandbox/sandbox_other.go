// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build !linux

package sandbox

import (
	"errors"
	"syscall"
)

// Off Linux there is no Landlock, no seccomp filter, no parent-death
// signal, no process group, and the trampoline sets no limits.

var errNotLinux = errors.New("Landlock is Linux's")

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pgid int) {}

// SeccompAvailable says why the process cannot have the seccomp filter.
func SeccompAvailable() error { return errors.New("seccomp is Linux's") }

func seccomp() error { return SeccompAvailable() }

func clampLimits(p *Policy) error { return nil }

func setLimits(p *Policy) error { return nil }

// Available returns the Landlock ABI version of the running kernel, or
// why there is none.
func Available() (int, error) { return 0, errNotLinux }

func landlock(p *Policy) error { return errNotLinux }
