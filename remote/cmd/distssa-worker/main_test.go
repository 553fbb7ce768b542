// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"distssa/remote/internal/agent"
	"distssa/remote/internal/auth"
	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
)

// The test binary runs as the worker daemon when testutil.MainEnv is set.
func TestMain(m *testing.M) { testutil.Main(m, main) }

// daemonCmd returns a command that runs the test binary as the worker
// daemon with args, bounded by ctx, with no token from the environment.
func daemonCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := testutil.Command(ctx, args...)
	cmd.Env = append(cmd.Env, "DISTSSA_TOKEN=")
	return cmd
}

var listening = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:[0-9]+)`)

// startDaemon runs the worker daemon as a process on an ephemeral
// loopback port and returns it with its address and a reader of its log.
func startDaemon(t *testing.T, ctx context.Context, compile string, flags ...string) (*exec.Cmd, string, *bufio.Reader) {
	t.Helper()
	cmd := daemonCmd(ctx, append([]string{"-listen=127.0.0.1:0", "-slots=1", "-cache=" + t.TempDir(), "-compile=" + compile}, flags...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	log := bufio.NewReader(stderr)
	for {
		line, err := log.ReadString('\n')
		if err != nil {
			t.Fatalf("worker exited before listening: %v", err)
		}
		if m := listening.FindStringSubmatch(line); m != nil {
			return cmd, m[1], log
		}
	}
}

// TestKillWorkerMidJob kills -9 the worker daemon while its compile runs
// and waits for the job: the compile gets a failed RESULT naming the
// host, not a hang.
func TestKillWorkerMidJob(t *testing.T) {
	compile := testutil.Compile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, addr, _ := startDaemon(t, ctx, compile)

	a, err := agent.New(agent.Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "ag")
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	go a.Serve(ln)
	defer a.Close()

	cwd, args := testutil.Package(t, compile, t.TempDir())
	c, err := net.Dial("unix", filepath.Join(dir, "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	localproto.Write(c, &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args,
		Env: testutil.Env(compile)})
	if m, err := localproto.Read(r); err != nil || m.(*localproto.Grant).N != 1 {
		t.Fatalf("grant: %#v %v", m, err)
	}
	// Wait (boundedly) until the worker runs the compile.
	for {
		st, err := auth.FetchStats(ctx, hosts.Host{Addr: addr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Running == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the worker never ran the job")
		case <-time.After(20 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	t0 := time.Now()
	localproto.Write(c, &localproto.Job{Worker: 0, Data: testutil.Job(make([]byte, 32), "p.Gcd<ABIInternal>")})
	m, err := localproto.Read(r)
	res, ok := m.(*localproto.Result)
	if !ok || res.Status != 1 || !strings.Contains(string(res.Data), addr) {
		t.Fatalf("after kill -9: %#v %v", m, err)
	}
	t.Logf("failed RESULT %.1fs after the kill: %s", time.Since(t0).Seconds(), res.Data)
}

// TestSIGTERM: the daemon answers a StatsReq, then stops cleanly.
func TestSIGTERM(t *testing.T) {
	compile := testutil.Compile(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, addr, log := startDaemon(t, ctx, compile)

	status := testutil.Command(ctx, "-status="+addr)
	out, err := status.Output()
	var st struct{ Slots int }
	if err != nil || json.Unmarshal(out, &st) != nil || st.Slots != 1 {
		t.Fatalf("-status: %v %s", err, out)
	}
	var fields map[string]any
	json.Unmarshal(out, &fields)
	for _, f := range []string{"Runs", "ResultHits", "ResultMisses", "CacheHits", "Jobs"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("-status output has no %s:\n%s", f, out)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(log)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, rest)
	}
	if !strings.Contains(string(rest), "msg=stopped") {
		t.Errorf("log after SIGTERM:\n%s", rest)
	}
}

// TestMutualTLSFlags makes a test farm's certificates with
// scripts/make-test-ca.sh and runs the daemon with -tls-client-ca: -status
// with the client certificate gets the statistics; without one, or with
// a certificate of another CA, it fails naming the worker and what
// failed. Bad TLS flags stop the daemon naming the flag.
func TestMutualTLSFlags(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	compile := testutil.Compile(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	farm, other := filepath.Join(t.TempDir(), "farm"), filepath.Join(t.TempDir(), "other")
	for _, dir := range []string{farm, other} {
		if out, err := exec.CommandContext(ctx, "../../../scripts/make-test-ca.sh", dir).CombinedOutput(); err != nil {
			t.Fatalf("make-test-ca.sh: %v\n%s", err, out)
		}
	}
	f := func(dir, name string) string { return filepath.Join(dir, name) }
	_, addr, _ := startDaemon(t, ctx, compile, "-tls-cert="+f(farm, "worker.pem"), "-tls-key="+f(farm, "worker.key"),
		"-tls-client-ca="+f(farm, "ca.pem"))
	status := func(flags ...string) (string, error) {
		cmd := daemonCmd(ctx, append([]string{"-status=" + addr, "-tls-ca=" + f(farm, "ca.pem")}, flags...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var st struct{ Slots int }
	if out, err := status("-tls-cert="+f(farm, "client.pem"), "-tls-key="+f(farm, "client.key")); err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Slots != 1 {
		t.Fatalf("-status with the client certificate: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"no client certificate", nil, "tls: certificate required (the worker wants a client certificate"},
		{"another CA", []string{"-tls-cert=" + f(other, "client.pem"), "-tls-key=" + f(other, "client.key")}, "(the worker did not take the client certificate"},
	} {
		out, err := status(tc.flags...)
		if err == nil || !strings.Contains(out, addr) || !strings.Contains(out, tc.want) {
			t.Errorf("-status, %s: %v\n%s\nwant the worker's address and %q", tc.name, err, out, tc.want)
		}
	}

	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-tls-client-ca=" + f(farm, "ca.pem")}, "-tls-client-ca needs -tls-cert and -tls-key"},
		{[]string{"-tls-cert=" + f(farm, "worker.pem"), "-tls-key=" + f(farm, "worker.key"), "-tls-client-ca=" + f(farm, "nope.pem")}, "-tls-client-ca: open " + f(farm, "nope.pem")},
		{[]string{"-tls-cert=" + f(farm, "worker.pem"), "-tls-key=" + f(farm, "worker.key"), "-tls-client-ca=" + f(farm, "ca.key")}, "-tls-client-ca=" + f(farm, "ca.key") + " holds no PEM certificate"},
	} {
		cmd := daemonCmd(ctx, append([]string{"-listen=127.0.0.1:0", "-cache=" + t.TempDir(), "-compile=" + compile}, tc.flags...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%q: %v\n%s\nwant %q", tc.flags, err, out, tc.want)
		}
	}
}

// TestBadTokenAndLimits: a short token, from -token-file or
// DISTSSA_TOKEN, and a bad -max-conns stop the daemon naming the file,
// the variable or the flag.
func TestBadTokenAndLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	short := filepath.Join(t.TempDir(), "token")
	os.WriteFile(short, []byte("short\n"), 0o600)
	for _, tc := range []struct {
		flags []string
		env   string
		want  string
	}{
		{[]string{"-token-file=" + short}, "", "token file " + short + " holds 5 bytes: a token needs at least 16"},
		{nil, "DISTSSA_TOKEN=short", "DISTSSA_TOKEN holds 5 bytes: a token needs at least 16"},
		{[]string{"-status=127.0.0.1:1"}, "DISTSSA_TOKEN=short", "DISTSSA_TOKEN holds 5 bytes"},
		{[]string{"-max-conns=0"}, "", "-max-conns must be at least 1, not 0"},
	} {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a daemon that starts serves until killed
		defer cancel()
		cmd := daemonCmd(ctx, append([]string{"-listen=127.0.0.1:0", "-cache=" + t.TempDir(), "-compile=" + os.Args[0]}, tc.flags...)...)
		if tc.env != "" {
			cmd.Env = append(cmd.Env, tc.env)
		}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%q %s: %v\n%s\nwant %q", tc.flags, tc.env, err, out, tc.want)
		}
	}
}

// TestTokenFileMode: a -token-file that its group or others may read
// stops the daemon (and -status), naming the file, its mode and the
// fix; an owner-only one serves, and -status with it is answered.
func TestTokenFileMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("0123456789abcdef-token\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tok, 0o644) // whatever the umask
	want := "token file " + tok + " has mode 0644: others may read it; make it private with: chmod 600 " + tok
	for _, flags := range [][]string{
		{"-listen=127.0.0.1:0", "-cache=" + t.TempDir(), "-compile=" + os.Args[0], "-token-file=" + tok},
		{"-status=127.0.0.1:1", "-token-file=" + tok},
	} {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a daemon that starts serves until killed
		defer cancel()
		cmd := daemonCmd(ctx, flags...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%q: %v\n%s\nwant %q", flags, err, out, want)
		}
	}
	if err := os.Chmod(tok, 0o600); err != nil {
		t.Fatal(err)
	}
	_, addr, _ := startDaemon(t, ctx, os.Args[0], "-token-file="+tok)
	cmd := daemonCmd(ctx, "-status="+addr, "-token-file="+tok)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), `"Slots"`) {
		t.Errorf("-status with a token file of mode 0600: %v\n%s", err, out)
	}
}

// TestMaxConnsFlag: with -max-conns=1, a second connection is closed at
// once while the first is open; -status works again when it closes.
func TestMaxConnsFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, addr, _ := startDaemon(t, ctx, os.Args[0], "-max-conns=1")
	status := func() (string, error) {
		cmd := daemonCmd(ctx, "-status="+addr)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := status(); err == nil || !strings.Contains(out, addr) {
		t.Fatalf("-status with the one connection taken: %v\n%s", err, out)
	}
	idle.Close()
	for i := 0; ; i++ {
		out, err := status()
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("-status after the idle connection closed: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
