// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// delayrelay is a TCP relay that adds a fixed one-way delay to each
// direction of every connection. bench/remotebench.sh puts it in front of
// the worker when the kernel has no sch_netem (tc netem delay): the link's
// rate is then shaped by tc tbf and its latency by this relay.
//
// Bytes read from one side are written to the other no earlier than
// -delay after they were read, in order; reading goes on meanwhile, so
// the delay is a latency and not a limit on throughput (unlike sleeping
// before each write). Unlike netem it delays what a read returns rather
// than each packet: a write larger than the socket buffers arrives over
// several reads, each delayed by the same amount, as packets would be.
//
// Usage: delayrelay -listen ADDR -to ADDR [-delay 200us]
package main

import (
	"flag"
	"log"
	"net"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to listen on")
	to := flag.String("to", "", "address to relay to")
	delay := flag.Duration("delay", 200*time.Microsecond, "one-way delay added in each direction")
	flag.Parse()
	if *listen == "" || *to == "" || flag.NArg() > 0 || *delay < 0 {
		flag.Usage()
		log.Fatal("delayrelay: need -listen and -to, and a delay ≥ 0")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("delayrelay: %v", err)
	}
	log.Printf("delayrelay: %s → %s, %v each way", ln.Addr(), *to, *delay)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("delayrelay: %v", err)
		}
		go func() {
			s, err := net.Dial("tcp", *to)
			if err != nil {
				log.Printf("delayrelay: %v", err)
				c.Close()
				return
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				pipe(s, c, *delay)
			}()
			pipe(c, s, *delay)
			wg.Wait()
			c.Close()
			s.Close()
		}()
	}
}

type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, each read's bytes delayed by d, and closes the
// writing half of dst when src ends (both sockets, if a write fails).
func pipe(dst, src net.Conn, d time.Duration) {
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{buf[:n], time.Now().Add(d)}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range ch {
		if failed {
			continue // drain, so the reader ends
		}
		if w := time.Until(c.due); w > 0 {
			time.Sleep(w)
		}
		if _, err := dst.Write(c.data); err != nil {
			failed = true
			src.Close()
		}
	}
	if failed {
		dst.Close()
	} else if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
