// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// setAffinity pins this process to the CPUs in list, a comma-separated
// list of CPU numbers (for example "1" or "1,3").
//
// sched_setaffinity pins one thread, and the runtime has started several
// already, any of which may run the compile: each is pinned, in turn, as
// /proc/self/task lists them, until a pass finds no new one (a thread
// made meanwhile inherits the mask of its maker, pinned or not).
func setAffinity(list string) error {
	var mask [16]uint64 // 1024 CPUs, the size of glibc's cpu_set_t
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n >= len(mask)*64 {
			return fmt.Errorf("bad CPU number %q in %q", f, list)
		}
		mask[n/64] |= 1 << (uint(n) % 64)
	}
	pin := func(tid int) error {
		_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
		if e != 0 && e != syscall.ESRCH { // a thread that has exited
			return fmt.Errorf("sched_setaffinity(%s): %v", list, e)
		}
		return nil
	}
	if err := pin(0); err != nil {
		return err
	}
	pinned := make(map[int]bool)
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		found := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || pinned[tid] {
				continue
			}
			if err := pin(tid); err != nil {
				return err
			}
			pinned[tid] = true
			found = true
		}
		if !found {
			return nil
		}
	}
}
