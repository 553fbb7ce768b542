// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/wire"
)

// TestReplay records two whole compiles with a real (fake-compile)
// worker, then serves its store in replay mode: a recorded compile is
// answered with the recorded outputs after its recorded run time times
// the scale, running nothing; a compile not recorded and a split job are
// refused; replay mode refuses a non-loopback listener.
func TestReplay(t *testing.T) {
	rec, addr, _ := startFake(t, time.Minute)
	c, _ := dial(t, addr, nil, rec.Toolchain())
	var want = map[string]string{"ok": "obj\n", "slow": "slow\n"}
	var run = map[string]time.Duration{}
	for p := range want {
		d := c.whole(fakeRun(c, p))
		if d.Status != 0 || d.Cached || string(outputFiles(t, d)["o"]) != want[p] {
			t.Fatalf("recording %s: %+v", p, d)
		}
		run[p] = time.Duration(d.RunNs)
	}
	if run["slow"] < 200*time.Millisecond {
		t.Fatalf("the slow compile ran %v, want at least 200ms", run["slow"])
	}
	c.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec.Shutdown(ctx)

	cfg := rec.cfg
	cfg.Replay = 2
	s, addr := startServerOptions(t, cfg)
	c, _ = dial(t, addr, nil, s.Toolchain())
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	for _, p := range []string{"ok", "slow"} {
		t0 := time.Now()
		d := c.whole(fakeRun(c, p))
		took := time.Since(t0)
		if d.Status != 0 || d.Cached || string(outputFiles(t, d)["o"]) != want[p] {
			t.Fatalf("replay of %s: %+v", p, d)
		}
		if wantRun := 2 * run[p]; time.Duration(d.RunNs) != wantRun || took < wantRun {
			t.Errorf("replay of %s: answered after %v saying it ran %v; want %v (twice the recorded %v)", p, took, time.Duration(d.RunNs), wantRun, run[p])
		}
	}
	// Not recorded: "nooutput" would run a compile; replay refuses it.
	c.send(fakeRun(c, "nooutput"))
	if e, ok := c.recv().(*wire.Error); !ok || !strings.Contains(e.Msg, "replay: no recorded result for this compile (-p nooutput)") {
		t.Fatalf("unrecorded Run answered %#v", e)
	}
	c.send(fakeStart(c, "ok"))
	if e, ok := c.recv().(*wire.Error); !ok || !strings.Contains(e.Msg, "replays recorded whole compiles only") {
		t.Fatalf("split Start answered %#v", e)
	}
	st := s.Stats()
	if st.ResultHits != 2 || st.ResultMisses != 1 || st.Jobs != 2 {
		t.Errorf("stats: hits %d misses %d jobs %d, want 2, 1, 2", st.ResultHits, st.ResultMisses, st.Jobs)
	}

	bad, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: cfg.Compile, Replay: 1, Token: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Serve(fakeListener{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 7070}})
	if err == nil || !strings.Contains(err.Error(), "replay mode serves loopback addresses only") {
		t.Fatalf("replay on a non-loopback address: %v", err)
	}
	if _, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: cfg.Compile, Replay: -1}); err == nil {
		t.Error("a negative replay scale was accepted")
	}
}
