// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
)

func newSched(t *testing.T, tokens, slots int, force string) *Agent {
	t.Helper()
	a, err := New(Config{Hosts: []hosts.Host{{Addr: "w:1", Slots: slots}}, LocalTokens: tokens, Force: force})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// srcCost is the estimate of a compile of bytes of source that the
// cost history does not know.
func srcCost(bytes int64) time.Duration {
	return CompileFixed + time.Duration(bytes*DefaultNsPerByte)
}

func placeWithin(t *testing.T, a *Agent, req request) placement {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := a.place(ctx, req)
	if err != nil {
		t.Fatalf("place %+v: %v", req, err)
	}
	return p
}

// TestPlacement: a compile that may go whole takes a free worker slot; the
// next takes the local token; a third waits until one of them is given
// back, and takes what was freed.
func TestPlacement(t *testing.T) {
	a := newSched(t, 1, 1, "")
	c := request{whole: true, cost: srcCost(DefaultMinCost), target: "t"}
	p1 := placeWithin(t, a, c)
	if p1.kind != localproto.KindWhole || len(p1.hosts) != 1 {
		t.Fatalf("first: %+v, want whole on the one slot", p1)
	}
	p2 := placeWithin(t, a, c)
	if p2.kind != localproto.KindLocal || len(p2.hosts) != 0 || a.FreeTokens() != 0 {
		t.Fatalf("second: %+v, %d tokens free; want local", p2, a.FreeTokens())
	}
	got := make(chan placement, 1)
	go func() { got <- placeWithin(t, a, c) }()
	select {
	case p := <-got:
		t.Fatalf("third placed with nothing free: %+v", p)
	case <-time.After(100 * time.Millisecond):
	}
	a.unplace(p2)
	if p := <-got; p.kind != localproto.KindLocal {
		t.Fatalf("third, after the token came back: %+v", p)
	}
	a.unplace(p1)
	if a.FreeSlots() != 1 || a.FreeTokens() != 0 {
		t.Fatalf("%d slots, %d tokens free", a.FreeSlots(), a.FreeTokens())
	}
}

// TestPlacementSplit: a large compile with a free token and two free
// slots, and nothing waiting, splits; a middle-sized one goes whole; a
// small one takes the free token; one that may not leave the machine (a
// reason) runs locally even with slots free.
func TestPlacementSplit(t *testing.T) {
	a := newSched(t, 1, 2, "")
	p := placeWithin(t, a, request{whole: true, split: 4, cost: srcCost(DefaultSplitCost), target: "t"})
	if p.kind != localproto.KindLocal || len(p.hosts) != 2 {
		t.Fatalf("large: %+v, want local with 2 workers", p)
	}
	a.unplace(p)
	p = placeWithin(t, a, request{whole: true, split: 1, cost: srcCost(DefaultMinCost), target: "t"})
	if p.kind != localproto.KindWhole {
		t.Fatalf("middle-sized: %+v, want whole", p)
	}
	a.unplace(p)
	p = placeWithin(t, a, request{whole: true, cost: srcCost(DefaultMinCost - 1), target: "t"})
	if p.kind != localproto.KindLocal || p.reason != "small package" {
		t.Fatalf("small: %+v, want local", p)
	}
	a.unplace(p)
	p = placeWithin(t, a, request{whole: true, reason: "GOSSAFUNC", target: "t"})
	if p.kind != localproto.KindLocal || len(p.hosts) != 0 || p.reason != "GOSSAFUNC" {
		t.Fatalf("GOSSAFUNC: %+v, want local", p)
	}
	a.unplace(p)
}

// TestPlacementForced: DISTSSA_KIND forces every compile that can take it.
func TestPlacementForced(t *testing.T) {
	for _, tc := range []struct {
		force string
		req   request
		kind  uint64
		hosts int
	}{
		{"whole", request{whole: true, split: 1, cost: srcCost(1 << 20), target: "t"}, localproto.KindWhole, 1},
		{"split", request{whole: true, split: 1, cost: srcCost(10), target: "t"}, localproto.KindLocal, 1},
		{"local", request{whole: true, split: 1, cost: srcCost(10), target: "t"}, localproto.KindLocal, 0},
		{"whole", request{split: 1, cost: srcCost(10), target: "t"}, localproto.KindLocal, 0}, // may not go whole: local
	} {
		a := newSched(t, 1, 1, tc.force)
		p := placeWithin(t, a, tc.req)
		if p.kind != tc.kind || len(p.hosts) != tc.hosts {
			t.Errorf("%s %+v: %+v, want kind %d with %d hosts", tc.force, tc.req, p, tc.kind, tc.hosts)
		}
	}
}

// TestHoldsBounded: many local processes at once never hold more than the
// local tokens, and all of them run.
func TestHoldsBounded(t *testing.T) {
	const tokens, procs = 2, 12
	a := newSched(t, tokens, 0, "")
	var running, peak, done atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < procs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := placeWithin(t, a, request{hold: true})
			n := running.Add(1)
			for {
				m := peak.Load()
				if n <= m || peak.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			running.Add(-1)
			a.unplace(p)
			done.Add(1)
		}()
	}
	wg.Wait()
	if peak.Load() > tokens || done.Load() != procs || a.FreeTokens() != tokens {
		t.Fatalf("peak %d holders (tokens %d), %d of %d done, %d tokens free", peak.Load(), tokens, done.Load(), procs, a.FreeTokens())
	}
}

// TestWaiterGivesUp: a request whose compile goes away while it waits
// leaves the queue and takes nothing.
func TestWaiterGivesUp(t *testing.T) {
	a := newSched(t, 1, 0, "")
	p := placeWithin(t, a, request{hold: true})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := a.place(ctx, request{hold: true})
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled request was placed")
	}
	a.unplace(p)
	if a.FreeTokens() != 1 || len(a.waiters) != 0 {
		t.Fatalf("%d tokens free, %d waiters", a.FreeTokens(), len(a.waiters))
	}
}

// TestWakeOrder: when the token frees, waiters are served local
// processes first, then compiles by their priority in the build graph,
// a compile outside the graph by its cost.
func TestWakeOrder(t *testing.T) {
	a := newSched(t, 1, 0, "")
	busy := placeWithin(t, a, request{hold: true})
	order := make(chan string, 5)
	var wg sync.WaitGroup
	for i, w := range []struct {
		name string
		req  request
	}{
		{"short chain", request{whole: true, cost: 3 * time.Second, prio: 4 * time.Second, inGraph: true}},
		{"outside the graph", request{whole: true, cost: 5 * time.Second}},
		{"long chain", request{whole: true, cost: time.Second, prio: 9 * time.Second, inGraph: true}},
		{"small, outside", request{whole: true, cost: time.Second}},
		{"link", request{hold: true}},
	} {
		w := w
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := placeWithin(t, a, w.req)
			order <- w.name
			a.unplace(p)
		}()
		// Queue them in this order.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			a.mu.Lock()
			n := len(a.waiters)
			a.mu.Unlock()
			if n == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not wait", w.name)
			}
		}
	}
	a.unplace(busy)
	wg.Wait()
	close(order)
	var got []string
	for n := range order {
		got = append(got, n)
	}
	want := []string{"link", "long chain", "outside the graph", "short chain", "small, outside"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("woken in order %q, want %q", got, want)
	}
}

// TestPlacementCritical: a compile on the critical path takes a free
// local token rather than a free slot; off the path, the same compile
// goes whole; with no token free, a critical one goes whole too.
func TestPlacementCritical(t *testing.T) {
	a := newSched(t, 1, 1, "")
	req := request{whole: true, split: 1, cost: srcCost(4 * DefaultMinCost), prio: time.Minute, inGraph: true, target: "t"}
	req.critical = true
	p := placeWithin(t, a, req)
	if p.kind != localproto.KindLocal || len(p.hosts) != 0 || p.reason != reasonCritical {
		t.Fatalf("critical: %+v, want local for the critical path", p)
	}
	q := placeWithin(t, a, req) // no token left
	if q.kind != localproto.KindWhole {
		t.Errorf("critical with no free token: %+v, want whole", q)
	}
	a.unplace(q)
	a.unplace(p)
	req.critical = false
	if p := placeWithin(t, a, req); p.kind != localproto.KindWhole {
		t.Errorf("off the critical path: %+v, want whole", p)
	}
}

// TestPlacementCriticalSplit: a long compile on the critical path with
// an idle slot splits, and the summary counts the rule; once the
// package's splits are known not to pay, or while the local cores run
// slow, it does not.
func TestPlacementCriticalSplit(t *testing.T) {
	a := newSched(t, 1, 1, "")
	req := request{whole: true, split: 4, cost: 2 * time.Second, prio: time.Minute, inGraph: true, critical: true, target: "t"}
	p := placeWithin(t, a, req)
	if p.kind != localproto.KindLocal || len(p.hosts) != 1 || !strings.HasPrefix(p.why, whySplit+": here 2000ms, whole 2000ms, split over 1 ") {
		t.Fatalf("critical and long: %+v, want a split over the idle slot", p)
	}
	a.st.placed(&req, &p)
	var sum bytes.Buffer
	a.Summary(&sum)
	if !strings.Contains(sum.String(), "placed: split ("+whySplit+")=1\n") {
		t.Errorf("summary does not count the split's rule:\n%s", sum.String())
	}
	a.unplace(p)

	never := req
	never.front = 1
	if p := placeWithin(t, a, never); len(p.hosts) != 0 || p.reason != reasonCritical {
		t.Errorf("critical, splits never paid: %+v, want here for the critical path", p)
	} else {
		a.unplace(p)
	}

	for i := 0; i < minPace; i++ {
		a.addPace(&a.herePace, 3*time.Second, time.Second)
	}
	if p := placeWithin(t, a, req); p.kind != localproto.KindWhole || !strings.HasPrefix(p.why, whyWholeCP) {
		t.Errorf("critical, local cores at a third of their speed: %+v, want whole", p)
	} else {
		a.unplace(p)
	}
}
