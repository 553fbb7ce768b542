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

	// The paces of this build: the wall time of a compile placed here,
	// and of a whole compile on a worker from its placement to its
	// answer, over its estimate (pace; 1 until measured).
	herePace, wholePace float64
}

// choice is where the policy places a request.
type choice int

const (
	wait        choice = iota // nothing fits: the request waits
	chooseLocal               // a local token
	chooseWhole               // a worker slot for the whole compile
	chooseSplit               // a local token and worker slots for a split
)

// decision is the policy's answer: the choice, the reason a compile
// placed here got no worker (for the summary and the compiler's GRANT),
// and why, the rule that chose, with the predicted latencies it
// compared when it compared them (for the trace and the summary).
type decision struct {
	choice choice
	reason string
	why    string
}

// The rules that choose, as the summary counts them.
const (
	whyForced   = "forced"
	whySmall    = "small package"
	whySplit    = "split predicted fastest"
	whyCritical = "critical path, here predicted fastest"
	whyWholeCP  = "critical path, whole predicted fastest"
	whyWhole    = "off the critical path"
	whyNoToken  = "critical path, no free token"
	whyNoWhole  = "no whole compile"
)

// The split's latency model. A split of a compile whose front end takes
// the share front of its time, over k workers, takes
//
//	front + (1−front)·(1/(k+1) + replayShare·k/(k+1))
//
// of the compile's time here, plus splitOverhead: every side runs the
// front end, the backend is shared k+1 ways, and the client assembles
// and replays the workers' functions, at replayShare of their backend
// (stats of one split of cmd/compile/internal/ssa: 1.2 s of decode,
// replay and assembly for 5.8 s of its worker's backend). The front
// share learned from a package's earlier splits (estimate.go) absorbs
// whatever else its splits cost; a package without one gets
// defaultFront (stock -bench of the packages in bench/README: 23–41%,
// and the split's front end includes walk).
const (
	defaultFront  = 0.4
	replayShare   = 0.2
	splitOverhead = 50 * time.Millisecond
	// A split uses k more cores than the compile here for a shorter
	// wait: it is chosen only when predicted at most splitMargin of the
	// best other placement.
	splitMargin = 0.9
)

// splitShare is the share of its time here that a split of a compile
// whose front end takes the share front takes over k workers.
func splitShare(front float64, k int) float64 {
	back := 1/float64(k+1) + replayShare*float64(k)/float64(k+1)
	return front + (1-front)*back
}

// frontOf inverts splitShare: the front-end share that a split over k
// workers, measured at share of the compile's time here, implies,
// within [minFront, 1] (a split slower than the compile here implies 1;
// 0 means unknown in the history).
func frontOf(share float64, k int) float64 {
	back := splitShare(0, k)
	return min(max((share-back)/(1-back), minFront), 1)
}

const minFront = 0.01

// predictions are the latencies that the policy compares for a compile.
type predictions struct {
	here, whole, split time.Duration // 0: not a possible placement
	k                  int           // the split's workers
}

// predict is what each placement of req would take, by its estimate,
// the paces of v and its front-end share.
func predict(req *request, v *view) predictions {
	est := float64(req.cost)
	pr := predictions{here: time.Duration(est * pace(v.herePace))}
	if req.whole && v.remoteWhole {
		pr.whole = time.Duration(est * pace(v.wholePace))
	}
	if req.split > 0 && v.freeSplit > 0 {
		pr.k = min(req.split, v.freeSplit)
		front := req.front
		if front == 0 {
			front = defaultFront
		}
		pr.split = time.Duration(float64(pr.here)*splitShare(front, pr.k)) + splitOverhead
	}
	return pr
}

// pace is a measured pace, 1 if unmeasured.
func pace(p float64) float64 {
	if p <= 0 {
		return 1
	}
	return p
}

// splitPays tells whether the split beats every other placement by the
// margin.
func (pr *predictions) splitPays() bool {
	if pr.split == 0 {
		return false
	}
	best := pr.here
	if pr.whole > 0 {
		best = min(best, pr.whole)
	}
	return float64(pr.split) <= splitMargin*float64(best)
}

func (pr *predictions) String() string {
	s := fmt.Sprintf("here %s", ms(pr.here))
	if pr.whole > 0 {
		s += fmt.Sprintf(", whole %s", ms(pr.whole))
	}
	if pr.split > 0 {
		s += fmt.Sprintf(", split over %d %s", pr.k, ms(pr.split))
	}
	return s
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// choose places req given v: the rule told in sched.go.
func (p *Policy) choose(req *request, v *view) decision {
	ok := req.reason == ""
	remote := ok && v.remote
	remoteWhole := ok && v.remoteWhole
	if req.hold {
		if v.local {
			return decision{choice: chooseLocal}
		}
		return decision{}
	}
	switch p.Force {
	case "local":
		if v.local {
			return decision{chooseLocal, "forced local", whyForced}
		}
		return decision{}
	case "whole":
		if req.whole && ok && v.usableWhole {
			if remoteWhole {
				return decision{chooseWhole, "", whyForced}
			}
			return decision{}
		}
	case "split":
		if req.split > 0 && ok && v.usable {
			if v.local && remote {
				return decision{chooseSplit, "", whyForced}
			}
			return decision{}
		}
	default:
		if v.local && ok && req.cost < v.minCost && v.waiters <= 1 {
			// A small compile costs less here than its round trips,
			// when nothing else waits for the token: with a backlog,
			// the local CPU is the bottleneck and a free slot is
			// better.
			return decision{chooseLocal, whySmall, whySmall}
		}
		pr := predict(req, v)
		// A split takes a local token and idle slots, when nothing
		// else waits for them: for a compile the build waits for,
		// or a large one when two slots are idle.
		if v.local && remote && v.waiters <= 1 && pr.splitPays() &&
			(req.critical || req.cost >= v.splitCost && v.freeSplit >= 2) {
			return decision{chooseSplit, "", whySplit + ": " + pr.String()}
		}
		if v.local && req.critical && ok {
			// The build waits for this compile: it runs where it is
			// predicted to end first. Here it pays no round trips,
			// but the local cores may be the busier.
			if remoteWhole && req.whole && pr.whole < pr.here {
				return decision{chooseWhole, "", whyWholeCP + ": " + pr.String()}
			}
			return decision{chooseLocal, reasonCritical, whyCritical + ": " + pr.String()}
		}
		switch {
		case remoteWhole && req.whole && req.critical:
			return decision{chooseWhole, "", whyNoToken}
		case remoteWhole && req.whole:
			return decision{chooseWhole, "", whyWhole}
		case v.local && remote && req.split > 0:
			// No whole compile here: the hosts with free slots take
			// no whole compiles, or the compile may not run whole.
			return decision{chooseSplit, "", whyNoWhole}
		}
	}
	if v.local {
		r := whyLocal(req, v)
		return decision{chooseLocal, r, r}
	}
	return decision{}
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
