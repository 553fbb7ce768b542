// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// The placement policy: every decision of the scheduler (sched.go), as
// pure functions of a Policy, a view of the resources and the clock. The
// files that run placements (sched.go, wholecompile.go, remote.go,
// host.go) ask the policy and act on its answer; they decide nothing
// themselves. The policy does no I/O and reads no clock: tests
// drive it with the instants they choose (policy_test.go).
//
// It decides:
//
//   - whether a compile may go whole or split, and the width of a split
//     (eligible);
//   - where a compile goes: here, whole on a worker or split, by its
//     estimated cost against the small and large thresholds, the
//     critical path and what is free (choose; the rule is told in
//     sched.go), and whether a compile lies on the critical path
//     (critical);
//   - the order of the waiters (waitsBefore);
//   - when a whole compile straggles and is raced here, and when a split
//     job's result is late and is hedged on another host (raceDelay,
//     hedges);
//   - how long a failed host backs off, and for a throttle (backoff,
//     throttle), and when a silent worker has stalled (stalled);
//   - what follows a whole compile: its answer, a verification here or a
//     fallback here, each of which holds a local token (afterWhole), and
//     which compiles are verified (verifyRate, sample);
//   - how many actions the go command runs at once (Actions).

import (
	"fmt"
	"time"

	"distssa/remote/internal/localproto"
)

// Defaults.
const (
	DefaultMinCost        = 16 << 10
	DefaultBytesPerWorker = 32 << 10
	DefaultMaxPerCompile  = 8
	DefaultLocalTokens    = 1
	DefaultSplitCost      = 256 << 10
)

// Policy holds the thresholds of placement.
type Policy struct {
	MinCost        int64  // bytes of .go source below which a compile stays local (compared in time: estimate.go)
	SplitCost      int64  // bytes of .go source from which a compile splits when it can
	BytesPerWorker int64  // source bytes that justify one more worker of a split
	MaxPerCompile  int    // workers granted to one compile at most
	Force          string // "", or "local", "whole", "split": the placement of every compile that can take it

	RaceAfter   time.Duration // a whole compile this long past twice its estimate is raced here; < 0: never
	RaceRetry   time.Duration // how often a straggler looks again for a free local token
	SilentAfter time.Duration // silence of a worker whose whole compile a local race answered that counts as a stall
	HedgeAfter  time.Duration // a split job's result this late is also asked of another host; < 0: never
}

// policy returns the Policy of a configuration (defaults applied).
func (c *Config) policy() Policy {
	return Policy{MinCost: c.MinCost, SplitCost: c.SplitCost, BytesPerWorker: c.BytesPerWorker,
		MaxPerCompile: c.MaxPerCompile, Force: c.Force, RaceAfter: c.RaceAfter, RaceRetry: raceRetry,
		SilentAfter: c.SilentAfter, HedgeAfter: c.HedgeAfter}
}

// raceRetry is how often a straggler looks again for a free local token.
const raceRetry = 250 * time.Millisecond

// Actions is how many actions the go command runs at once for tokens
// local tokens and slots worker slots: twice both, so that compiles wait
// in the agent and the scheduler chooses among them when a slot or a
// token frees. The tokens count too: a local process (asm, cgo, a link)
// that waits for a token takes one of the go command's actions, and with
// only twice the slots a worker stood idle while they waited (caddy
// cold, 1 token and 1 slot: worker 75% busy, 76 s; with the tokens
// counted, 95%, 64–69 s). The scheduler keeps what runs here within the
// tokens.
func Actions(slots, tokens int) int { return 2 * (slots + tokens) }

// eligible says how a compile may leave this machine: whole, and split
// over how many workers. caps are the compiler's (HELLO), bytes its .go
// source, hosts the number of hosts and splitHosts whether one takes
// split work; local is why it must stay here whatever the slots ("" if
// nothing keeps it). A compile that may do neither gets a reason.
func (p *Policy) eligible(caps uint64, bytes int64, hosts int, splitHosts bool, local string) (whole bool, split int, reason string) {
	switch {
	case hosts == 0:
		return false, 0, "no hosts"
	case local != "":
		return false, 0, local
	}
	whole = caps&localproto.CanWhole != 0
	if caps&localproto.CanSplit != 0 && bytes >= p.MinCost && splitHosts {
		split = min(max(int(bytes/p.BytesPerWorker), 1), p.MaxPerCompile)
	}
	if !whole && split == 0 {
		reason = "small package"
	}
	return whole, split, reason
}

// criticalShare: a compile whose slack is at most this share of the
// build's longest path counts as on the critical path.
const criticalShare = 0.1

// critical tells whether an action with this slack lies on the critical
// path of a build whose longest path is longest.
func critical(slack, longest time.Duration) bool {
	return float64(slack) <= criticalShare*float64(longest)
}

// view is what the scheduler sees of its resources for one request at
// one instant (Agent.viewLocked).
type view struct {
	local       bool // a local token is free
	remote      bool // a usable host has a free slot
	remoteWhole bool // a usable host that takes whole compiles has a free slot
	usable      bool // some host with slots is usable (free or busy)
	usableWhole bool // ... and takes whole compiles
	freeSplit   int  // free slots that a split can use
	waiters     int  // requests waiting
	hosts       int  // hosts, and of them:
	backing     int  // backing off
	refused     int  // refused the target

	minCost, splitCost time.Duration // the byte thresholds at the current rate (estimate.go)
}

// choice is where the policy places a request.
type choice int

const (
	wait        choice = iota // nothing fits: the request waits
	chooseLocal               // a local token
	chooseWhole               // a worker slot for the whole compile
	chooseSplit               // a local token and worker slots for a split
)

// choose places req given v: the rule told in sched.go. A local choice
// comes with the reason the compile got no worker, for the summary.
func (p *Policy) choose(req *request, v *view) (choice, string) {
	ok := req.reason == ""
	remote := ok && v.remote
	remoteWhole := ok && v.remoteWhole
	if req.hold {
		if v.local {
			return chooseLocal, ""
		}
		return wait, ""
	}
	switch p.Force {
	case "local":
		if v.local {
			return chooseLocal, "forced local"
		}
		return wait, ""
	case "whole":
		if req.whole && ok && v.usableWhole {
			if remoteWhole {
				return chooseWhole, ""
			}
			return wait, ""
		}
	case "split":
		if req.split > 0 && ok && v.usable {
			if v.local && remote {
				return chooseSplit, ""
			}
			return wait, ""
		}
	default:
		// A split pays a front end on every side and the replay here:
		// worth it for a large compile with at least two idle slots and
		// nothing else to do.
		big := req.split > 0 && req.cost >= v.splitCost && v.waiters <= 1 && v.freeSplit >= 2
		switch {
		case v.local && ok && req.cost < v.minCost && v.waiters <= 1:
			// A small compile costs less here than its round trips,
			// when nothing else waits for the token: with a backlog,
			// the local CPU is the bottleneck and a free slot is
			// better.
			return chooseLocal, "small package"
		case v.local && remote && big:
			return chooseSplit, ""
		case v.local && req.critical && ok:
			// The build waits for this compile: here it saves the
			// round trips, and the local core is at least as fast
			// as a worker's.
			return chooseLocal, reasonCritical
		case remoteWhole && req.whole:
			return chooseWhole, ""
		case v.local && remote && req.split > 0:
			// No whole compile here: the hosts with free slots take
			// no whole compiles, or the compile may not run whole.
			return chooseSplit, ""
		}
	}
	if v.local {
		return chooseLocal, whyLocal(req, v)
	}
	return wait, ""
}

// whyLocal says why a compile placed here got no worker.
func whyLocal(req *request, v *view) string {
	switch {
	case req.reason != "":
		return req.reason
	case !req.whole && req.split == 0:
		return "stays local"
	case req.split == 0 && v.usable && !v.usableWhole:
		return reasonNoWhole
	case v.usable:
		return "no free worker slots"
	}
	return unusableReason(v.hosts, v.backing, v.refused)
}

// unusableReason says why none of n hosts is usable, backing of them
// backing off and refused refusing the target.
func unusableReason(n, backing, refused int) string {
	switch {
	case n == 0:
		return "no hosts"
	case backing == 0:
		return fmt.Sprintf("all %d hosts refused this toolchain or token", refused)
	case refused == 0:
		return fmt.Sprintf("all %d hosts backing off after failures", backing)
	}
	return fmt.Sprintf("%d hosts backing off after failures, %d refused this toolchain or token", backing, refused)
}

// waitsBefore orders the waiters. Local processes go first (a link ends
// the build; an asm holds up its compile), then compiles by rank,
// highest first: the compile that the longest chain of the build's
// remaining work waits for starts first (its priority in the build
// graph), or, outside the graph, the longest compile, so that the build
// does not end waiting for it.
func waitsBefore(x, y *request) bool {
	if x.hold != y.hold {
		return x.hold
	}
	return x.rank() > y.rank()
}

// races tells whether stragglers are raced at all.
func (p *Policy) races() bool { return p.RaceAfter >= 0 }

// raceDelay is how long a whole compile estimated at est runs on its
// worker before it straggles: twice its estimate and RaceAfter.
func (p *Policy) raceDelay(est time.Duration) time.Duration { return 2*est + p.RaceAfter }

// stalled tells whether a worker silent for d, when a local race
// answered its compile, has stalled (it says Working every 3 s).
func (p *Policy) stalled(d time.Duration) bool { return d >= p.SilentAfter }

// hedges tells whether a split job of n bytes is hedged when late, after
// HedgeAfter. An empty job has no result to hedge.
func (p *Policy) hedges(n int) bool { return n > 0 && p.HedgeAfter >= 0 }

// backoff is how long a host skips work after its failures-th failure
// in a row, distcc-like: 2 s, doubling with each failure, at most a
// minute.
func backoff(failures int) time.Duration {
	return min(2*time.Second<<min(failures-1, 5), time.Minute)
}

// maxThrottle bounds a backoff that a worker's throttle asks for; a
// throttle that does not say how long lasts defaultThrottle, the
// worker's window.
const (
	maxThrottle     = 10 * time.Minute
	defaultThrottle = time.Minute
)

// throttle is how long a host skips work when its worker throttles this
// agent for d (0: it did not say): at least a second, at most
// maxThrottle.
func throttle(d time.Duration) time.Duration {
	if d == 0 {
		d = defaultThrottle
	}
	return min(max(d, time.Second), maxThrottle)
}

// downUntil is the end of a backoff of d from now, which never shortens
// one in course (until).
func downUntil(until, now time.Time, d time.Duration) time.Time {
	if t := now.Add(d); t.After(until) {
		return t
	}
	return until
}

// verifyRate is the share of verification of a compile placed on hosts
// of these rates: the largest.
func verifyRate(rates ...float64) float64 {
	r := 0.0
	for _, x := range rates {
		r = max(r, x)
	}
	return r
}

// sample tells whether to verify a compile at rate; draw returns a
// uniform number in [0, 1), drawn only for a rate between 0 and 1.
func sample(rate float64, draw func() float64) bool {
	if rate <= 0 {
		return false
	}
	return rate >= 1 || draw() < rate
}

// next is what follows a whole compile's run on a worker.
type next int

const (
	answer   next = iota // the worker's outcome answers the compile
	verify               // it answers, and the compile runs here too to compare (a local token)
	fallBack             // it failed remotely: the compile runs here (a local token)
	abandon              // the compile went away: no one to answer
)

// afterWhole says what follows a whole compile: failed says the run
// failed (not with compile errors, which are an outcome), exit is its
// exit status, here that a local race answered, gone that the compile
// went away; sampled is asked, once, only of a remote success.
func afterWhole(failed bool, exit uint64, here, gone bool, sampled func() bool) next {
	switch {
	case !failed && exit == 0 && !here && sampled():
		return verify
	case !failed:
		return answer
	case gone:
		return abandon
	}
	return fallBack
}

// Reasons of the compiles kept here, placed back here: a verification,
// a fallback.
const (
	reasonVerify   = "verifying a whole compile"
	reasonFallBack = "whole compile failed"
)
