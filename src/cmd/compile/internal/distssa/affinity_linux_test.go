// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestSetAffinityAllThreads checks that setAffinity pins every thread of
// the process, not only the one that calls it: the runtime runs
// goroutines, the compile's among them, on any of its threads.
func TestSetAffinityAllThreads(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	allowed := func(task string) string {
		data, err := os.ReadFile(filepath.Join(task, "status"))
		if err != nil {
			return "" // the thread has exited
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "Cpus_allowed_list:") {
				return strings.TrimSpace(strings.TrimPrefix(l, "Cpus_allowed_list:"))
			}
		}
		return ""
	}
	before := allowed("/proc/self")
	// Threads that exist before the call, busy in other goroutines.
	stop := make(chan struct{})
	defer close(stop)
	for i := 0; i < 4; i++ {
		go func() {
			runtime.LockOSThread()
			<-stop
		}()
	}
	runtime.Gosched()
	if err := setAffinity("1"); err != nil {
		t.Fatal(err)
	}
	defer setAffinity(expand(before))
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, task := range tasks {
		if got := allowed(task); got != "" && got != "1" {
			t.Errorf("thread %s may run on CPUs %s after setAffinity(\"1\")", filepath.Base(task), got)
		}
	}
}

// expand turns a Cpus_allowed_list ("0-1,4") into setAffinity's list.
func expand(list string) string {
	var cpus []string
	for _, f := range strings.Split(list, ",") {
		lo, hi, ok := strings.Cut(f, "-")
		if !ok {
			hi = lo
		}
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		for i := a; i <= b; i++ {
			cpus = append(cpus, strconv.Itoa(i))
		}
	}
	return strings.Join(cpus, ",")
}
