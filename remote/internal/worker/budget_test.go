// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/gozstd"

	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
)

// zeroBomb returns a zstd frame of n zero bytes, without the content
// size in its header, compressed as it is streamed: a few KiB of frame
// for a GiB.
func zeroBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gozstd.NewWriter(&buf)
	defer w.Release()
	chunk := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		if _, err := w.Write(chunk[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// heapPeak samples the Go heap in use until stop is called, which
// returns the highest sample above the heap at the start. Meanwhile the
// GC runs early (GOGC=10), so that the heap follows what is live rather
// than what the GC has yet to collect.
func heapPeak() (stop func() uint64) {
	gogc := debug.SetGCPercent(10)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		debug.SetGCPercent(gogc)
		return peak - base
	}
}

// budgetServer starts a worker with a memory budget of 64 MiB.
func budgetServer(t *testing.T) (*Server, string) {
	exe, _ := os.Executable() // any file: only its hash is taken
	return startServerOptions(t, Options{Slots: 2, CacheDir: t.TempDir(), CacheMax: 256 << 20, Compile: exe, Name: "test",
		JobTimeout: time.Minute, MemBudget: 64 << 20, MemWait: 20 * time.Second})
}

// wantServing checks that the worker serves a new connection: an upload
// and a query that finds it.
func wantServing(t *testing.T, s *Server, addr string) {
	t.Helper()
	c, m := dial(t, addr, nil, s.Toolchain())
	if _, ok := m.(*wire.Welcome); !ok {
		t.Fatalf("handshake after the attack: %#v", m)
	}
	data := []byte("package p\n")
	h := wire.Hash(data)
	c.send(&wire.Upload{Blobs: []wire.Blob{{Hash: h, Size: uint64(len(data)), Data: wire.Compress(data)}}})
	c.send(&wire.Query{Hashes: [][]byte{h}})
	if miss, ok := c.recv().(*wire.Missing); !ok || len(miss.Hashes) != 0 {
		t.Fatalf("after the attack, an upload and a query: %#v", miss)
	}
}

// TestMemBudgetBomb, the attack on memory as it was reproduced first: one
// frame of 32 KiB, a zstd frame of zeros announced as 1 GiB, took the
// worker to 2.36 GB. Under a budget of 64 MiB the upload is refused
// (the next Start says why), as is a frame whose length alone passes
// the budget; the worker never holds more than its budget, its heap
// stays near it, and it serves requests after.
func TestMemBudgetBomb(t *testing.T) {
	s, addr := budgetServer(t)
	bomb := zeroBomb(t, 1<<30)
	t.Logf("bomb: %d bytes of zstd announcing 1 GiB", len(bomb))
	stop := heapPeak()

	c, _ := dial(t, addr, nil, s.Toolchain())
	h := make([]byte, 32)
	c.send(&wire.Upload{Blobs: []wire.Blob{{Hash: h, Size: 1 << 30, Data: bomb}}})
	c.send(&wire.Start{Cwd: "/"})
	if m, ok := c.recv().(*wire.Error); !ok || !strings.Contains(m.Msg, "-mem-budget") {
		t.Errorf("a Start after the bomb: %#v, want an Error naming -mem-budget", m)
	} else {
		t.Logf("a Start after the bomb: %s", m.Msg)
	}
	// The connection stays usable.
	c.send(&wire.Query{Hashes: [][]byte{h}})
	if miss, ok := c.recv().(*wire.Missing); !ok || len(miss.Hashes) != 1 {
		t.Errorf("a Query after the bomb: %#v", miss)
	}

	grown := stop()
	used, peak := s.mem.stats()
	t.Logf("budget: peak %d, in use %d; heap grew by %d", peak, used, grown)
	if peak > uint64(s.cfg.MemBudget) {
		t.Errorf("the budget's high-water mark %d passes the budget %d", peak, s.cfg.MemBudget)
	}
	if limit := uint64(3 * s.cfg.MemBudget); grown > limit {
		t.Errorf("the heap grew by %d bytes, more than %d (3 times the budget)", grown, limit)
	}

	// A frame whose length alone passes the budget is refused unread,
	// and its connection closed.
	c2, _ := dial(t, addr, nil, s.Toolchain())
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:], 100<<20)
	hdr[4] = wire.TUpload
	c2.nc.SetDeadline(time.Now().Add(10 * time.Second))
	c2.nc.Write(hdr[:])
	if m, ok := c2.recv().(*wire.Error); !ok || !strings.Contains(m.Msg, "frame of 104857600 bytes") || !strings.Contains(m.Msg, "-mem-budget") {
		t.Errorf("a frame of 100 MiB: %#v, want an Error naming the frame and -mem-budget", m)
	} else {
		t.Logf("a frame of 100 MiB: %s", m.Msg)
	}
	if _, _, err := wire.Read(c2.nc); err == nil {
		t.Error("the connection of a refused frame stays open")
	}

	wantServing(t, s, addr)
	// The last request gives its bytes back after its answer.
	waitFor(t, "the budget to be given back", func() bool { used, _ := s.mem.stats(); return used == 0 })
}

// waitFor waits until cond holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// TestMemBudgetConns, the attack on memory as reproduced second: 8
// connections, each uploading a payload of 256 MiB announced by a small
// frame, took the worker to 3.67 GB, growing linearly with the
// connections. Here 8 connections each upload a blob of 56 MiB of
// zeros at once to a worker with a budget of 64 MiB: each upload waits
// for the budget, all are stored, the budget's high-water mark stays
// within it and the heap near it.
func TestMemBudgetConns(t *testing.T) {
	s, addr := budgetServer(t)
	const n, size = 8, 56 << 20
	bomb := zeroBomb(t, size)
	hash := wire.Hash(make([]byte, size))
	var clients []*client
	for i := 0; i < n; i++ {
		c, _ := dial(t, addr, nil, s.Toolchain())
		clients = append(clients, c)
	}
	stop := heapPeak()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			wire.Write(c.nc, &wire.Upload{Blobs: []wire.Blob{{Hash: hash, Size: size, Data: bomb}}})
		}(c)
	}
	wg.Wait()
	for i, c := range clients {
		c.send(&wire.Start{Cwd: "/"}) // answers after the upload: its error, or the job's refusal
		m, ok := c.recv().(*wire.Error)
		if !ok || strings.Contains(m.Msg, "upload") {
			t.Errorf("connection %d: a Start after the upload: %#v, want the job refused for itself", i, m)
		}
	}
	grown := stop()
	used, peak := s.mem.stats()
	t.Logf("budget: peak %d, in use %d; heap grew by %d", peak, used, grown)
	if peak > uint64(s.cfg.MemBudget) || peak < size {
		t.Errorf("the budget's high-water mark %d: want at least a payload (%d) and at most the budget %d", peak, size, s.cfg.MemBudget)
	}
	if limit := uint64(3 * s.cfg.MemBudget); grown > limit {
		t.Errorf("the heap grew by %d bytes for %d uploads of %d, more than %d (3 times the budget)", grown, n, size, limit)
	}
	wantServing(t, s, addr)
}

// TestMemBudgetWait: past the budget a request waits its turn, is
// granted as bytes come back, or is refused after its wait, naming the
// budget; a request larger than the budget is refused at once.
func TestMemBudgetWait(t *testing.T) {
	b := &memBudget{max: 100}
	ctx := context.Background()
	if err := b.take(ctx, 60, time.Second); err != nil {
		t.Fatal(err)
	}
	got := make(chan error)
	go func() { got <- b.take(ctx, 50, time.Minute) }()
	waitFor(t, "the waiter", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.waiters) == 1
	})
	// A refusal after its wait; meanwhile the first waiter is still first.
	if err := b.take(ctx, 10, 10*time.Millisecond); !errors.Is(err, errMemory) || !strings.Contains(err.Error(), "-mem-budget") {
		t.Errorf("a request behind a waiter: %v, want a refusal after its wait", err)
	}
	b.give(60)
	if err := <-got; err != nil {
		t.Errorf("a waiter, once the bytes came back: %v", err)
	}
	if used, peak := b.stats(); used != 50 || peak != 60 {
		t.Errorf("used %d, peak %d; want 50 and 60", used, peak)
	}
	b.give(50)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.take(ctx, 101, time.Hour); !errors.Is(err, errMemory) || !strings.Contains(err.Error(), "needs 101 bytes, more than the worker's budget of 100 bytes") {
		t.Errorf("a request larger than the budget: %v, want a refusal at once", err)
	}
	exe, _ := os.Executable()
	if _, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: exe, MemBudget: 1 << 20}); err == nil ||
		!strings.Contains(err.Error(), "-mem-budget") {
		t.Errorf("a budget of 1 MiB: %v, want an error naming -mem-budget", err)
	}
}

// TestMemBudgetGivenBack: the requests of a split job (its uploads,
// Start and Job) and of a whole compile take from the budget as they
// are read and give everything back once they are done: nothing leaks
// that would shrink the budget job after job.
func TestMemBudgetGivenBack(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	dir := t.TempDir()
	cwd, args, env, fp := testutil.ClientPackage(t, compile, dir)

	c, _ := dial(t, addr, nil, s.Toolchain())
	c.send(c.upload(cwd, append([]string{"-d=distssafingerprint=1"}, args...), env))
	if _, ok := c.recv().(*wire.Started); !ok {
		t.Fatal("no Started")
	}
	job := testutil.Job(fp, "p.Gcd<ABIInternal>")
	c.send(&wire.Job{Size: uint64(len(job)), Data: wire.Compress(job)})
	if r, ok := c.recv().(*wire.Result); !ok || r.Status != 0 {
		t.Fatalf("split job: %#v", r)
	}
	if d := c.whole(c.run(cwd, args, env, dir)); d.Status != 0 || d.Exit != 0 {
		t.Fatalf("whole compile: status %d exit %d %s", d.Status, d.Exit, d.Msg)
	}
	waitFor(t, "the budget to be given back", func() bool { used, _ := s.mem.stats(); return used == 0 })
	if _, peak := s.mem.stats(); peak < uint64(len(job)) {
		t.Errorf("the budget's high-water mark %d is below the job's %d bytes", peak, len(job))
	}
}
