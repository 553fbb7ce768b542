// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package sandbox

import "golang.org/x/sys/unix"

const (
	nativeArch = unix.AUDIT_ARCH_X86_64
	x32Bit     = 0x40000000 // __X32_SYSCALL_BIT: the x32 ABI's calls
)

// forkCalls are the system calls, other than clone and clone3, that
// start a process.
var forkCalls = []uint32{unix.SYS_FORK, unix.SYS_VFORK}
