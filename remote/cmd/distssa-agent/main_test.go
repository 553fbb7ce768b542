// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
)

// The test binary runs as the agent when testutil.MainEnv is set.
func TestMain(m *testing.M) { testutil.Main(m, main) }

func agentCmd(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	cmd := testutil.Command(ctx, args...)
	// No cost history: the user's would change placements, and a
	// test's compiles would enter it.
	cmd.Env = append(cmd.Env, "DISTSSA_COSTS=off")
	return cmd
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestBadHostsFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	hf := filepath.Join(dir, "hosts.txt")
	os.WriteFile(hf, []byte("a\n# b\nc:x\n"), 0o644)
	for _, tc := range []struct{ file, want string }{
		{hf, hf + `:3: bad port "x"`},
		{filepath.Join(dir, "none.txt"), "none.txt: hosts file does not exist"},
	} {
		var stdout, stderr bytes.Buffer
		cmd := agentCmd(t, ctx, "-hosts="+tc.file, "-socket="+filepath.Join(dir, "s"))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if exitCode(err) != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %v, stdout %q, stderr %q; want exit 2 and %q", tc.file, err, stdout.String(), stderr.String(), tc.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "s")); err == nil {
			t.Errorf("%s: the socket exists", tc.file)
		}
	}
}

// runAgent starts the agent, with the flags, and waits for "ready".
func runAgent(t *testing.T, ctx context.Context, env []string, hostsTxt string, flags ...string) (cmd *exec.Cmd, sock string, stdin io.WriteCloser, stderr *bytes.Buffer) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ag")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	hf := filepath.Join(dir, "hosts.txt")
	os.WriteFile(hf, []byte(hostsTxt), 0o644)
	sock = filepath.Join(dir, "a.sock")
	cmd = agentCmd(t, ctx, append([]string{"-hosts=" + hf, "-socket=" + sock}, flags...)...)
	cmd.Env = append(cmd.Env, env...)
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	stdin, _ = cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "ready ") {
		t.Fatalf("agent said %q (%v), stderr: %s", line, err, stderr)
	}
	// The go command runs twice the slots and the local tokens (-local,
	// 1 here) more actions than -p.
	hs, err := hosts.Parse(hf, []byte(hostsTxt))
	if err != nil {
		t.Fatal(err)
	}
	slots := 0
	for _, h := range hs {
		slots += h.Slots
	}
	if want := fmt.Sprintf("ready %d\n", 2*(slots+1)); line != want {
		t.Fatalf("agent said %q, want %q", line, want)
	}
	return cmd, sock, stdin, stderr
}

func hello(t *testing.T, sock string, h *localproto.Hello) (net.Conn, *bufio.Reader, *localproto.Grant) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	localproto.Write(c, h)
	r := bufio.NewReader(c)
	m, err := localproto.Read(r)
	g, ok := m.(*localproto.Grant)
	if !ok {
		t.Fatalf("no grant: %v", err)
	}
	return c, r, g
}

// TestLifecycle: ready, a compile, EOF on standard input, exit 0, the
// socket removed, the summary printed.
func TestLifecycle(t *testing.T) {
	compile := testutil.Compile(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, sock, stdin, stderr := runAgent(t, ctx, nil, "127.0.0.1:1/2\n", "-v")
	cwd, args := testutil.Package(t, compile, t.TempDir())
	c, _, g := hello(t, sock, &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args})
	if g.N != 0 || g.Reason != "small package" {
		t.Errorf("grant %d %q", g.N, g.Reason)
	}
	c.Close()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent: %v, stderr: %s", err, stderr)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("socket left behind")
	}
	if !strings.Contains(stderr.String(), "1 compiles") || !strings.Contains(stderr.String(), "small package=1") {
		t.Errorf("summary: %s", stderr)
	}
}

// TestStrict: with DISTSSA_STRICT=1 a remote failure makes the agent
// exit with status 1; without, with 0.
func TestStrict(t *testing.T) {
	compile := testutil.Compile(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a host that is down
	cwd, args := testutil.Package(t, compile, t.TempDir())
	// MinCost is 16 KiB: make the package big enough.
	pad := "\n// " + strings.Repeat("x", 20<<10) + "\n"
	f, _ := os.OpenFile(filepath.Join(cwd, "p.go"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(pad)
	f.Close()
	for _, strict := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		env := []string{"DISTSSA_STRICT=0"}
		if strict {
			env = []string{"DISTSSA_STRICT=1"}
		}
		cmd, sock, stdin, stderr := runAgent(t, ctx, env, addr+"/1\n", "-v")
		c, r, g := hello(t, sock, &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args})
		if g.N != 1 {
			t.Fatalf("grant %d %q", g.N, g.Reason)
		}
		localproto.Write(c, &localproto.Job{Worker: 0, Data: []byte("job")})
		m, err := localproto.Read(r)
		if res, ok := m.(*localproto.Result); !ok || res.Status != 1 || !strings.Contains(string(res.Data), addr) {
			t.Fatalf("result %#v %v", m, err)
		}
		c.Close()
		stdin.Close()
		err = cmd.Wait()
		cancel()
		if strict && (exitCode(err) != 1 || !strings.Contains(stderr.String(), "strict mode: 1 remote failures")) {
			t.Errorf("strict: %v, stderr: %s", err, stderr)
		}
		if !strict && err != nil {
			t.Errorf("not strict: %v, stderr: %s", err, stderr)
		}
	}
}

// TestNoWorkerWarning: a build whose hosts all failed falls back here,
// and the agent says so at exit in one line naming each host and why,
// without -v: the user would otherwise only see a slow build. A build
// whose hosts were never tried says nothing.
func TestNoWorkerWarning(t *testing.T) {
	compile := testutil.Compile(t)
	var down []string
	for i := 0; i < 2; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down = append(down, ln.Addr().String())
		ln.Close() // nothing listens there now
	}
	cwd, args := testutil.Package(t, compile, t.TempDir())
	h := &localproto.Hello{Version: localproto.Version, Caps: localproto.CanWhole, Compile: compile, Cwd: cwd, Args: args}
	for _, tc := range []struct {
		name     string
		compiles int
		want     string
	}{
		{"all failed", 3, "distssa: warning: no worker used: " + down[0] + ": connection refused; " + down[1] + ": connection refused\n"},
		{"never tried", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// Every compile goes whole while a host is usable.
			cmd, sock, stdin, stderr := runAgent(t, ctx, []string{"DISTSSA_KIND=whole"}, down[0]+"/1\n"+down[1]+"/1\n")
			for i := 0; i < tc.compiles; i++ {
				c, r, g := hello(t, sock, h)
				if g.Kind == localproto.KindWhole {
					m, err := localproto.Read(r)
					if w, ok := m.(*localproto.Whole); !ok || w.Status != localproto.StatusFailed {
						t.Fatalf("compile %d: %#v %v, want a failed WHOLE", i, m, err)
					}
				} else if !strings.Contains(g.Reason, "backing off") {
					t.Fatalf("compile %d: grant %+v", i, g)
				}
				c.Close()
			}
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("agent: %v, stderr: %s", err, stderr)
			}
			// The order of the hosts is the hosts file's.
			if got := stderr.String(); got != tc.want {
				t.Errorf("stderr %q, want %q", got, tc.want)
			}
		})
	}
}
