// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package sandbox

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

func killGroup(pgid int) {
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// limits pairs each resource with its field of a Policy.
func limits(p *Policy) []struct {
	res  int
	name string
	v    *uint64
} {
	return []struct {
		res  int
		name string
		v    *uint64
	}{
		{syscall.RLIMIT_AS, "RLIMIT_AS", &p.AS},
		{syscall.RLIMIT_NOFILE, "RLIMIT_NOFILE", &p.NoFile},
		{syscall.RLIMIT_FSIZE, "RLIMIT_FSIZE", &p.FSize},
		{syscall.RLIMIT_CPU, "RLIMIT_CPU", &p.CPUSeconds},
	}
}

func clampLimits(p *Policy) error {
	for _, l := range limits(p) {
		if *l.v == 0 {
			continue
		}
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(l.res, &cur); err != nil {
			return fmt.Errorf("%s: %v", l.name, err)
		}
		if *l.v > cur.Max {
			*l.v = cur.Max
		}
	}
	return nil
}

// setLimits sets p's limits on the current process. It uses package
// syscall's Setrlimit, which also tells syscall.Exec not to restore the
// soft RLIMIT_NOFILE that the Go runtime raised at start.
func setLimits(p *Policy) error {
	for _, l := range limits(p) {
		if *l.v == 0 {
			continue
		}
		if err := syscall.Setrlimit(l.res, &syscall.Rlimit{Cur: *l.v, Max: *l.v}); err != nil {
			return fmt.Errorf("%s %d: %v", l.name, *l.v, err)
		}
	}
	return nil
}

// Landlock's rights and flags that golang.org/x/sys v0.14.0 does not
// name (linux/landlock.h).
const (
	accessFSIoctlDev  = 1 << 15 // ABI 5
	accessNetBindTCP  = 1 << 0  // ABI 4
	accessNetConnTCP  = 1 << 1  // ABI 4
	scopeAbstractUnix = 1 << 0  // ABI 6
	scopeSignal       = 1 << 1  // ABI 6
)

// rulesetAttr is struct landlock_ruleset_attr of ABI 6; older kernels
// get its prefix.
type rulesetAttr struct {
	fs, net, scoped uint64
}

var available struct {
	once sync.Once
	abi  int
	err  error
}

// Available returns the Landlock ABI version of the running kernel, or
// why there is none (a kernel without Landlock, or with it disabled).
func Available() (int, error) {
	available.once.Do(func() {
		r, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
		abi := int(r)
		switch {
		case e == unix.ENOSYS:
			available.err = errors.New("no landlock_create_ruleset system call")
		case e == unix.EOPNOTSUPP:
			available.err = errors.New("Landlock is disabled")
		case e != 0:
			available.err = e
		case abi < 1:
			available.err = fmt.Errorf("Landlock ABI version %d", abi)
		default:
			available.abi = abi
		}
	})
	return available.abi, available.err
}

// File system rights: those a kernel of each ABI version handles, and
// those that apply to a file (as opposed to a directory).
const (
	fsABI1 = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG |
		unix.LANDLOCK_ACCESS_FS_MAKE_SOCK | unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	fsFile = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
		unix.LANDLOCK_ACCESS_FS_TRUNCATE | accessFSIoctlDev
	fsRead = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
)

// handledFS returns the file system rights a kernel of ABI version abi
// handles: all of them are denied but where a rule grants them.
func handledFS(abi int) uint64 {
	fs := uint64(fsABI1)
	if abi >= 2 {
		fs |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		fs |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		fs |= accessFSIoctlDev
	}
	return fs
}

// landlock confines the calling thread, and what it execs, to p's
// paths. Where the kernel can, it also denies TCP (bind and connect),
// signals to processes outside the domain, and abstract unix sockets
// outside it.
func landlock(p *Policy) error {
	abi, err := Available()
	if err != nil {
		return err
	}
	attr := rulesetAttr{fs: handledFS(abi)}
	size := unsafe.Sizeof(attr.fs)
	if abi >= 4 {
		attr.net = accessNetBindTCP | accessNetConnTCP
		size += unsafe.Sizeof(attr.net)
	}
	if abi >= 6 {
		attr.scoped = scopeAbstractUnix | scopeSignal
		size += unsafe.Sizeof(attr.scoped)
	}
	r, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return fmt.Errorf("create ruleset: %v", e)
	}
	ruleset := int(r)
	defer unix.Close(ruleset)
	for _, l := range []struct {
		paths  []string
		access uint64
	}{
		{p.ReadOnly, fsRead & attr.fs},
		{p.ReadWrite, attr.fs},
	} {
		for _, path := range l.paths {
			if err := addRule(ruleset, path, l.access); err != nil {
				return err
			}
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %v", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0); e != 0 {
		return fmt.Errorf("restrict self: %v", e)
	}
	return nil
}

// addRule grants access beneath path, or to path if it is not a
// directory.
func addRule(ruleset int, path string, access uint64) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		access &= fsFile
	}
	rule := unix.LandlockPathBeneathAttr{Allowed_access: access, Parent_fd: int32(fd)}
	_, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("%s: add rule: %v", path, e)
	}
	return nil
}
