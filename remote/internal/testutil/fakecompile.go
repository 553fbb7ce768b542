// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeCompile is the source of the fake compile of the sandbox's tests.
// What it does depends on its -p flag:
//
//	-p=spawn        starts a grandchild in a session of its own, which
//	                sleeps a minute, and exits 3
//	-p=spawn-block  the same, but then sleeps a minute itself
//	-p=forks        tries to start 20 children, which sleep a minute,
//	                and prints how many started; exits 3
//	-p=unix:PATH    connects to the unix socket PATH; exits 3
//
// Once it has tried what it does, it names its thread "fakeready" (see
// /proc/PID/comm), and it prints what happened.
const fakeCompile = `package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// main runs on the main thread, whose name is /proc/PID/comm: PR_SET_NAME
// names the calling thread only.
func init() { runtime.LockOSThread() }

func main() {
	if len(os.Args) == 2 && os.Args[1] == "sleep" {
		time.Sleep(time.Minute)
		return
	}
	pkg := ""
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "-p="); ok {
			pkg = v
		}
	}
	switch {
	case pkg == "spawn" || pkg == "spawn-block":
		cmd := exec.Command(os.Args[0], "sleep")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			fmt.Println("spawn:", err)
		} else {
			fmt.Println("spawned", cmd.Process.Pid)
		}
	case pkg == "forks":
		n := 0
		for i := 0; i < 20; i++ {
			if exec.Command(os.Args[0], "sleep").Start() == nil {
				n++
			}
		}
		fmt.Printf("started %d of 20\n", n)
	case strings.HasPrefix(pkg, "unix:"):
		c, err := net.Dial("unix", strings.TrimPrefix(pkg, "unix:"))
		if err == nil {
			c.Close()
			fmt.Println("connect: ok")
		} else {
			fmt.Println("connect:", err)
		}
	}
	name := []byte("fakeready\x00")
	syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0)
	if pkg == "spawn-block" {
		time.Sleep(time.Minute)
	}
	os.Exit(3)
}
`

// FakeCompile builds the fake compile of the sandbox's tests (see
// fakeCompile), statically linked, with the go command on PATH, and
// returns its path: a "compile" in a directory of its own. It skips the
// test if there is no go command.
func FakeCompile(t testing.TB) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: no go command to build the fake compile: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"go.mod": "module fake\n\ngo 1.21\n", "main.go": fakeCompile} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	compile := filepath.Join(bin, "compile")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", compile, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake compile: %v\n%s", err, out)
	}
	return compile
}

// Procs returns the pids of the processes that run the executable exe.
func Procs(exe string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && p == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Ready returns the pids of the processes that run exe and have named
// their thread "fakeready".
func Ready(exe string) []int {
	var ready []int
	for _, pid := range Procs(exe) {
		if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "fakeready" {
			ready = append(ready, pid)
		}
	}
	return ready
}

// KillProcs kills what runs exe, for a test's cleanup.
func KillProcs(exe string) {
	for _, pid := range Procs(exe) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// WaitNoProcs waits, up to 10 s, until no process runs exe, and returns
// the pids of those that still do.
func WaitNoProcs(exe string) []int {
	for i := 0; ; i++ {
		pids := Procs(exe)
		if len(pids) == 0 || i == 500 {
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
}
