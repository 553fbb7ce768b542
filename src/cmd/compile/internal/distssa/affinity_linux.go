// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// setAffinity pins this process to the CPUs in list, a comma-separated
// list of CPU numbers (for example "1" or "1,3").
func setAffinity(list string) error {
	var mask [16]uint64 // 1024 CPUs, the size of glibc's cpu_set_t
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n >= len(mask)*64 {
			return fmt.Errorf("bad CPU number %q in %q", f, list)
		}
		mask[n/64] |= 1 << (uint(n) % 64)
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
	if e != 0 {
		return fmt.Errorf("sched_setaffinity(%s): %v", list, e)
	}
	return nil
}
