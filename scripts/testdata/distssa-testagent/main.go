// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// distssa-testagent is a stand-in for remote/cmd/distssa-agent in
// scripts/test-gocmd.sh only, while the real agent is not on the branch.
// It is never installed into a toolchain: the script builds it into a
// throwaway copy of one. It keeps the go command ↔ agent contract of
// remote/PROTOCOL.md §2 (flags, "ready", stdin EOF) and speaks §1 with
// the compiles: with $DISTSSA_TESTAGENT_GRANT=N it grants N workers and
// runs them as the compiler's exec transport does (the compile's own
// binary in worker mode, on this machine); by default it grants none.
//
// The hosts file is only checked to exist: parsing it is the real
// agent's business.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	hosts   = flag.String("hosts", "", "hosts file")
	socket  = flag.String("socket", "", "unix socket to listen on")
	verbose = flag.Bool("v", false, "print a summary at exit")
)

var compiles, remoteFuncs, localFuncs atomic.Int64

func main() {
	flag.Parse()
	log := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "distssa-testagent: "+format+"\n", a...) }
	if _, err := os.Stat(*hosts); err != nil {
		log("%v", err)
		os.Exit(2)
	}
	grant, _ := strconv.Atoi(os.Getenv("DISTSSA_TESTAGENT_GRANT"))
	ln, err := net.Listen("unix", *socket)
	if err != nil {
		log("%v", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			compiles.Add(1)
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Minute))
				if err := serve(c, grant); err != nil {
					log("%v", err)
				}
			}()
		}
	}()
	io.Copy(io.Discard, os.Stdin) // until the go command is done
	ln.Close()
	os.Remove(*socket)
	if *verbose {
		log("%d compiles, %d functions remote, %d local", compiles.Load(), remoteFuncs.Load(), localFuncs.Load())
	}
}

func readMsg(r *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > 512<<20 {
		return nil, errors.New("frame too large")
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

type fields struct {
	b   []byte
	err error
}

func (f *fields) uint() uint64 {
	v, n := binary.Uvarint(f.b)
	if n <= 0 {
		f.err = errors.New("bad message")
		return 0
	}
	f.b = f.b[n:]
	return v
}

func (f *fields) bytes() []byte {
	n := f.uint()
	if f.err != nil || n > uint64(len(f.b)) {
		f.err = errors.New("bad message")
		return nil
	}
	s := f.b[:n]
	f.b = f.b[n:]
	return s
}

func msg(typ byte, parts ...any) []byte {
	body := []byte{typ}
	for _, p := range parts {
		switch p := p.(type) {
		case uint64:
			body = binary.AppendUvarint(body, p)
		case []byte:
			body = binary.AppendUvarint(body, uint64(len(p)))
			body = append(body, p...)
		}
	}
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

type worker struct {
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
}

func serve(c net.Conn, grant int) error {
	r := bufio.NewReader(c)
	b, err := readMsg(r)
	if err == io.EOF {
		return nil // a compile that ended before it had anything to say
	}
	if err != nil || len(b) == 0 || b[0] != 1 {
		return fmt.Errorf("want HELLO: %v", err)
	}
	f := &fields{b: b[1:]}
	f.uint() // version
	compile, cwd := string(f.bytes()), string(f.bytes())
	var args []string
	for i, n := 0, f.uint(); i < int(n) && f.err == nil; i++ {
		args = append(args, string(f.bytes()))
	}
	if f.err != nil {
		return f.err
	}
	if grant == 0 {
		_, err := c.Write(msg(2, uint64(0), []byte("test agent grants no workers")))
		io.Copy(io.Discard, c)
		return err
	}
	ws := make([]*worker, grant)
	for i := range ws {
		w := &worker{}
		if w.dir, err = os.MkdirTemp("", "testagent"); err != nil {
			return err
		}
		defer os.RemoveAll(w.dir)
		w.cmd = exec.Command(compile, append([]string{"-distssaworker=" + w.dir}, args...)...)
		w.cmd.Dir = cwd
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
		if w.stdin, err = w.cmd.StdinPipe(); err != nil {
			return err
		}
		if err := w.cmd.Start(); err != nil {
			return err
		}
		defer w.cmd.Process.Kill()
		ws[i] = w
	}
	if _, err := c.Write(msg(2, uint64(grant), []byte(nil))); err != nil {
		return err
	}
	jobs := make([][]byte, grant)
	for range ws {
		b, err := readMsg(r)
		if err != nil || len(b) == 0 || b[0] != 3 {
			return nil // the compile went local
		}
		f := &fields{b: b[1:]}
		i, job := f.uint(), f.bytes()
		if f.err != nil || i >= uint64(grant) {
			return fmt.Errorf("bad JOB")
		}
		jobs[i] = job
		ws[i].stdin.Write(job)
		ws[i].stdin.Close()
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, w := range ws {
		i, w := i, w
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.cmd.Wait()
			if len(jobs[i]) == 0 {
				return
			}
			var res []byte
			if err == nil {
				var data []byte
				if data, err = os.ReadFile(filepath.Join(w.dir, "result")); err == nil {
					res = msg(4, uint64(i), uint64(0), data)
				}
			}
			if err != nil {
				res = msg(4, uint64(i), uint64(1), []byte("localhost: "+err.Error()+": "+lastLine(w.out.String())))
			}
			mu.Lock()
			c.Write(res)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b, err = readMsg(r)
	if err != nil || len(b) == 0 || b[0] != 5 {
		return fmt.Errorf("want STATS: %v", err)
	}
	f = &fields{b: b[1:]}
	f.bytes()
	funcs, remote := f.uint(), f.uint()
	remoteFuncs.Add(int64(remote))
	localFuncs.Add(int64(funcs - remote))
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
