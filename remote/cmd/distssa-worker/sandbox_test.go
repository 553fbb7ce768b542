// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/sandbox"
	"distssa/remote/internal/testutil"
)

// startLog runs the daemon with flags and returns what it logs before it
// listens, or, if it exits first, everything it printed.
func startLog(t *testing.T, compile string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-listen=127.0.0.1:0", "-cache=" + t.TempDir(), "-compile=" + compile}, flags...)...)
	cmd.Env = append(os.Environ(), "DISTSSA_TEST_MAIN=1", "DISTSSA_TOKEN=")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var b strings.Builder
	r := bufio.NewReader(stderr)
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || strings.Contains(line, "msg=listening") {
			return b.String()
		}
	}
}

// TestSandboxFlags: the daemon says at start what confines its compiles
// (Landlock's ABI and the limits, or why there is no Landlock), or that
// -sandbox=false leaves them unconfined; it refuses a -compile-mem too
// small to run a compile.
func TestSandboxFlags(t *testing.T) {
	compile := testutil.Compile(t)
	log := startLog(t, compile, "-compile-mem=4294967296", "-job-timeout=1m")
	want := "msg=sandbox landlock="
	if _, err := sandbox.Available(); err != nil {
		want = "landlock: not available on this kernel ("
	}
	if !strings.Contains(log, want) || !strings.Contains(log, "mem=4294967296") || !strings.Contains(log, "nofile=1024") {
		t.Errorf("default: log has no %q with mem=4294967296 nofile=1024:\n%s", want, log)
	}
	if strings.Count(log, "landlock") != 1 {
		t.Errorf("default: landlock said more than once:\n%s", log)
	}
	if log := startLog(t, compile, "-sandbox=false"); !strings.Contains(log, "sandbox: off") || strings.Contains(log, "mem=") {
		t.Errorf("-sandbox=false:\n%s", log)
	}
	if log := startLog(t, compile, "-compile-mem=1000"); !strings.Contains(log, "compile memory bound 1000 is below 512 MiB") {
		t.Errorf("-compile-mem=1000:\n%s", log)
	}
}
