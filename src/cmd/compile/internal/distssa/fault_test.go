// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

import (
	"bytes"
	"internal/testenv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"cmd/compile/internal/distssa/result"
)

// splitSrc has several functions whose backend has no side effects that
// distssa cannot replay yet, so that some of them go remote.
const splitSrc = testSrc + `
func Gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func Poly(x float64) float64 { return ((3*x-2)*x+1)*x - 0.5 }

func Switch(n int) int {
	switch n {
	case 0:
		return 5
	case 1:
		return 7
	case 2:
		return 11
	case 3:
		return 13
	case 4:
		return 17
	case 5:
		return 19
	}
	return -1
}
`

var statsLine = regexp.MustCompile(`distssa: p: (\d+)/(\d+) functions remote.*; local: (.*)`)

// TestSplit compiles with two worker processes, with and without DWARF:
// some functions go remote, the object is the local compile's, and a
// worker failure at any stage leaves the object unchanged, with the
// reason in the statistics.
func TestSplit(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	for _, flags := range [][]string{{"-dwarf=false"}, {}} {
		t.Run(strings.Join(append([]string{"flags"}, flags...), ""), func(t *testing.T) {
			testSplit(t, flags)
		})
	}
}

func testSplit(t *testing.T, flags []string) {
	dir := t.TempDir()
	want, msg, err := compileSrc(t, dir, splitSrc, flags...)
	if err != nil {
		t.Fatalf("local compile: %v\n%s", err, msg)
	}
	split := func(fault string) (remote int, local string) {
		t.Helper()
		os.Setenv("DISTSSA_TEST_FAULT", fault)
		defer os.Unsetenv("DISTSSA_TEST_FAULT")
		// Under distssaforce the compile takes no share and takes none
		// back, so that every function goes to a worker.
		got, msg, err := compileSrc(t, dir, splitSrc, append(flags, "-distssa=exec:2", "-d=distssaforce=1,distssastats=1")...)
		if err != nil {
			t.Fatalf("fault %q: compile failed: %v\n%s", fault, err, msg)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("fault %q: object differs from the local compile", fault)
		}
		m := statsLine.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("fault %q: no statistics line in:\n%s", fault, msg)
		}
		rest := statsLine.ReplaceAllString(msg, "")
		rest = phasesLine.ReplaceAllString(rest, "")
		if fault != "" {
			// A worker that failed sent no phases.
			if w := workerLine.FindString(rest); w != "" {
				t.Errorf("fault %q: %s", fault, w)
			}
		}
		if strings.TrimSpace(workerLine.ReplaceAllString(rest, "")) != "" {
			t.Errorf("fault %q: unexpected output:\n%s", fault, msg)
		}
		n, _ := strconv.Atoi(m[1])
		return n, m[3]
	}
	if remote, local := split(""); remote < 2 {
		t.Errorf("no fault: %d functions remote, want at least 2 (local: %s)", remote, local)
	}
	for fault, reason := range map[string]string{
		"start":       "worker failed",
		"frontend":    "worker failed",
		"result":      "bad result",
		"garble":      "bad result",
		"fingerprint": "fingerprint mismatch",
	} {
		remote, local := split(fault)
		if remote != 0 || !strings.Contains(local, reason+"=") {
			t.Errorf("fault %q: %d remote, local: %s; want 0 remote and %q", fault, remote, local, reason)
		}
	}
}

// TestTakeBack checks that a compile whose worker falls behind takes
// the worker's functions back rather than wait: its worker streams its
// first group, then stalls for a minute. The compile ends with the rest
// compiled here ("taken back"), its object the local compile's, and no
// phases of the stalled worker, which it stopped.
func TestTakeBack(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	t.Setenv("DISTSSA_TEST_FAULT", "slow")
	for _, flags := range [][]string{{"-dwarf=false"}, {}} {
		dir := t.TempDir()
		want, msg, err := compileSrc(t, dir, splitSrc, flags...)
		if err != nil {
			t.Fatalf("local compile: %v\n%s", err, msg)
		}
		got, msg, err := compileSrc(t, dir, splitSrc, append(flags, "-distssa=exec:1", "-d=distssastats=1")...)
		if err != nil {
			t.Fatalf("%v: split compile: %v\n%s", flags, err, msg)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v: object differs from the local compile", flags)
		}
		m := statsLine.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("%v: no statistics line in:\n%s", flags, msg)
		}
		remote, _ := strconv.Atoi(m[1])
		total, _ := strconv.Atoi(m[2])
		count := func(reason string) int {
			c := regexp.MustCompile(regexp.QuoteMeta(reason) + `=(\d+)`).FindStringSubmatch(m[3])
			if c == nil {
				return 0
			}
			n, _ := strconv.Atoi(c[1])
			return n
		}
		back, share := count("taken back"), count("client share")
		if back == 0 || remote+back+share != total {
			t.Errorf("%v: %d remote, %d taken back and %d in the client's share of %d functions, want some taken back and the sum\n%s",
				flags, remote, back, share, total, msg)
		}
		if w := workerLine.FindString(msg); w != "" {
			t.Errorf("%v: the stalled worker reported its phases: %s", flags, w)
		}
	}
}

// TestVerify checks -d=distssaverify=1: quiet when the split compile's
// object is right, and a failure naming the object when a worker's
// result, valid as a result, makes it differ.
func TestVerify(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	flags := []string{"-distssa=exec:2", "-d=distssaforce=1,distssaverify=1"}
	if _, msg, err := compileSrc(t, dir, splitSrc, flags...); err != nil || msg != "" {
		t.Errorf("verify of a right split: err=%v, output:\n%s", err, msg)
	}
	os.Setenv("DISTSSA_TEST_FAULT", "skew")
	defer os.Unsetenv("DISTSSA_TEST_FAULT")
	_, msg, err := compileSrc(t, dir, splitSrc, flags...)
	if err == nil || !strings.Contains(msg, "distssa verify: p: ") || !strings.Contains(msg, "differs from a local compile's") {
		t.Errorf("verify of a skewed split: err=%v, output:\n%s", err, msg)
	}
}

// TestWorkerRefusesOtherInputs runs a worker by hand on a job whose
// fingerprint is not its own: it must refuse, naming the fingerprint.
func TestWorkerRefusesOtherInputs(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "p.go")
	if err := os.WriteFile(src, []byte(splitSrc), 0o666); err != nil {
		t.Fatal(err)
	}
	var fp [32]byte
	cmd := testenv.Command(t, testenv.GoToolPath(t), "tool", "compile", "-distssaworker="+dir, "-p=p", "-dwarf=false", "-o", filepath.Join(dir, "p.o"), src)
	cmd.Stdin = bytes.NewReader(result.EncodeJob(fp, []string{"p.Gcd<ABIInternal>"}))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "fingerprint") {
		t.Errorf("worker with a foreign job: err=%v, output:\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, resultFile)); err == nil {
		t.Errorf("worker wrote a result")
	}
	if _, err := os.Stat(filepath.Join(dir, "p.o")); err == nil {
		t.Errorf("worker wrote an object")
	}
}

// TestExecWorkerDropsProfiles checks that exec workers do not inherit
// the flags that name profiling files: a worker that did would open the
// same file as its parent and truncate it or append to it.
func TestExecWorkerDropsProfiles(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	bench := filepath.Join(dir, "bench.txt")
	cpu := filepath.Join(dir, "cpu.prof")
	_, msg, err := compileSrc(t, dir, splitSrc, "-distssa=exec:2", "-d=distssaforce=1,distssastats=1",
		"-bench=bench.txt", "-cpuprofile=cpu.prof", "-traceprofile=trace.out") // relative to dir, where the compile runs
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, msg)
	}
	if m := statsLine.FindStringSubmatch(msg); m == nil || m[1] == "0" {
		t.Fatalf("no function went to a worker:\n%s", msg)
	}
	data, err := os.ReadFile(bench)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "BenchmarkCompile:p:total"); n != 1 {
		t.Errorf("-bench file has %d totals, want 1 (the parent's):\n%s", n, data)
	}
	prof, err := os.ReadFile(cpu)
	if err != nil {
		t.Fatal(err)
	}
	// A CPU profile is one gzip stream; a worker's truncation leaves
	// the parent's later writes behind a hole of zeros, or a second one.
	if len(prof) < 2 || prof[0] != 0x1f || prof[1] != 0x8b || bytes.Count(prof, []byte{0x1f, 0x8b, 8}) != 1 {
		t.Errorf("-cpuprofile file is not the parent's single gzip stream (%d bytes)", len(prof))
	}
	// The execution trace's header is written at once, before the
	// workers start; a worker's truncation replaces it with zeros.
	trace, err := os.ReadFile(filepath.Join(dir, "trace.out"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(trace, []byte("go 1.")) || bytes.Count(trace, []byte(" trace\x00")) != 1 {
		t.Errorf("-traceprofile file does not start with one trace header: %q", trace[:min(len(trace), 16)])
	}
}

// TestExecWorkerArgs checks an exec worker's command line: the compile's
// own, with every profile flag dropped, in either form.
func TestExecWorkerArgs(t *testing.T) {
	args := []string{"-p=p", "-cpuprofile", "cpu.prof", "-o", "p.o", "-memprofile=mem.prof", "-memprofilerate=1",
		"--traceprofile=t.out", "-bench", "b.txt", "-blockprofile=b", "-mutexprofile", "m", "-distssa=exec:2", "p.go"}
	got := strings.Join(execWorkerArgs("/w", args), " ")
	want := "-distssaworker=/w -p=p -o p.o -memprofilerate=1 -distssa=exec:2 p.go"
	if got != want {
		t.Errorf("execWorkerArgs:\n got %s\nwant %s", got, want)
	}
}
