// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// splitbench measures the split backend against stock go1.21.6 on single
// packages and prints a table.
//
// For each package it takes the compile command that 'go build -a -x'
// runs (once with stock go1.21.6, once with distssa, so that each
// compiler imports its own export data; from bench/corpus, so that the
// corpus modules resolve), then times:
//
//	stock   stock compile -c=1, pinned to CPU 0 (taskset -c 0)
//	split   distssa compile -c=1 -distssa=exec:N pinned to CPU 0, its
//	        worker processes pinned to CPU 1 ($DISTSSA_WORKER_CPUS)
//
// Both get the same extra flags (-flags, none by default). It reports the
// median wall time and CPU time (user+system, worker processes included)
// of -n runs, their ratios, and, from one more run with
// -d=distssastats=1, the remote share of estimated cost, the result bytes
// and the decode and replay times.
//
// With -phases it prints instead where the time goes, as two markdown
// tables of medians over -n interleaved rounds: stock's wall time and its
// -bench phases (the front end, the "fe" phases; compilefuncs; dumpobj)
// beside the split's wall time and the client's phases of
// -d=distssastats=1; and worker 1's phases.
//
// Usage (from the repository root, after src/make.bash):
//
//	bin/go run ./bench/splitbench [-n 5] [-workers 1] [-flags FLAGS] [-phases] [packages]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

var (
	runs    = flag.Int("n", 5, "runs per configuration")
	workers = flag.Int("workers", 1, "worker processes (exec:N)")
	extra   = flag.String("flags", "", "compiler flags for both compilers")
	stockV  = flag.String("stock", "go1.21.6", "stock toolchain, run through GOTOOLCHAIN with the go on PATH")
	phases  = flag.Bool("phases", false, "print the phases of stock's and the split's compiles, as markdown tables")
)

var defaultPkgs = []string{"cmd/compile/internal/ssa", "github.com/jackc/pgtype", "net/http", "runtime", "go/types"}

// The pinning of the two configurations.
var (
	stockPin = pin{cpus: "0"}
	splitPin = pin{cpus: "0", workerCPUs: "1"}
)

type pin struct{ cpus, workerCPUs string }

func main() {
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = defaultPkgs
	}
	forkGo, err := filepath.Abs(filepath.Join("bin", "go"))
	check(err)
	if _, err := os.Stat(forkGo); err != nil {
		fatalf("run from the repository root after src/make.bash: %v", err)
	}
	stockGo := strings.TrimSpace(output([]string{"GOTOOLCHAIN=" + *stockV, "GOFLAGS="}, "go", "env", "GOROOT"))
	stockGo = filepath.Join(stockGo, "bin", "go")
	if *phases {
		printPhases(pkgs, stockGo, forkGo)
		return
	}

	fmt.Printf("splitbench: %d runs, exec:%d, flags %q, GOMAXPROCS %d\n\n", *runs, *workers, *extra, runtime.NumCPU())
	fmt.Printf("stock: taskset -c %s; split: taskset -c %s, workers on CPU %s\n\n", stockPin.cpus, splitPin.cpus, splitPin.workerCPUs)
	fmt.Printf("%-26s %9s %9s %6s %9s %9s %6s %7s %10s %8s %8s\n",
		"package", "stock", "split", "wall", "stockCPU", "splitCPU", "CPU", "remote", "bytes", "decode", "replay")
	split := fmt.Sprintf("-distssa=exec:%d", *workers)
	for _, pkg := range pkgs {
		stock := capture(stockGo, pkg)
		fork := capture(forkGo, pkg)
		sw, sc := measure(stock, stockPin, "-c=1")
		fw, fc := measure(fork, splitPin, "-c=1", split)
		st := stats(fork, split)
		fmt.Printf("%-26s %9s %9s %6.2f %9s %9s %6.2f %7s %10s %8s %8s\n", pkg,
			round(sw), round(fw), float64(fw)/float64(sw), round(sc), round(fc), float64(fc)/float64(sc),
			st["share"], st["bytes"], st["decode"], st["replay"])
	}
}

// compileCmd is a compile command captured from go build -x.
type compileCmd struct {
	work, dir, line string
}

var workRE = regexp.MustCompile(`^WORK=(\S+)`)

func capture(goBin, pkg string) compileCmd {
	cache, err := os.MkdirTemp("", "splitbench-cache-")
	check(err)
	defer os.RemoveAll(cache)
	cmd := exec.Command(goBin, "build", "-a", "-x", "-work", "-gcflags="+pkg+"="+*extra, pkg)
	cmd.Dir = filepath.Join("bench", "corpus")
	cmd.Env = append(os.Environ(), "GOCACHE="+cache, "GOFLAGS=", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		fatalf("%s build %s: %v\n%s", goBin, pkg, err, out)
	}
	var c compileCmd
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	cwd := ""
	for sc.Scan() {
		l := sc.Text()
		if m := workRE.FindStringSubmatch(l); m != nil {
			c.work = m[1]
		}
		if strings.HasPrefix(l, "cd ") {
			cwd = strings.TrimPrefix(l, "cd ")
		}
		if strings.Contains(l, "/compile ") && strings.Contains(l, " -p "+pkg+" ") {
			c.line, c.dir = l, cwd
		}
	}
	if c.line == "" || c.work == "" {
		fatalf("no compile command for %s in %s build -x", pkg, goBin)
	}
	return c
}

// run runs the captured compile with extra flags and returns its wall
// and CPU time.
func (c compileCmd) run(p pin, flags ...string) (time.Duration, time.Duration, string) {
	line := strings.Replace(c.line, " -o ", " "+strings.Join(flags, " ")+" -o ", 1)
	line = strings.ReplaceAll(line, "$WORK/b001/_pkg_.a", "$WORK/splitbench.a")
	cmd := exec.Command("taskset", "-c", p.cpus, "bash", "-c", line)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "WORK="+c.work, "DISTSSA_WORKER_CPUS="+p.workerCPUs)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		fatalf("%s: %v\n%s", line, err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return wall, cpu, out.String()
}

func measure(c compileCmd, p pin, flags ...string) (time.Duration, time.Duration) {
	var walls, cpus []time.Duration
	c.run(p, flags...) // warm the page cache
	for i := 0; i < *runs; i++ {
		w, u, _ := c.run(p, flags...)
		walls, cpus = append(walls, w), append(cpus, u)
	}
	return median(walls), median(cpus)
}

var (
	statsRE  = regexp.MustCompile(`, ([\d.]+)% of estimated cost \(\d+/\d+\), (\d+) result bytes;`)
	decodeRE = regexp.MustCompile(`: phases: .*, decode (\S+), replay (\S+),`)
)

func stats(c compileCmd, split string) map[string]string {
	_, _, out := c.run(splitPin, "-c=1", split, "-d=distssastats=1")
	st := map[string]string{"share": "-", "bytes": "-", "decode": "-", "replay": "-"}
	if m := statsRE.FindStringSubmatch(out); m != nil {
		st["share"], st["bytes"] = m[1]+"%", m[2]
	}
	if m := decodeRE.FindStringSubmatch(out); m != nil {
		st["decode"], st["replay"] = m[1], m[2]
	}
	return st
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func round(d time.Duration) string { return d.Round(time.Millisecond).String() }

func output(env []string, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "splitbench: "+format+"\n", args...)
	os.Exit(1)
}
