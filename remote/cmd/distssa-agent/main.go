// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Distssa-agent is the per-build agent of distssa. The go command starts
// it, with -distssa=hosts.txt, as
//
//	distssa-agent -hosts=FILE -socket=PATH [-graph=FILE] [-v]
//
// It parses the hosts file (exit status 2 on error), listens on the unix
// socket, writes "ready" on standard output, and serves the build's
// compiles until its standard input reaches EOF or it gets SIGINT or
// SIGTERM. With DISTSSA_STRICT=1 it exits with status 1 if any remote
// work failed. It keeps a history of compile times in
// $DISTSSA_COSTS, by default os.UserCacheDir()/distssa/costs
// (DISTSSA_COSTS=off: none). See remote/PROTOCOL.md §2 and
// remote/README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"distssa/remote/internal/agent"
	"distssa/remote/internal/hosts"
)

func main() {
	hostsFile := flag.String("hosts", "", "the hosts file")
	socket := flag.String("socket", "", "the unix socket to listen on")
	verbose := flag.Bool("v", false, "print a summary of the build's remote work at exit")
	local := flag.Int("local", 1, "local CPU tokens: compiles and other processes that run on this machine at once (the go command's -p)")
	work := flag.String("work", "", "the go command's $WORK directory (workers' result cache keys read it as $WORK)")
	trace := flag.String("trace", "", "write the build trace (Chrome trace events, one a line) to `file` at exit")
	graph := flag.String("graph", "", "the go command's action graph, `file` (JSON): compiles on its longest paths go first")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: distssa-agent -hosts=FILE -socket=PATH [-graph=FILE] [-v]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *hostsFile == "" || *socket == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *local < 1 {
		fmt.Fprintf(os.Stderr, "distssa-agent: -local=%d: want at least 1\n", *local)
		os.Exit(2)
	}
	force := os.Getenv("DISTSSA_KIND")
	switch force {
	case "", "local", "whole", "split":
	default:
		fmt.Fprintf(os.Stderr, "distssa-agent: DISTSSA_KIND=%q: want local, whole or split\n", force)
		os.Exit(2)
	}
	os.Exit(run(*hostsFile, *socket, *verbose, agent.Config{LocalTokens: *local, Work: *work, Force: force, Trace: *trace,
		Graph: *graph, Costs: agent.DefaultCostsPath()}))
}

func run(hostsFile, socket string, verbose bool, cfg agent.Config) int {
	hs, err := hosts.ParseFile(hostsFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "distssa-agent: %v\n", err)
		return 2
	}
	strict := os.Getenv("DISTSSA_STRICT") == "1"
	cfg.Hosts, cfg.HostsFile, cfg.Strict = hs, hostsFile, strict
	if v := os.Getenv("DISTSSA_VERIFY"); v != "" {
		if cfg.Verify, err = hosts.ParseRate(v); err != nil {
			fmt.Fprintf(os.Stderr, "distssa-agent: DISTSSA_VERIFY: %v\n", err)
			return 2
		}
	}
	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "distssa-agent: %v\n", err)
		return 2
	}
	os.Remove(socket) // a stale socket of a crashed agent
	ln, err := net.Listen("unix", socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "distssa-agent: %v\n", err)
		return 2
	}
	// The go command runs as many actions at once as the policy says
	// (agent.Actions).
	slots := 0
	for _, h := range hs {
		slots += h.Slots
	}
	fmt.Fprintf(os.Stdout, "ready %d\n", agent.Actions(slots, cfg.LocalTokens))

	stop := make(chan string, 2)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop <- "standard input closed"
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { stop <- (<-sig).String() }()
	go a.Serve(ln)
	<-stop
	a.Close()
	os.Remove(socket)
	if verbose {
		a.Summary(os.Stderr)
	}
	// Even without -v: a host that was never usable would otherwise
	// only make the build slower than its user expects.
	if w := a.Unused(); w != "" {
		fmt.Fprintln(os.Stderr, w)
	}
	if f := a.Failures(); strict && len(f) > 0 {
		fmt.Fprintf(os.Stderr, "distssa-agent: strict mode: %d remote failures, first: %s\n", len(f), f[0])
		return 1
	}
	return 0
}
