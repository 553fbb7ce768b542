// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Distssa-faultproxy is a TCP relay that injects faults into the
// connections between agents and a worker, for scripts/faults.sh.
//
// Each connection gets at most one fault, with probability -rate, at a
// byte offset drawn log-uniformly between 16 bytes and -span, so that
// handshakes, uploads and results are all hit:
//
//	cut    close both sides when the offset is reached
//	trunc  forward up to the offset, then end the stream (half close)
//	stall  forward up to the offset, then nothing, for -stall, then cut
//	flip   flip one bit of the byte at the offset
//
// A fault hits the worker's answers (worker → agent) or, for flip, cut
// and stall, the agent's requests with equal odds. Every fault that
// fires is logged as one line on stderr:
//
//	fault KIND DIR conn=N at=OFFSET
//
// and the first line on stdout is "listening ADDR".
//
// Usage: distssa-faultproxy -to ADDR [-listen 127.0.0.1:0] [-rate 0.3]
//
//	[-kinds cut,trunc,stall,flip] [-span 4MiB] [-stall 30s] [-seed N]
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type fault struct {
	kind string // "" for none
	up   bool   // agent → worker
	at   int64  // byte offset in that direction
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	to := flag.String("to", "", "the worker's address")
	rate := flag.Float64("rate", 0.3, "probability that a connection gets a fault")
	kinds := flag.String("kinds", "cut,trunc,stall,flip", "faults to choose from")
	span := flag.Int64("span", 4<<20, "largest byte offset of a fault")
	stall := flag.Duration("stall", 30*time.Second, "how long a stalled connection stays open before it is cut")
	seed := flag.Int64("seed", 1, "random seed")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("distssa-faultproxy: ")
	var ks []string
	for _, k := range strings.Split(*kinds, ",") {
		switch k {
		case "cut", "trunc", "stall", "flip":
			ks = append(ks, k)
		default:
			log.Fatalf("-kinds: unknown fault %q (cut, trunc, stall, flip)", k)
		}
	}
	if *to == "" || flag.NArg() > 0 || *rate < 0 || *rate > 1 || *span < 16 {
		flag.Usage()
		log.Fatal("need -to, a -rate in [0,1] and a -span of at least 16")
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("-listen %s: a loopback address only", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	os.Stdout.Sync()

	var mu sync.Mutex
	rng := rand.New(rand.NewSource(*seed))
	choose := func() fault {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= *rate {
			return fault{}
		}
		f := fault{kind: ks[rng.Intn(len(ks))]}
		f.up = f.kind != "trunc" && rng.Intn(2) == 0
		f.at = int64(math.Exp(math.Log(16) + rng.Float64()*(math.Log(float64(*span))-math.Log(16))))
		return f
	}
	var seq atomic.Int64
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		id := seq.Add(1)
		go relay(id, c, *to, choose(), *stall)
	}
}

// relay connects c to the worker and pumps both ways, injecting f.
func relay(id int64, c net.Conn, to string, f fault, stall time.Duration) {
	defer c.Close()
	s, err := net.DialTimeout("tcp", to, 3*time.Second)
	if err != nil {
		return // the worker is down: the agent sees a closed connection
	}
	defer s.Close()
	var once sync.Once
	closeBoth := func() { once.Do(func() { c.Close(); s.Close() }) }
	fired := func(dir string) {
		fmt.Fprintf(os.Stderr, "fault %s %s conn=%d at=%d\n", f.kind, dir, id, f.at)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pump(s, c, pick(f, true), "up", fired, closeBoth, stall) }()
	go func() { defer wg.Done(); pump(c, s, pick(f, false), "down", fired, closeBoth, stall) }()
	wg.Wait()
}

// pick returns f for the direction it hits, and no fault for the other.
func pick(f fault, up bool) fault {
	if f.kind == "" || f.up != up {
		return fault{}
	}
	return f
}

// pump copies src to dst, applying f at its offset.
func pump(dst, src net.Conn, f fault, dir string, fired func(string), closeBoth func(), stall time.Duration) {
	var off int64
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		b := buf[:n]
		if f.kind != "" && off <= f.at && f.at < off+int64(n) {
			i := f.at - off
			fired(dir)
			switch f.kind {
			case "flip":
				b[i] ^= 1 << (f.at % 8)
			case "cut":
				dst.Write(b[:i])
				closeBoth()
				return
			case "trunc":
				dst.Write(b[:i])
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				io.Copy(io.Discard, src)
				return
			case "stall":
				dst.Write(b[:i])
				time.Sleep(stall)
				closeBoth()
				return
			}
		}
		off += int64(n)
		if len(b) > 0 {
			if _, werr := dst.Write(b); werr != nil {
				closeBoth()
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && err == io.EOF {
				tc.CloseWrite()
			} else {
				closeBoth()
			}
			return
		}
	}
}
