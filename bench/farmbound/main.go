// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Farmbound computes, for bench/farm.sh, the bound of a build's
// speedup with more remote slots: the critical path of the package
// graph plus the link, and the total work spread over every slot.
//
//	farmbound -trace TRACE -recorded LOG -deps DEPS -main PKG -stock2 SECONDS -local N SLOTS...
//
// TRACE is the go command's -debug-trace of a cold build with -p=1 (one
// action at a time, so each action's span is its own time); LOG is the
// recording worker's log, whose compile times replace the trace's build
// actions of the same packages (they are the times the replays wait);
// DEPS has a
// line per package, its import path then its imports (go list -deps -f
// '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}'); PKG is the main
// package, whose link ends the build; SECONDS is the wall time of stock
// on the local CPUs, against which speedups are given; N is the local
// CPUs. For each slot count it prints
//
//	slots bound critical
//
// bound being SECONDS / max(critical path, work / (slots + N)) and
// critical SECONDS / critical path; then, on standard error, the
// critical path, the work and the packages on the path.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("farmbound: ")
	tracef := flag.String("trace", "", "the go command's -debug-trace of a -p=1 build")
	recf := flag.String("recorded", "", "the recording worker's log (logfmt): its compile times replace the trace's")
	depsf := flag.String("deps", "", "package graph: a line per package, its path then its imports")
	mainPkg := flag.String("main", "", "the main package (its link ends the build)")
	stock2 := flag.Float64("stock2", 0, "wall seconds of stock on the local CPUs")
	local := flag.Int("local", 2, "local CPUs")
	flag.Parse()
	if *tracef == "" || *depsf == "" || *mainPkg == "" || *stock2 <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	spans, err := readSpans(*tracef)
	if err != nil {
		log.Fatalf("%s: %v", *tracef, err)
	}
	deps, err := readDeps(*depsf)
	if err != nil {
		log.Fatalf("%s: %v", *depsf, err)
	}
	if *recf != "" {
		n, err := readRecorded(*recf, *mainPkg, spans)
		if err != nil {
			log.Fatalf("%s: %v", *recf, err)
		}
		fmt.Fprintf(os.Stderr, "%d compile times from the recording\n", n)
	}
	link, ok := spans["link "+*mainPkg]
	if !ok {
		log.Fatalf("%s: no link action of %s", *tracef, *mainPkg)
	}
	var work float64
	for _, d := range spans {
		work += d
	}
	// longest[p]: the heaviest chain of builds that ends with p's.
	longest := map[string]float64{}
	next := map[string]string{}
	var walk func(p string, depth int) float64
	walk = func(p string, depth int) float64 {
		if v, ok := longest[p]; ok {
			return v
		}
		if depth > 10000 {
			log.Fatalf("%s: import cycle through %s", *depsf, p)
		}
		var best float64
		for _, imp := range deps[p] {
			if v := walk(imp, depth+1); v > best {
				best, next[p] = v, imp
			}
		}
		longest[p] = best + spans["build "+p]
		return longest[p]
	}
	if _, ok := deps[*mainPkg]; !ok {
		log.Fatalf("%s: %s is not listed", *depsf, *mainPkg)
	}
	critical := walk(*mainPkg, 0) + link
	fmt.Fprintf(os.Stderr, "critical path %.2fs (link %.2fs), work %.2fs over %d actions; path:", critical, link, work, len(spans))
	for p := *mainPkg; p != ""; p = next[p] {
		fmt.Fprintf(os.Stderr, " %s (%.2fs)", p, spans["build "+p])
	}
	fmt.Fprintln(os.Stderr)
	for _, a := range flag.Args() {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			log.Fatalf("bad slot count %q", a)
		}
		bound := critical
		if w := work / float64(n+*local); w > bound {
			bound = w
		}
		fmt.Printf("%d %.3f %.3f\n", n, *stock2/bound, *stock2/critical)
	}
}

// readSpans returns the seconds of each action of a go command trace,
// by "MODE PACKAGE" ("build net/http", "link example.com/cmd/x"). The
// trace is a JSON array of Chrome trace events, perhaps without its
// closing bracket; an action is a B event named "Executing action (MODE
// PACKAGE)" and the E event of the same name and thread.
func readSpans(name string) (map[string]float64, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, fmt.Errorf("not a JSON array of trace events")
	}
	type key struct {
		name string
		tid  uint64
	}
	begun := map[key][]float64{}
	spans := map[string]float64{}
	for dec.More() {
		var ev struct {
			Name  string  `json:"name"`
			Phase string  `json:"ph"`
			Time  float64 `json:"ts"`
			TID   uint64  `json:"tid"`
		}
		if err := dec.Decode(&ev); err != nil {
			if err == io.ErrUnexpectedEOF {
				break
			}
			return nil, err
		}
		action, ok := strings.CutPrefix(ev.Name, "Executing action (")
		if !ok {
			continue
		}
		action = strings.TrimSuffix(action, ")")
		k := key{ev.Name, ev.TID}
		switch ev.Phase {
		case "B":
			begun[k] = append(begun[k], ev.Time)
		case "E":
			s := begun[k]
			if len(s) == 0 {
				return nil, fmt.Errorf("end of %q without a beginning", ev.Name)
			}
			spans[action] += (ev.Time - s[len(s)-1]) / 1e6
			begun[k] = s[:len(s)-1]
		}
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("no actions")
	}
	return spans, nil
}

// readDeps reads the package graph.
func readDeps(name string) (map[string][]string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if _, dup := deps[f[0]]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", i+1, f[0])
		}
		deps[f[0]] = f[1:]
	}
	return deps, nil
}

// readRecorded replaces the build actions' seconds in spans by the
// compile times of a worker's log (lines "msg=job ... pkg=P ... run=D"
// of whole compiles not answered from its cache); the main package's
// compile says pkg=main. It returns how many it replaced.
func readRecorded(name, mainPkg string, spans map[string]float64) (int, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, " msg=job ") || !strings.Contains(line, " kind=whole ") || !strings.Contains(line, " cached=false ") {
			continue
		}
		var pkg, run string
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "pkg="); ok {
				pkg = v
			} else if v, ok := strings.CutPrefix(f, "run="); ok {
				run = v
			}
		}
		d, err := time.ParseDuration(run)
		if pkg == "" || err != nil {
			return n, fmt.Errorf("bad job line %q", line)
		}
		if pkg == "main" {
			pkg = mainPkg
		}
		spans["build "+pkg] = d.Seconds()
		n++
	}
	return n, nil
}
