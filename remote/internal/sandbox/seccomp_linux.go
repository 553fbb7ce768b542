// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package sandbox

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter of Policy.Seccomp is a classic BPF program over
// struct seccomp_data (linux/seccomp.h), whose fields it reads at these
// offsets. It looks at the low 32 bits of the first argument only:
// clone's flags (all of clone's process flags are in them; the kernel
// ignores the others) and prctl's option (an int).
const (
	dataNr   = 0
	dataArch = 4
	dataArg0 = 16 // little-endian, as amd64 and arm64 are

	seccompRetAllow = 0x7fff0000
	seccompRetErrno = 0x00050000
)

// filter returns the seccomp filter of Policy.Seccomp for the native
// system call ABI; a call of any other ABI (i386 by int 0x80 on amd64,
// x32, arm32 on arm64) fails with EPERM.
func filter() []unix.SockFilter {
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(op uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | op | unix.BPF_K, Jt: jt, Jf: jf, K: k}
	}
	load := func(off uint32) unix.SockFilter { return stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }
	ret := func(k uint32) unix.SockFilter { return stmt(unix.BPF_RET|unix.BPF_K, k) }
	fail := func(e syscall.Errno) unix.SockFilter { return ret(seccompRetErrno | uint32(e)) }

	prog := []unix.SockFilter{
		load(dataArch),
		jump(unix.BPF_JEQ, nativeArch, 1, 0),
		fail(unix.EPERM),
		load(dataNr),
	}
	if x32Bit != 0 {
		prog = append(prog, jump(unix.BPF_JSET, x32Bit, 0, 1), fail(unix.EPERM))
	}
	for _, c := range deniedCalls() {
		prog = append(prog, jump(unix.BPF_JEQ, c.nr, 0, 1), fail(c.err))
	}
	return append(prog,
		// clone makes a thread, or fails.
		jump(unix.BPF_JEQ, unix.SYS_CLONE, 0, 4),
		load(dataArg0),
		jump(unix.BPF_JSET, unix.CLONE_THREAD, 0, 1),
		ret(seccompRetAllow),
		fail(unix.EPERM),
		// The parent-death signal stays.
		jump(unix.BPF_JEQ, unix.SYS_PRCTL, 0, 4),
		load(dataArg0),
		jump(unix.BPF_JEQ, unix.PR_SET_PDEATHSIG, 0, 1),
		fail(unix.EPERM),
		ret(seccompRetAllow),
		ret(seccompRetAllow),
	)
}

// deniedCalls lists the system calls that the filter refuses whatever
// their arguments, and the error they then return.
func deniedCalls() []struct {
	nr  uint32
	err syscall.Errno
} {
	calls := []struct {
		nr  uint32
		err syscall.Errno
	}{
		// clone3's flags are in memory, out of a filter's reach; on
		// ENOSYS, Go and the C library fall back to clone.
		{unix.SYS_CLONE3, unix.ENOSYS},
		// No network, no unix socket (a pathname socket is no open
		// that Landlock sees), no socket pair.
		{unix.SYS_SOCKET, unix.EACCES},
		{unix.SYS_SOCKETPAIR, unix.EACCES},
		// io_uring's operations (a socket's, for one) pass no filter.
		{unix.SYS_IO_URING_SETUP, unix.EPERM},
		{unix.SYS_IO_URING_ENTER, unix.EPERM},
		{unix.SYS_IO_URING_REGISTER, unix.EPERM},
		// The worker runs as the same user: no tracing it.
		{unix.SYS_PTRACE, unix.EPERM},
		{unix.SYS_PROCESS_VM_READV, unix.EPERM},
		{unix.SYS_PROCESS_VM_WRITEV, unix.EPERM},
	}
	for _, nr := range forkCalls {
		calls = append(calls, struct {
			nr  uint32
			err syscall.Errno
		}{nr, unix.EPERM})
	}
	return calls
}

var seccompAvail struct {
	once sync.Once
	err  error
}

// SeccompAvailable says why the running kernel cannot give a process the
// seccomp filter, or returns nil.
func SeccompAvailable() error {
	seccompAvail.once.Do(func() {
		if nativeArch == 0 {
			seccompAvail.err = fmt.Errorf("no seccomp filter for %s", runtime.GOARCH)
			return
		}
		// A kernel with seccomp filters reads the filter first, here
		// at address 0 (it installs nothing); one without says EINVAL.
		_, _, e := unix.Syscall(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, 0)
		switch e {
		case unix.EFAULT:
		case unix.EINVAL:
			seccompAvail.err = errors.New("the kernel has no seccomp filters")
		default:
			seccompAvail.err = fmt.Errorf("prctl(PR_SET_SECCOMP): %v", e)
		}
	})
	return seccompAvail.err
}

// seccomp applies the filter to the calling thread, and what it execs.
func seccomp() error {
	if err := SeccompAvailable(); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %v", err)
	}
	prog := filter()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := unix.Syscall(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("prctl(PR_SET_SECCOMP): %v", e)
	}
	runtime.KeepAlive(prog)
	return nil
}
