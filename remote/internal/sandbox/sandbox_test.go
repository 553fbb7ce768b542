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
	"runtime"
	"strconv"
	"strings"
	"sync"
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
		block()
	case "spawn-setsid-block":
		helperSpawn(true, true)
	case "spawn-group-block":
		helperSpawn(false, true)
	case "spawn-group-exit":
		helperSpawn(false, false)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper")
		os.Exit(2)
	}
	os.Exit(0)
}

// block waits until killed.
func block() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	<-c
}

// helperSpawn starts the helper "block" as a child, in a session of its
// own or in the helper's process group, with the helper's fd 3 as its
// fd 3; it prints its pid, or why it could not start it, to stderr. Then
// it blocks, or exits.
func helperSpawn(setsid, wait bool) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SANDBOX_TEST_HELPER=block")
	cmd.ExtraFiles = []*os.File{os.NewFile(3, "pipe")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "spawn:", err)
	} else {
		fmt.Fprintln(os.Stderr, "spawned", cmd.Process.Pid)
	}
	if wait {
		block()
	}
}

// helperOps runs each operation and prints one line for each: "OP ok"
// or "OP ERR". The operations are r:PATH read, w:PATH create and write,
// c:PORT TCP connect to 127.0.0.1:PORT, k:PID signal 0 to PID, u:PATH
// connect to the unix socket PATH, s: make a socket pair, f: start and
// kill a child in a session of its own, t:N start N threads, and p:
// unset the parent-death signal.
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
		case "u":
			err = connectUnix(arg)
		case "s":
			var fds [2]int
			if fds, err = syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0); err == nil {
				syscall.Close(fds[0])
				syscall.Close(fds[1])
			}
		case "f":
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "SANDBOX_TEST_HELPER=block")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err = cmd.Start(); err == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		case "t":
			n, _ := strconv.Atoi(arg)
			err = threads(n)
		case "p":
			_, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, 0, 0)
			if e != 0 {
				err = e
			}
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

// helperParent runs a child under the sandbox (the seccomp filter where
// the kernel has it), with its own fd 3 as the child's fd 3; it prints
// the child's pid and waits. The child runs the helper
// $SANDBOX_TEST_CHILD, "block" by default.
func helperParent() {
	child := os.Getenv("SANDBOX_TEST_CHILD")
	if child == "" {
		child = "block"
	}
	cmd := Command(context.Background(), &Policy{NoFile: 64, Seccomp: SeccompAvailable() == nil}, os.Args[0])
	cmd.Env = append(os.Environ(), "SANDBOX_TEST_HELPER="+child)
	cmd.ExtraFiles = []*os.File{os.NewFile(3, "pipe")}
	cmd.Stderr = os.Stderr
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
	diesWithParent(t, "block")
}

// TestGrandchildDiesWithParent: a sandboxed child that tries to start a
// grandchild in a session of its own, out of reach of its parent-death
// signal and its process group, leaves nothing behind when its parent
// is killed: the pipe that the child and the grandchild would hold
// reaches end of file.
func TestGrandchildDiesWithParent(t *testing.T) {
	if err := SeccompAvailable(); err != nil {
		t.Skipf("skipping: no seccomp filter: %v", err)
	}
	diesWithParent(t, "spawn-setsid-block")
}

// diesWithParent runs the helper child under a parent that it then
// kills, and checks that nothing holds the pipe it gave the child.
func diesWithParent(t *testing.T, child string) {
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
	parent.Env = append(os.Environ(), "SANDBOX_TEST_HELPER=parent", "SANDBOX_TEST_CHILD="+child)
	parent.ExtraFiles = []*os.File{w}
	stderr := stderrPipe(t, parent)
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
	said := ""
	if child != "block" {
		// The child has tried to start the grandchild.
		said = firstLine(t, stderr)
		t.Log(said)
	}
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("child %d or its child still holds its pipe 10s after its parent was killed (read %d, %v); the child said %q", pid, n, err, said)
	}
}

// stderrPipe returns the reading end of a pipe that is cmd's stderr;
// the test closes it.
func stderrPipe(t *testing.T, cmd *exec.Cmd) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	cmd.Stderr = w
	return r
}

// firstLine reads a line from r, waiting 10s at most.
func firstLine(t *testing.T, r *os.File) string {
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("no line from the child within 10s: %q, %v", line, err)
	}
	return strings.TrimSpace(line)
}

// TestSeccomp runs a child with and without the seccomp filter: with
// it, the child can start threads but no process, cannot open a socket
// (TCP, unix by path, a pair), and cannot unset its parent-death signal;
// without it, it can do all of it.
func TestSeccomp(t *testing.T) {
	if err := SeccompAvailable(); err != nil {
		t.Skipf("skipping: no seccomp filter: %v", err)
	}
	sock := filepath.Join(t.TempDir(), "s")
	listenUnix(t, sock)
	cases := []struct{ op, filtered string }{
		{"t:16", "ok"},
		{"f:", "operation not permitted"},
		{"c:" + strconv.Itoa(listen(t)), "permission denied"},
		{"u:" + sock, "permission denied"},
		{"s:", "permission denied"},
		{"p:", "operation not permitted"},
	}
	var ops []string
	for _, c := range cases {
		ops = append(ops, c.op)
	}
	for _, filtered := range []bool{true, false} {
		got := run(t, &Policy{Seccomp: filtered}, "ops", ops...)
		if len(got) != len(cases) {
			t.Fatalf("seccomp %v: %d results for %d operations: %q", filtered, len(got), len(cases), got)
		}
		for i, c := range cases {
			want := c.op + " ok"
			if filtered {
				want = c.op + " " + c.filtered
			}
			if got[i] != want {
				t.Errorf("seccomp %v: got %q, want %q", filtered, got[i], want)
			}
		}
	}
}

// TestKillGroup: a child that starts a grandchild in its process group
// (no seccomp filter keeps it from that) leaves nothing behind, whether
// it exits (KillGroup, after Wait) or is cancelled (the command's
// context): the pipe that only the grandchild holds reaches end of file.
func TestKillGroup(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, child := range []string{"spawn-group-exit", "spawn-group-block"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cmd := Command(ctx, &Policy{}, exe)
		cmd.Env = append(os.Environ(), "SANDBOX_TEST_HELPER="+child)
		cmd.ExtraFiles = []*os.File{w}
		stderr := stderrPipe(t, cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		said := firstLine(t, stderr)
		if !strings.HasPrefix(said, "spawned ") {
			t.Fatalf("%s: %s", child, said)
		}
		if child == "spawn-group-block" {
			cancel() // the end of its job
		}
		cmd.Wait()
		if child == "spawn-group-exit" {
			KillGroup(cmd)
		}
		cancel()
		r.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := r.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: its grandchild (%s) still holds its pipe 10s after it ended (read %d, %v)", child, said, n, err)
		}
		r.Close()
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

// listenUnix listens on the unix socket path for the test's life.
// Connections wait in the backlog.
func listenUnix(t *testing.T, path string) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 16); err != nil {
		t.Fatal(err)
	}
}

// connectUnix connects to the unix socket path.
func connectUnix(path string) error {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	return syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
}

// threads starts n threads (goroutines locked to threads of their own)
// and ends them.
func threads(n int) error {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
			wg.Done()
		}()
	}
	wg.Wait()
	return nil
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
