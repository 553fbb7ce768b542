// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

// -phases: where a split's time goes, beside stock's phases.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The phases, as -d=distssastats=1 names them (cmd/compile/internal/distssa/phases.go).
var (
	clientPhases = []string{"start", "front end", "plan", "backend", "wait", "decode", "replay", "assembly", "local compile", "dumpobj"}
	workerPhases = []string{"front end", "job", "backend", "encode", "transfer"}
	stockPhases  = []string{"front end", "compilefuncs", "dumpobj"}
)

var (
	phasesRE = regexp.MustCompile(`(?m)^distssa: \S+: phases: (.*); wall ([\d.]+)ms$`)
	worker1  = regexp.MustCompile(`(?m)^distssa: \S+: worker 1: (.*)$`)
)

// samples are one configuration's measures of a package, in ms, by name.
type samples map[string][]float64

func (s samples) add(name string, v float64) { s[name] = append(s[name], v) }

func (s samples) median(name string) float64 {
	v := append([]float64(nil), s[name]...)
	if len(v) == 0 {
		return -1
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func printPhases(pkgs []string, stockGo, forkGo string) {
	split := fmt.Sprintf("-distssa=exec:%d", *workers)
	tmp, err := os.MkdirTemp("", "splitbench-")
	check(err)
	defer os.RemoveAll(tmp)
	bench := filepath.Join(tmp, "bench.txt")
	type row struct {
		pkg                   string
		stock, client, worker samples
	}
	var rows []row
	for _, pkg := range pkgs {
		r := row{pkg, samples{}, samples{}, samples{}}
		stock := capture(stockGo, pkg)
		fork := capture(forkGo, pkg)
		stock.run(stockPin, "-c=1") // warm the page cache
		fork.run(splitPin, "-c=1", split)
		for i := 0; i < *runs; i++ {
			os.Remove(bench)
			w, _, _ := stock.run(stockPin, "-c=1", "-bench="+bench)
			r.stock.add("wall", ms(w))
			parseBench(bench, pkg, r.stock)
			w, _, out := fork.run(splitPin, "-c=1", split, "-d=distssastats=1")
			r.client.add("wall", ms(w))
			m := phasesRE.FindStringSubmatch(out)
			if m == nil {
				fatalf("%s: no phases in the split compile's output:\n%s", pkg, out)
			}
			parseList(m[1], r.client)
			if m := worker1.FindStringSubmatch(out); m != nil {
				parseList(m[1], r.worker)
			}
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "splitbench: %s done\n", pkg)
	}
	f := func(v float64) string {
		if v < 0 {
			return "–"
		}
		if v < 10 {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	fmt.Printf("splitbench -phases: medians of %d interleaved rounds, ms; stock -c=1 on CPU %s; split -c=1 %s on CPU %s, its workers on CPU %s\n\n",
		*runs, stockPin.cpus, split, splitPin.cpus, splitPin.workerCPUs)
	fmt.Printf("| package | stock | %s | split | split/stock | %s |\n", strings.Join(prefixed("stock ", stockPhases), " | "), strings.Join(clientPhases, " | "))
	fmt.Printf("|---|%s\n", strings.Repeat("---|", 4+len(stockPhases)+len(clientPhases)-1))
	for _, r := range rows {
		line := []string{r.pkg, f(r.stock.median("wall"))}
		for _, p := range stockPhases {
			line = append(line, f(r.stock.median(p)))
		}
		line = append(line, f(r.client.median("wall")), fmt.Sprintf("%.2f", r.client.median("wall")/r.stock.median("wall")))
		for _, p := range clientPhases {
			line = append(line, f(r.client.median(p)))
		}
		fmt.Printf("| %s |\n", strings.Join(line, " | "))
	}
	fmt.Printf("\n| package | %s |\n", strings.Join(prefixed("worker ", workerPhases), " | "))
	fmt.Printf("|---|%s\n", strings.Repeat("---|", len(workerPhases)))
	for _, r := range rows {
		line := []string{r.pkg}
		for _, p := range workerPhases {
			line = append(line, f(r.worker.median(p)))
		}
		fmt.Printf("| %s |\n", strings.Join(line, " | "))
	}
}

func prefixed(prefix string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, prefix+n)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// parseList adds the phases of a -d=distssastats=1 line, "name 1.2ms, …".
func parseList(list string, s samples) {
	for _, f := range strings.Split(list, ", ") {
		i := strings.LastIndexByte(f, ' ')
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[i+1:], "ms"), 64)
		if i < 0 || err != nil {
			fatalf("bad phase %q in %q", f, list)
		}
		s.add(f[:i], v)
	}
}

// parseBench adds the phases of a stock compile's -bench file: the sum of
// its "fe" phases as its front end, "be:compilefuncs" and "be:dumpobj".
func parseBench(name, pkg string, s samples) {
	data, err := os.ReadFile(name)
	check(err)
	prefix := "BenchmarkCompile:" + pkg + ":"
	fe := 0.0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], prefix) || f[3] != "ns/op" {
			continue
		}
		ns, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			fatalf("%s: bad line %q", name, line)
		}
		switch label := strings.TrimPrefix(f[0], prefix); {
		case strings.HasPrefix(label, "fe:") && !strings.HasSuffix(label, "subtotal"):
			fe += ns / 1e6
		case label == "be:compilefuncs":
			s.add("compilefuncs", ns/1e6)
		case label == "be:dumpobj":
			s.add("dumpobj", ns/1e6)
		}
	}
	s.add("front end", fe)
}
