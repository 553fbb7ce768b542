// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// The scheduler: one per build. It owns the local CPU tokens (the go
// command's -p) and every host's slots, and places each compile when a
// resource is free:
//
//   - local: a small compile (estimated below what Config.MinCost bytes
//     of source cost), when a local token is free and nothing else
//     waits, runs here: its round trips would cost more than it does;
//   - split: a compile on the build's critical path (estimate.go), or a
//     large one (estimated at least what Config.SplitCost bytes cost)
//     when two slots are idle, splits over the idle slots when a local
//     token is free, nothing else waits, and the split is predicted to
//     end first by a margin (policy.go: the model of a split's latency,
//     and the front-end share learned from the package's earlier
//     splits);
//   - local: a compile on the critical path, when a local token is
//     free, runs here, unless the paces of this build predict that a
//     worker ends it first (the local cores, busy with the client's own
//     work, may be the slower);
//   - whole: otherwise a free worker slot runs the whole compile;
//   - local: otherwise a free local token runs it here.
//
// A compile's cost is an estimate in time: its package's history from
// earlier builds, else its source size at a calibrated rate (estimate.go).
// The predictions scale it by the build's paces, measured as it runs:
// the wall time of the compiles placed here and of the whole compiles on
// workers, each over its estimate. A rule that errs in scale (a cold
// build's estimates from source size) errs alike for every placement,
// and the paces correct it. Each placement carries its rule and the
// latencies it compared, to the trace and the summary.
//
// A compile that finds nothing free waits; so does a local process of
// the go command (link, asm, cgo, vet, a test binary), which needs a
// local token. The go command runs up to tokens + slots actions at once,
// and the scheduler keeps the local ones within the tokens. Waiters are
// served local processes first, then compiles by their priority in the
// build graph (the longest chain of estimated work from their start to
// the build's end), or by their cost outside the graph.

import (
	"context"
	"sort"
	"time"

	"distssa/remote/internal/localproto"
)

// request is what a compile, or a local process, asks for.
type request struct {
	hold     bool          // a local process: a local token, nothing else
	whole    bool          // may run as a whole on a worker
	split    int           // workers a split could use (0: no split)
	cost     time.Duration // estimated cost (estimate.go)
	historic bool          // cost came from the history
	inGraph  bool          // the compile is in the build graph
	prio     time.Duration // its longest path to the build's end (estimate.go); 0 if not in the graph
	critical bool          // it is on the build's critical path
	front    float64       // the front end's share of a split, learned from its earlier splits (0: unknown)
	target   string
	reason   string // why it may not go remote at all, for the summary
}

// rank orders waiting compiles: their priority in the build graph, or
// their own cost for a compile outside it.
func (r *request) rank() time.Duration { return max(r.prio, r.cost) }

// reasonCritical is the reason of a compile kept here for the critical
// path.
const reasonCritical = "critical path"

// reasonNoWhole is the reason of a compile that could only run whole,
// kept here because no usable host runs whole compiles (its worker
// lacks the capability).
const reasonNoWhole = "no host has the capability whole"

// task is a kind of work a host may take.
type task int

const (
	anyTask   task = iota
	splitTask      // a split's share (not on a host with split=false)
	wholeTask      // a whole compile (not on a worker without the capability whole)
)

// takes tells whether h takes tasks of the kind. Agent.mu is held.
func (h *host) takes(kind task) bool {
	switch kind {
	case splitTask:
		return !h.NoSplit
	case wholeTask:
		return h.noWhole == ""
	}
	return true
}

// placement is the scheduler's answer.
type placement struct {
	kind   uint64  // localproto.KindLocal or KindWhole
	hosts  []*host // the whole compile's slot, or the split's
	reason string  // for a local compile without workers: why
	why    string  // the rule that chose it (decision.why)
}

// waiter is a request that found nothing free.
type waiter struct {
	req  request
	done chan placement // receives the placement
}

// occupancy integrates busy tokens and slots over time.
type occupancy struct {
	last              time.Time
	localNs, remoteNs float64 // token·ns, slot·ns
	waitNs            time.Duration
	waits             int
}

// place blocks until the request is placed or ctx ends.
func (a *Agent) place(ctx context.Context, req request) (placement, error) {
	t0 := time.Now()
	a.mu.Lock()
	if len(a.waiters) == 0 {
		if p, ok := a.tryPlace(req, t0); ok {
			a.mu.Unlock()
			return p, nil
		}
	}
	w := &waiter{req: req, done: make(chan placement, 1)}
	a.waiters = append(a.waiters, w)
	a.wakeLocked(t0)
	a.mu.Unlock()

	// A host that stops backing off frees slots without a release:
	// look again now and then.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case p := <-w.done:
			a.mu.Lock()
			a.occ.waitNs += time.Since(t0)
			a.occ.waits++
			a.mu.Unlock()
			return p, nil
		case <-tick.C:
			a.wake()
		case <-ctx.Done():
			a.mu.Lock()
			for i, x := range a.waiters {
				if x == w {
					a.waiters = append(a.waiters[:i], a.waiters[i+1:]...)
					break
				}
			}
			a.mu.Unlock()
			select {
			case p := <-w.done: // placed meanwhile: give it back
				a.unplace(p)
			default:
			}
			return placement{}, ctx.Err()
		}
	}
}

// placeNow places req if it can at once, and no one waits before it:
// what place does without waiting.
func (a *Agent) placeNow(req request) (placement, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.waiters) > 0 {
		return placement{}, false
	}
	return a.tryPlace(req, time.Now())
}

// tryPlace places req if it can, as the policy chooses. Agent.mu is
// held.
func (a *Agent) tryPlace(req request, now time.Time) (placement, bool) {
	v := a.viewLocked(&req, now)
	d := a.pol.choose(&req, &v)
	takeLocal := func(p placement) (placement, bool) {
		a.account(now)
		a.localFree--
		return p, true
	}
	switch d.choice {
	case chooseLocal:
		return takeLocal(placement{kind: localproto.KindLocal, reason: d.reason, why: d.why})
	case chooseSplit:
		hs := a.acquireLocked(req.split, req.target, now, splitTask)
		return takeLocal(placement{kind: localproto.KindLocal, hosts: hs, why: d.why})
	case chooseWhole:
		return placement{kind: localproto.KindWhole, hosts: a.acquireLocked(1, req.target, now, wholeTask), why: d.why}, true
	}
	return placement{}, false
}

// viewLocked is what the policy sees of the resources for req at now.
// Agent.mu is held.
func (a *Agent) viewLocked(req *request, now time.Time) view {
	v := view{local: a.localFree > 0, waiters: len(a.waiters), hosts: len(a.hosts)}
	if req.hold {
		return v
	}
	v.remote = a.freest(nil, req.target, now, anyTask) != nil
	v.remoteWhole = a.freest(nil, req.target, now, wholeTask) != nil
	v.usable = a.usableLocked(req.target, now, anyTask)
	v.usableWhole = a.usableLocked(req.target, now, wholeTask)
	v.freeSplit = a.freeSlotsLocked(req.target, now)
	v.minCost, v.splitCost = a.costs.bytesCost(a.pol.MinCost), a.costs.bytesCost(a.pol.SplitCost)
	v.herePace, v.wholePace = a.herePace.value(), a.wholePace.value()
	for _, h := range a.hosts {
		switch {
		case h.refused[req.target] != "":
			v.refused++
		case h.downUntil.After(now):
			v.backing++
		}
	}
	return v
}

// wake places waiters, in order, as resources allow.
func (a *Agent) wake() {
	a.mu.Lock()
	a.wakeLocked(time.Now())
	a.mu.Unlock()
}

// The waiters go in the policy's order (waitsBefore).
func (a *Agent) wakeLocked(now time.Time) {
	sort.SliceStable(a.waiters, func(i, j int) bool {
		return waitsBefore(&a.waiters[i].req, &a.waiters[j].req)
	})
	for i := 0; i < len(a.waiters); {
		w := a.waiters[i]
		if p, ok := a.tryPlace(w.req, now); ok {
			a.waiters = append(a.waiters[:i], a.waiters[i+1:]...)
			w.done <- p
			continue
		}
		i++
	}
}

// freeSlotsLocked counts the free slots that a split of target can use.
func (a *Agent) freeSlotsLocked(target string, now time.Time) int {
	n := 0
	for _, h := range a.hosts {
		if !h.NoSplit && !h.downUntil.After(now) && h.refused[target] == "" {
			n += h.free
		}
	}
	return n
}

// unplace gives back what a placement took.
func (a *Agent) unplace(p placement) {
	for _, h := range p.hosts {
		a.release(h)
	}
	if p.kind == localproto.KindLocal {
		a.releaseLocal()
	}
}

// releaseLocal returns a local token.
func (a *Agent) releaseLocal() {
	a.mu.Lock()
	now := time.Now()
	a.account(now)
	a.localFree++
	a.wakeLocked(now)
	a.mu.Unlock()
}

// release returns a host's slot.
func (a *Agent) release(h *host) {
	a.mu.Lock()
	now := time.Now()
	a.account(now)
	h.free++
	a.wakeLocked(now)
	a.mu.Unlock()
}

// account integrates occupancy up to now. Agent.mu is held.
func (a *Agent) account(now time.Time) {
	if !a.occ.last.IsZero() {
		dt := float64(now.Sub(a.occ.last))
		a.occ.localNs += dt * float64(a.cfg.LocalTokens-a.localFree)
		busy := 0
		for _, h := range a.hosts {
			busy += h.Slots - h.free
		}
		a.occ.remoteNs += dt * float64(busy)
	}
	a.occ.last = now
}

// usableLocked tells whether some host with slots that takes tasks of
// the kind is neither backing off nor refused target.
func (a *Agent) usableLocked(target string, now time.Time, kind task) bool {
	for _, h := range a.hosts {
		if h.Slots > 0 && h.takes(kind) && h.refused[target] == "" && !h.downUntil.After(now) {
			return true
		}
	}
	return false
}

// acquireLocked reserves up to n slots for target, spreading them over
// usable hosts that take tasks of the kind, most free slots first.
// Agent.mu is held.
func (a *Agent) acquireLocked(n int, target string, now time.Time, kind task) []*host {
	a.account(now)
	var got []*host
	for len(got) < n {
		best := a.freest(nil, target, now, kind)
		if best == nil {
			break
		}
		best.free--
		got = append(got, best)
	}
	a.rr++
	return got
}

// freest returns the usable host other than not that takes tasks of the
// kind with the most free slots, nil if none; ties go round-robin.
// Agent.mu is held.
func (a *Agent) freest(not *host, target string, now time.Time, kind task) *host {
	var best *host
	for i := range a.hosts {
		h := a.hosts[(a.rr+i)%len(a.hosts)]
		if h != not && h.takes(kind) && h.free > 0 && !h.downUntil.After(now) && h.refused[target] == "" &&
			(best == nil || h.free > best.free) {
			best = h
		}
	}
	return best
}

// acquireOther reserves a slot on a host other than not, for a hedge of
// a split job.
func (a *Agent) acquireOther(not *host, target string) *host {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	best := a.freest(not, target, now, splitTask)
	if best != nil {
		a.account(now)
		best.free--
	}
	return best
}

// FreeSlots returns the free slots of all hosts (for tests and -v).
func (a *Agent) FreeSlots() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, h := range a.hosts {
		n += h.free
	}
	return n
}

// FreeTokens returns the free local tokens (for tests).
func (a *Agent) FreeTokens() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.localFree
}
