// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/localproto"
)

// The policy's decisions, driven with views and instants of the test's
// choosing: no agent, no socket, no clock.

func testPolicy() Policy {
	c := Config{}
	c.defaults()
	return c.policy()
}

// TestPolicyEligible: hosts, the local environment, the compiler's
// capabilities and the source size decide whole and split, and the
// split's width is the source over BytesPerWorker within [1,
// MaxPerCompile].
func TestPolicyEligible(t *testing.T) {
	p := testPolicy()
	both := uint64(localproto.CanWhole | localproto.CanSplit)
	for _, tc := range []struct {
		caps       uint64
		bytes      int64
		hosts      int
		splitHosts bool
		local      string
		whole      bool
		split      int
		reason     string
	}{
		{both, 1 << 20, 0, true, "", false, 0, "no hosts"},
		{both, 1 << 20, 1, true, "GOSSAFUNC", false, 0, "GOSSAFUNC"},
		{both, DefaultMinCost - 1, 1, true, "", true, 0, ""},
		{both, DefaultMinCost, 1, true, "", true, 1, ""},
		{both, 3 * DefaultBytesPerWorker, 1, true, "", true, 3, ""},
		{both, 100 * DefaultBytesPerWorker, 1, true, "", true, DefaultMaxPerCompile, ""},
		{both, 1 << 20, 1, false, "", true, 0, ""},
		{localproto.CanSplit, 1 << 20, 1, true, "", false, DefaultMaxPerCompile, ""},
		{localproto.CanSplit, DefaultMinCost - 1, 1, true, "", false, 0, "small package"},
		{localproto.CanSplit, 1 << 20, 1, false, "", false, 0, "small package"},
	} {
		whole, split, reason := p.eligible(tc.caps, tc.bytes, tc.hosts, tc.splitHosts, tc.local)
		if whole != tc.whole || split != tc.split || reason != tc.reason {
			t.Errorf("%+v: whole %v split %d reason %q", tc, whole, split, reason)
		}
	}
}

// TestPolicyChoose: the placement rule of sched.go, case by case.
func TestPolicyChoose(t *testing.T) {
	min, split := srcCost(DefaultMinCost), srcCost(DefaultSplitCost)
	free := view{local: true, remote: true, remoteWhole: true, usable: true, usableWhole: true, freeSplit: 2, hosts: 1,
		minCost: min, splitCost: split}
	noLocal := free
	noLocal.local = false
	noSlot := free
	noSlot.remote, noSlot.remoteWhole, noSlot.freeSplit = false, false, 0
	backlog := free
	backlog.waiters = 2
	noWhole := free
	noWhole.remoteWhole, noWhole.usableWhole = false, false
	down := free
	down.remote, down.remoteWhole, down.usable, down.usableWhole, down.freeSplit, down.backing = false, false, false, false, 0, 1
	for _, tc := range []struct {
		name   string
		force  string
		req    request
		v      view
		want   choice
		reason string
	}{
		{"hold", "", request{hold: true}, free, chooseLocal, ""},
		{"hold, no token", "", request{hold: true}, noLocal, wait, ""},
		{"small", "", request{whole: true, cost: min - 1}, free, chooseLocal, "small package"},
		{"small with a backlog", "", request{whole: true, cost: min - 1}, backlog, chooseWhole, ""},
		{"large", "", request{whole: true, split: 4, cost: split}, free, chooseSplit, ""},
		{"large with a backlog", "", request{whole: true, split: 4, cost: split}, backlog, chooseWhole, ""},
		{"large, one slot", "", request{whole: true, split: 4, cost: split}, view{local: true, remote: true, remoteWhole: true, usable: true, usableWhole: true, freeSplit: 1, minCost: min, splitCost: split}, chooseWhole, ""},
		{"critical", "", request{whole: true, cost: min, critical: true}, free, chooseLocal, reasonCritical},
		{"middle", "", request{whole: true, split: 1, cost: min}, free, chooseWhole, ""},
		{"no whole host", "", request{whole: true, split: 1, cost: min}, noWhole, chooseSplit, ""},
		{"no whole host, no split", "", request{whole: true, cost: min}, noWhole, chooseLocal, reasonNoWhole},
		{"no slot", "", request{whole: true, cost: min}, noSlot, chooseLocal, "no free worker slots"},
		{"nothing free", "", request{whole: true, cost: min}, func() view { v := noSlot; v.local = false; return v }(), wait, ""},
		{"backing off", "", request{whole: true, cost: min}, down, chooseLocal, "all 1 hosts backing off after failures"},
		{"kept here", "", request{whole: true, cost: split, reason: "GOSSAFUNC"}, free, chooseLocal, "GOSSAFUNC"},
		{"stays local", "", request{cost: min}, free, chooseLocal, "stays local"},
		{"forced local", "local", request{whole: true, split: 1, cost: split}, free, chooseLocal, "forced local"},
		{"forced local, no token", "local", request{whole: true}, noLocal, wait, ""},
		{"forced whole", "whole", request{whole: true, cost: min - 1}, free, chooseWhole, ""},
		{"forced whole, no slot", "whole", request{whole: true, cost: min - 1}, noSlot, wait, ""},
		{"forced whole, may not", "whole", request{split: 1, cost: min - 1}, free, chooseLocal, "no free worker slots"},
		{"forced split", "split", request{whole: true, split: 1, cost: min - 1}, free, chooseSplit, ""},
		{"forced split, no token", "split", request{whole: true, split: 1}, noLocal, wait, ""},
	} {
		p := testPolicy()
		p.Force = tc.force
		d := p.choose(&tc.req, &tc.v)
		got, reason := d.choice, d.reason
		if got != tc.want || reason != tc.reason {
			t.Errorf("%s: choice %d %q, want %d %q", tc.name, got, reason, tc.want, tc.reason)
		}
	}
}

// TestPolicyUnusable: the reason names the hosts backing off and those
// that refused.
func TestPolicyUnusable(t *testing.T) {
	for _, tc := range []struct {
		n, backing, refused int
		want                string
	}{
		{0, 0, 0, "no hosts"},
		{2, 0, 2, "all 2 hosts refused this toolchain or token"},
		{2, 2, 0, "all 2 hosts backing off after failures"},
		{3, 1, 2, "1 hosts backing off after failures, 2 refused this toolchain or token"},
	} {
		if got := unusableReason(tc.n, tc.backing, tc.refused); got != tc.want {
			t.Errorf("%+v: %q", tc, got)
		}
	}
}

// TestPolicyWaitOrder: local processes first, then by rank.
func TestPolicyWaitOrder(t *testing.T) {
	hold := &request{hold: true}
	long := &request{cost: time.Second}
	deep := &request{cost: time.Millisecond, prio: 2 * time.Second}
	if !waitsBefore(hold, deep) || waitsBefore(deep, hold) {
		t.Error("a local process does not go before a compile")
	}
	if !waitsBefore(deep, long) || waitsBefore(long, deep) {
		t.Error("a compile deep in the graph does not go before a long one")
	}
	if waitsBefore(long, long) {
		t.Error("a request goes before itself")
	}
}

// TestPolicyCritical: within a tenth of the longest path is critical.
func TestPolicyCritical(t *testing.T) {
	if !critical(time.Second, 10*time.Second) || critical(time.Second+1, 10*time.Second) || !critical(0, 0) {
		t.Error("critical path share is not a tenth")
	}
}

// TestPolicyStraggler: a whole compile straggles at twice its estimate
// and RaceAfter, on a fake clock; a silent worker has stalled from
// SilentAfter; RaceAfter < 0 races nothing.
func TestPolicyStraggler(t *testing.T) {
	p := testPolicy()
	start := time.Unix(1000, 0)
	est := 300 * time.Millisecond
	at := start.Add(p.raceDelay(est))
	if want := start.Add(600*time.Millisecond + 2*time.Second); !at.Equal(want) {
		t.Errorf("straggles at %v, want %v", at.Sub(start), want.Sub(start))
	}
	if !p.races() || p.RaceRetry != raceRetry {
		t.Errorf("races %v, retry %v", p.races(), p.RaceRetry)
	}
	heard := start
	if now := heard.Add(6*time.Second - 1); p.stalled(now.Sub(heard)) {
		t.Error("stalled before SilentAfter")
	}
	if now := heard.Add(6 * time.Second); !p.stalled(now.Sub(heard)) {
		t.Error("not stalled at SilentAfter")
	}
	p.RaceAfter = -1
	if p.races() {
		t.Error("RaceAfter < 0 races")
	}
}

// TestPolicyHedge: a late result of a split job is hedged after
// HedgeAfter, never for an empty job, never with HedgeAfter < 0.
func TestPolicyHedge(t *testing.T) {
	p := testPolicy()
	if !p.hedges(1) || p.hedges(0) || p.HedgeAfter != 20*time.Second {
		t.Errorf("hedges(1) %v, hedges(0) %v, after %v", p.hedges(1), p.hedges(0), p.HedgeAfter)
	}
	p.HedgeAfter = -1
	if p.hedges(1) {
		t.Error("HedgeAfter < 0 hedges")
	}
}

// TestPolicyBackoff: on a fake clock, a failing host backs off 2 s,
// doubling, at most a minute; a throttle lasts what it says within [1 s,
// 10 min], a minute if it does not say, and never shortens a backoff.
func TestPolicyBackoff(t *testing.T) {
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("failure %d: %v, want %v", i+1, got, w)
		}
	}
	for _, tc := range []struct{ d, want time.Duration }{
		{0, time.Minute}, {time.Millisecond, time.Second}, {30 * time.Second, 30 * time.Second}, {time.Hour, 10 * time.Minute},
	} {
		if got := throttle(tc.d); got != tc.want {
			t.Errorf("throttle %v: %v, want %v", tc.d, got, tc.want)
		}
	}
	now := time.Unix(2000, 0)
	until := now.Add(time.Minute)
	if got := downUntil(until, now, time.Second); !got.Equal(until) {
		t.Errorf("a throttle shortened a backoff: %v", got.Sub(now))
	}
	if got := downUntil(until, now, 2*time.Minute); !got.Equal(now.Add(2 * time.Minute)) {
		t.Errorf("a throttle did not lengthen a backoff: %v", got.Sub(now))
	}
}

// TestPolicyAfterWhole: a whole compile's outcome answers, is verified
// (a remote success at exit 0, sampled), falls back here (a failure), or
// is dropped (the compile went away); sampling is asked only of a remote
// success.
func TestPolicyAfterWhole(t *testing.T) {
	for _, tc := range []struct {
		failed     bool
		exit       uint64
		here, gone bool
		sampled    bool
		want       next
		asked      bool
	}{
		{false, 0, false, false, false, answer, true},
		{false, 0, false, false, true, verify, true},
		{false, 2, false, false, true, answer, false},
		{false, 0, true, false, true, answer, false},
		{false, 0, false, true, false, answer, true},
		{true, 0, false, false, true, fallBack, false},
		{true, 0, false, true, true, abandon, false},
	} {
		asked := false
		got := afterWhole(tc.failed, tc.exit, tc.here, tc.gone, func() bool { asked = true; return tc.sampled })
		if got != tc.want || asked != tc.asked {
			t.Errorf("%+v: %d (sampled asked %v)", tc, got, asked)
		}
	}
}

// TestPolicySample: the largest rate of the hosts; 0 never, 1 always
// (without a draw), else the draw decides.
func TestPolicySample(t *testing.T) {
	if r := verifyRate(0.1, 0.5, 0); r != 0.5 {
		t.Errorf("rate %v, want 0.5", r)
	}
	noDraw := func() float64 { t.Error("drew for a rate of 0 or 1"); return 0 }
	if sample(0, noDraw) || !sample(1, noDraw) {
		t.Error("rates 0 and 1")
	}
	if !sample(0.5, func() float64 { return 0.49 }) || sample(0.5, func() float64 { return 0.5 }) {
		t.Error("the draw does not decide")
	}
}

// TestActions: the go command runs twice the slots and tokens.
func TestActions(t *testing.T) {
	if n := Actions(3, 2); n != 10 {
		t.Errorf("Actions(3, 2) = %d, want 10", n)
	}
}

// TestPolicySplitModel: the split's share of the compile's time falls
// with its workers towards the front end plus the replay, and the
// front-end share that a measured split implies predicts that split
// again.
func TestPolicySplitModel(t *testing.T) {
	if got := splitShare(0.4, 1); got < 0.759 || got > 0.761 {
		t.Errorf("one worker, front end 0.4: %.3f, want 0.76", got)
	}
	for k := 1; k < 8; k++ {
		if splitShare(0.4, k+1) >= splitShare(0.4, k) {
			t.Errorf("%d workers are no faster than %d", k+1, k)
		}
	}
	if splitShare(1, 4) != 1 {
		t.Error("a compile that is all front end gains from a split")
	}
	for _, k := range []int{1, 3} {
		for _, front := range []float64{0.1, 0.4, 0.9} {
			if got := frontOf(splitShare(front, k), k); got < front-1e-9 || got > front+1e-9 {
				t.Errorf("k=%d: front %.2f measured back as %.3f", k, front, got)
			}
		}
		if frontOf(1.5, k) != 1 || frontOf(0, k) != minFront {
			t.Errorf("k=%d: out-of-range shares give %v and %v", k, frontOf(1.5, k), frontOf(0, k))
		}
	}
}

// TestPolicyPredicted: where a compile goes by the predicted latencies
// of here, whole and split.
func TestPolicyPredicted(t *testing.T) {
	min, split := srcCost(DefaultMinCost), srcCost(DefaultSplitCost)
	idle := view{local: true, remote: true, remoteWhole: true, usable: true, usableWhole: true, freeSplit: 1, hosts: 1,
		minCost: min, splitCost: split}
	busyHere := idle
	busyHere.herePace, busyHere.wholePace = 2.5, 1
	slowWorker := idle
	slowWorker.herePace, slowWorker.wholePace = 1, 1.3
	backlog := idle
	backlog.waiters = 2
	big := 2 * time.Second
	for _, tc := range []struct {
		name   string
		req    request
		v      view
		want   choice
		why    string
		reason string
	}{
		{"critical, one idle slot", request{whole: true, split: 4, cost: big, critical: true}, idle, chooseSplit, whySplit, ""},
		{"critical, short", request{whole: true, split: 4, cost: 200 * time.Millisecond, critical: true}, idle, chooseLocal, whyCritical, reasonCritical},
		{"critical, split never paid", request{whole: true, split: 4, cost: big, critical: true, front: 0.95}, idle, chooseLocal, whyCritical, reasonCritical},
		{"critical, a backlog", request{whole: true, split: 4, cost: big, critical: true}, backlog, chooseLocal, whyCritical, reasonCritical},
		{"critical, busy cores here", request{whole: true, split: 4, cost: big, critical: true}, busyHere, chooseWhole, whyWholeCP, ""},
		{"critical, slower worker", request{whole: true, cost: big, critical: true}, slowWorker, chooseLocal, whyCritical, reasonCritical},
		{"large, one idle slot", request{whole: true, split: 4, cost: big}, idle, chooseWhole, whyWhole, ""},
		{"critical, no token", request{whole: true, split: 4, cost: big, critical: true}, func() view { v := idle; v.local = false; return v }(), chooseWhole, whyNoToken, ""},
		{"large, two idle slots", request{whole: true, split: 4, cost: big}, func() view { v := idle; v.freeSplit = 2; return v }(), chooseSplit, whySplit, ""},
	} {
		p := testPolicy()
		d := p.choose(&tc.req, &tc.v)
		rule, _, _ := strings.Cut(d.why, ":")
		if d.choice != tc.want || rule != tc.why || d.reason != tc.reason {
			t.Errorf("%s: choice %d why %q reason %q, want %d %q %q", tc.name, d.choice, d.why, d.reason, tc.want, tc.why, tc.reason)
		}
		if strings.Contains(tc.why, "predicted") && !strings.Contains(d.why, "here ") {
			t.Errorf("%s: why %q does not give the predictions", tc.name, d.why)
		}
	}
}
