// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
)

// readTrace reads the events of a trace file that the agent wrote.
func readTrace(t *testing.T, name string) []event {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestTracePhases checks that the phases of a split compile's STATS show
// in the trace: the compile's own on its local token's track, within
// its span; a worker's on the track of its share, cut to the share's
// span; none of a worker that the compile was not granted.
func TestTracePhases(t *testing.T) {
	hello := splitHello(t)
	addr, _, _ := fakeWorker{}.start(t) // it never answers the job
	trace := filepath.Join(t.TempDir(), "trace.json")
	a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1,
		ResultTimeout: 300 * time.Millisecond, HedgeAfter: -1, Trace: trace})
	before := time.Now()
	f, g := dialAgent(t, sock, hello)
	if g.N != 1 {
		t.Fatalf("grant %d %q", g.N, g.Reason)
	}
	f.send(&localproto.Job{Worker: 0, Data: []byte("job")})
	f.result() // failed, after the result timeout
	// The share's span began before the job went out, more than the
	// result timeout before now.
	tRes := time.Now()
	tBack := tRes.Add(-150 * time.Millisecond)
	ns := func(t time.Time) uint64 { return uint64(t.UnixNano()) }
	f.send(&localproto.Stats{PkgPath: "p", Funcs: 2, Phases: []localproto.Phase{
		{Worker: 0, Name: "front end", Start: ns(before.Add(-time.Hour)), Dur: uint64(tRes.Sub(before.Add(-time.Hour)))},
		{Worker: 1, Name: "backend", Start: ns(tBack), Dur: uint64(100 * time.Millisecond)},
		{Worker: 1, Name: "transfer", Start: ns(tBack.Add(100 * time.Millisecond)), Dur: uint64(time.Hour)},
		{Worker: 2, Name: "backend", Start: ns(tBack), Dur: 1},
		{Worker: 0, Name: "overflow", Start: math.MaxUint64, Dur: math.MaxUint64},
	}})
	f.nc.Close()
	// The compile's span ends before its local token is freed.
	for deadline := time.Now().Add(10 * time.Second); a.FreeTokens() != a.cfg.LocalTokens; {
		if time.Now().After(deadline) {
			t.Fatalf("the compile's local token was not freed")
		}
		time.Sleep(time.Millisecond)
	}
	a.Close()

	evs := readTrace(t, trace)
	pids := map[string]int{}
	for _, e := range evs {
		if e.Name == "process_name" {
			pids[e.Args["name"].(string)] = e.PID
		}
	}
	find := func(name string, pid int) *event {
		for i := range evs {
			if evs[i].Name == name && evs[i].PID == pid && evs[i].Phase == "X" {
				return &evs[i]
			}
		}
		return nil
	}
	local, host := pids["local tokens"], pids[addr]
	var compile, share *event
	for i := range evs {
		switch e := &evs[i]; {
		case e.PID == local && e.Args["placement"] == "local":
			compile = e
		case e.PID == host && e.Args["placement"] == "split share":
			share = e
		}
	}
	if compile == nil || share == nil {
		t.Fatalf("no compile span or no share span in the trace: %+v", evs)
	}
	end := func(e *event) float64 { return e.Time + e.Dur }
	// Microseconds as float64 of the Unix epoch keep about a quarter of
	// a microsecond: compare with a tolerance.
	near := func(a, b float64) bool { return math.Abs(a-b) < 1 }

	fe := find("front end", local)
	if fe == nil || fe.TID != compile.TID || !near(fe.Time, compile.Time) || !near(end(fe), micros(tRes)) {
		t.Errorf("front end %+v, want it on the compile's track %+v, cut to start with it, ending at %.0f", fe, compile, micros(tRes))
	}
	be := find("backend", host)
	if be == nil || be.TID != share.TID || !near(be.Time, micros(tBack)) || !near(be.Dur, 100e3) {
		t.Errorf("worker 1's backend %+v, want it on the share's track %+v, from %.0f for 100ms", be, share, micros(tBack))
	}
	tr := find("transfer", host)
	if tr == nil || !near(end(tr), end(share)) {
		t.Errorf("worker 1's transfer %+v, want it cut to the share's end %.0f", tr, end(share))
	}
	for _, e := range evs {
		if w, ok := e.Args["worker"]; ok && w != 0.0 && w != 1.0 || e.Name == "overflow" {
			t.Errorf("event %+v: of no granted worker, or out of range", e)
		}
	}
}
