// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

// The worker's memory budget (Options.MemBudget): what peers' requests
// may take at once of the worker's memory while it reads and decodes
// their frames and decompresses their payloads (blobs and jobs). A
// request takes its bytes before they are allocated and gives them back
// once it is done with them (a blob is stored, a job written to its
// compile). Past the budget a request waits, first come first served,
// for at most Options.MemWait, and is refused after; a request that would
// need more than the whole budget is refused at once. However many
// connections ask, the worker's decoding holds at most the budget.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults and bounds of the memory budget.
const (
	defaultMemBudget = 1 << 30
	minMemBudget     = 64 << 20
	// A wait stays below the agent's stall timeout (20 s), so that a
	// worker waiting for memory does not read as one that has stalled.
	defaultMemWait = 10 * time.Second
)

// errMemory marks the errors of the memory budget.
var errMemory = errors.New("memory budget")

// memBudget is a weighted semaphore of bytes whose waiters are served in
// their order, with its high-water mark.
type memBudget struct {
	max uint64

	mu      sync.Mutex
	used    uint64
	peak    uint64
	waiters []*memWaiter
}

type memWaiter struct {
	n     uint64
	ready chan struct{} // closed when the bytes are granted
}

// take takes n bytes, waiting until they are free, for at most wait or
// until ctx ends. More than the budget is refused at once.
func (b *memBudget) take(ctx context.Context, n uint64, wait time.Duration) error {
	if n > b.max {
		return fmt.Errorf("%w: needs %d bytes, more than the worker's budget of %d bytes (-mem-budget)", errMemory, n, b.max)
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.max {
		b.grantLocked(n)
		b.mu.Unlock()
		return nil
	}
	w := &memWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile
		return nil
	default:
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	b.wakeLocked() // those behind it may fit
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %v", errMemory, ctx.Err())
	}
	return fmt.Errorf("%w: %d bytes were not free within %v (%d of the worker's %d bytes in use; -mem-budget)",
		errMemory, n, wait, b.used, b.max)
}

// give gives back n bytes.
func (b *memBudget) give(n uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.wakeLocked()
}

func (b *memBudget) grantLocked(n uint64) {
	b.used += n
	if b.used > b.peak {
		b.peak = b.used
	}
}

// wakeLocked grants the first waiters whose bytes fit.
func (b *memBudget) wakeLocked() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.max {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.grantLocked(w.n)
		close(w.ready)
	}
}

// stats returns the bytes in use and the high-water mark.
func (b *memBudget) stats() (used, peak uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}

// memHold is what one connection holds of the budget: the wire.Budget
// of its reads and payloads.
type memHold struct {
	c    *conn
	held atomic.Uint64 // a job's payload is given back by the goroutine that writes it
}

// Acquire takes n bytes for the connection. A request that would hold
// more than the whole budget, with what it holds already, is refused at
// once: it would wait for itself.
func (h *memHold) Acquire(n uint64) error {
	s := h.c.s
	if held := h.held.Load(); held > 0 && n > s.mem.max-min(held, s.mem.max) {
		return fmt.Errorf("%w: needs %d bytes beside the %d its request holds, more than the worker's budget of %d bytes (-mem-budget)",
			errMemory, n, held, s.mem.max)
	}
	if err := s.mem.take(s.hardCtx, n, s.cfg.MemWait); err != nil {
		return err
	}
	h.held.Add(n)
	return nil
}

// Release gives back n bytes of the connection's.
func (h *memHold) Release(n uint64) {
	h.held.Add(-n)
	h.c.s.mem.give(n)
}
