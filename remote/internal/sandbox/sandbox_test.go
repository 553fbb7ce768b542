// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package sandbox

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary is its own child, best statically linked: under
// Landlock a dynamically linked one needs the system's libraries. Hence
// no package net here (it links the C library's resolver); TCP is
// spoken with system calls.
//
// The test binary is its own child: under $SANDBOX_TEST_HELPER it runs
// one of the helpers below instead of the tests. (The trampoline, in
// init, has run before TestMain.)
func TestMain(m *testing.M) {
	switch os.Getenv("SANDBOX_TEST_HELPER") {
	case "":
		os.Exit(m.Run())
	case "ops":
		helperOps(os.Args[1:])
	case "limits":
		helperLimits()
	case "parent":
		helperParent()
	case "block":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGUSR1)
		<-c // until killed
	default:
		fmt.Fprintln(os.Stderr, "unknown helper")
		os.Exit(2)
	}
	os.Exit(0)
}

// helperOps runs each operation (r:PATH read, w:PATH create and write,
// c:PORT TCP connect to 127.0.0.1:PORT, k:PID signal 0 to PID) and prints one line for each: "OP ok" or "OP ERR".
func helperOps(ops []string) {
	for _, op := range ops {
		kind, arg, _ := strings.Cut(op, ":")
		var err error
		switch kind {
		case "r":
			_, err = os.ReadFile(arg)
		case "w":
			err = os.WriteFile(arg, make([]byte, 2<<20), 0o644)
		case "c":
			port, _ := strconv.Atoi(arg)
			err = connect(port)
		case "k":
			pid, _ := strconv.Atoi(arg)
			err = syscall.Kill(pid, 0)
		}
		res := "ok"
		var errno syscall.Errno
		switch {
		case errors.As(err, &errno):
			res = errno.Error()
		case err != nil:
			res = err.Error()
		}
		fmt.Printf("%s %s\n", op, res)
	}
}

// helperLimits prints the soft and hard limits it runs under.
func helperLimits() {
	for _, l := range limits(&Policy{}) {
		var r syscall.Rlimit
		if err := syscall.Getrlimit(l.res, &r); err != nil {
			fmt.Println(l.name, err)
			continue
		}
		fmt.Println(l.name, r.Cur, r.Max)
	}
}

// helperParent runs a blocking child under the sandbox, with its own fd
// 3 as the child's fd 3; it prints the child's pid and waits.
func helperParent() {
	cmd := Command(context.Background(), &Policy{NoFile: 64}, os.Args[0])
	cmd.Env = append(os.Environ(), "SANDBOX_TEST_HELPER=block")
	cmd.ExtraFiles = []*os.File{os.NewFile(3, "pipe")}
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(cmd.Process.Pid)
	cmd.Wait()
}

// run runs a helper under policy p and returns its output lines.
func run(t *testing.T, p *Policy, helper string, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := Command(ctx, p, exe, args...)
	cmd.Env = append(os.Environ(), "SANDBOX_TEST_HELPER="+helper)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s: %v\n%s", helper, err, ee.Stderr)
		}
		t.Fatalf("%s: %v", helper, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// landlockABI returns the kernel's Landlock ABI version, or skips.
func landlockABI(t *testing.T) int {
	abi, err := Available()
	if err != nil {
		t.Skipf("skipping: Landlock is not available on this kernel: %v", err)
	}
	return abi
}

// TestLandlock runs a child confined to a job dir (read-write) and a
// toolchain dir (read-only): it reads and writes in the job dir, reads
// the toolchain, and is refused everything else, TCP and signals to the
// test included. The same child without Landlock can do all of it.
func TestLandlock(t *testing.T) {
	abi := landlockABI(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	job, tool, outside := t.TempDir(), t.TempDir(), t.TempDir()
	ro := []string{tool, exe}
	if dynamic(t, exe) {
		// Built with -race, say: the child needs the loader and the C
		// library.
		for _, d := range []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ld.so.cache"} {
			if _, err := os.Stat(d); err == nil {
				ro = append(ro, d)
			}
		}
	}
	for _, f := range []string{job + "/in", tool + "/lib", outside + "/secret"} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port := listen(t)
	tcp := "refused"
	if abi < 4 {
		tcp = "allowed" // the kernel cannot restrict TCP
	}
	signal := "denied"
	if abi < 6 {
		signal = "allowed" // nor signals
	}
	cases := []struct {
		op      string
		allowed string // "allowed", or "refused" (EACCES) or "denied" (EPERM) under Landlock
	}{
		{"r:" + job + "/in", "allowed"},
		{"w:" + job + "/out", "allowed"},
		{"r:" + tool + "/lib", "allowed"},
		{"w:" + tool + "/new", "refused"},
		{"r:" + outside + "/secret", "refused"},
		{"w:" + outside + "/new", "refused"},
		{"r:/etc/passwd", "refused"},
		{"c:" + strconv.Itoa(port), tcp},
		{"k:" + strconv.Itoa(os.Getpid()), signal},
	}
	var ops []string
	for _, c := range cases {
		ops = append(ops, c.op)
	}
	p := &Policy{ReadOnly: ro, ReadWrite: []string{job, "/dev/null"}, Landlock: true}
	for _, landlock := range []bool{true, false} {
		p.Landlock = landlock
		os.Remove(outside + "/new")
		os.Remove(tool + "/new")
		got := run(t, p, "ops", ops...)
		if len(got) != len(cases) {
			t.Fatalf("landlock %v: %d results for %d operations: %q", landlock, len(got), len(cases), got)
		}
		for i, c := range cases {
			want := c.op + " ok"
			switch {
			case landlock && c.allowed == "refused":
				want = c.op + " permission denied"
			case landlock && c.allowed == "denied":
				want = c.op + " operation not permitted"
			}
			if got[i] != want {
				t.Errorf("landlock %v: got %q, want %q", landlock, got[i], want)
			}
		}
	}
}

// TestLimits shows a child's resource limits, and RLIMIT_FSIZE at work:
// a 2 MiB write under a 1 MiB limit fails.
func TestLimits(t *testing.T) {
	p := &Policy{AS: 6 << 30, NoFile: 100, FSize: 1 << 20, CPUSeconds: 77}
	got := run(t, p, "limits")
	want := []string{
		fmt.Sprintf("RLIMIT_AS %d %d", p.AS, p.AS),
		"RLIMIT_NOFILE 100 100",
		"RLIMIT_FSIZE 1048576 1048576",
		"RLIMIT_CPU 77 77",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("child's limits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	f := filepath.Join(t.TempDir(), "big")
	if got := run(t, p, "ops", "w:"+f); got[0] != "w:"+f+" file too large" {
		t.Errorf("write of 2 MiB under RLIMIT_FSIZE 1 MiB: %q", got[0])
	}
}

// TestDiesWithParent kills a process that runs a sandboxed child, and
// shows the child dies too: a pipe that only the child still holds open
// reaches end of file.
func TestDiesWithParent(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(exe)
	parent.Env = append(os.Environ(), "SANDBOX_TEST_HELPER=parent")
	parent.ExtraFiles = []*os.File{w}
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer func() { parent.Process.Kill(); parent.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("parent printed %q (%v)", line, err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) }) // if it survived
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("child %d still holds its pipe 10s after its parent was killed (read %d, %v)", pid, n, err)
	}
}

// TestSetupErrors: a policy naming a missing or relative path fails at
// Start, naming the path; a trampoline that cannot exec says so.
func TestSetupErrors(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing")
	for _, p := range []*Policy{{ReadOnly: []string{missing}}, {ReadWrite: []string{"rel/dir"}}} {
		err := Command(ctx, p, "/bin/true").Run()
		if err == nil || !strings.Contains(err.Error(), "sandbox: ") {
			t.Errorf("policy %+v: %v", p, err)
		}
	}
	if err := Command(ctx, &Policy{}, "/bin/true").Run(); err != nil {
		t.Errorf("/bin/true: %v", err)
	}
	out, err := Command(ctx, &Policy{}, missing).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitSetup || !strings.Contains(string(out), "sandbox: exec "+missing) {
		t.Errorf("exec of a missing file: %v, %q", err, out)
	}
}

// listen listens on a TCP port of 127.0.0.1, for the test's life, and
// returns the port. Connections wait in the backlog.
func listen(t *testing.T) int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 16); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*syscall.SockaddrInet4).Port
}

// connect connects to 127.0.0.1:port.
func connect(port int) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	return syscall.Connect(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
}

// dynamic says whether the executable exe has an ELF interpreter.
func dynamic(t *testing.T, exe string) bool {
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
