// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// Tests against fake workers: a loopback listener that speaks the wire
// protocol as each test tells it to (an impostor, a worker whose proof
// is wrong, a worker that stalls after taking the job).

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
)

// fakeWorker describes how a fake worker answers.
type fakeWorker struct {
	auth    bool     // the Challenge's Auth
	version uint64   // the Challenge's Version; 0: wire.Version
	caps    []string // the Challenge's Caps; nil: wire.Caps
	// welcomeMAC makes the Welcome's MAC from the two nonces; nil: none.
	welcomeMAC func(helloNonce, chNonce []byte) []byte
	// beat > 0: a RunWhole is answered after answerAfter, with a Working
	// message every beat until then (a long compile); otherwise jobs
	// stall.
	beat, answerAfter time.Duration
	// Before throttleUntil, a Hello gets the worker's throttle refusal
	// for the time left.
	throttleUntil time.Time
	// helloError, if set, is the Error that answers a Hello; helloThrottle
	// a Throttle.
	helloError    string
	helloThrottle *wire.Throttle
	// stream, if set, answers a Job with a Chunk of each piece, then a
	// Result; or, with stall, nothing more.
	stream [][]byte
	stall  bool
}

// fakeConn is what a fake worker saw on one connection.
type fakeConn struct {
	msgs []any // the messages read, in order
}

func (c fakeConn) count(m any) int {
	n := 0
	for _, got := range c.msgs {
		if sameType(got, m) {
			n++
		}
	}
	return n
}

func sameType(a, b any) bool {
	switch a.(type) {
	case *wire.Hello:
		_, ok := b.(*wire.Hello)
		return ok
	case *wire.Auth:
		_, ok := b.(*wire.Auth)
		return ok
	case *wire.Job:
		_, ok := b.(*wire.Job)
		return ok
	case *wire.RunWhole:
		_, ok := b.(*wire.RunWhole)
		return ok
	case *wire.Query:
		_, ok := b.(*wire.Query)
		return ok
	case *wire.Upload:
		_, ok := b.(*wire.Upload)
		return ok
	case *wire.Start:
		_, ok := b.(*wire.Start)
		return ok
	}
	return false
}

// start listens on loopback and serves connections until the test ends.
// It returns the address, a channel that gets what each connection saw
// when it ends, and one that gets a value when a job (Job or RunWhole)
// arrives, which is never answered.
func (fw fakeWorker) start(t *testing.T) (addr string, conns <-chan fakeConn, jobs <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan fakeConn, 16)
	job := make(chan struct{}, 16)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { nc.Close() })
			go fw.serve(nc, done, job)
		}
	}()
	return ln.Addr().String(), done, job
}

func (fw fakeWorker) serve(nc net.Conn, done chan<- fakeConn, job chan<- struct{}) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Minute))
	var seen fakeConn
	defer func() { done <- seen }()
	var hello *wire.Hello
	nonce := make([]byte, 32)
	rand.Read(nonce)
	for {
		m, _, err := wire.Read(nc)
		if err != nil {
			return
		}
		seen.msgs = append(seen.msgs, m)
		var answer any
		switch m := m.(type) {
		case *wire.Hello:
			if fw.helloError != "" {
				wire.Write(nc, &wire.Error{Msg: fw.helloError})
				return
			}
			if fw.helloThrottle != nil {
				wire.Write(nc, fw.helloThrottle)
				return
			}
			if d := time.Until(fw.throttleUntil); d > 0 {
				wire.Write(nc, wire.Refuse(wire.ThrottleOf("127.0.0.1", d)))
				return
			}
			hello = m
			ch := &wire.Challenge{Version: fw.version, Caps: fw.caps, Nonce: nonce, Auth: fw.auth}
			if ch.Version == 0 {
				ch.Version = wire.Version
			}
			if ch.Caps == nil {
				ch.Caps = wire.Caps
			}
			answer = ch
		case *wire.Auth:
			w := &wire.Welcome{Slots: 1, Name: "fake"}
			if fw.welcomeMAC != nil && hello != nil {
				w.MAC = fw.welcomeMAC(hello.Nonce, nonce)
			}
			answer = w
		case *wire.Query:
			answer = &wire.Missing{}
		case *wire.Start:
			answer = &wire.Started{}
		case *wire.RunWhole:
			job <- struct{}{}
			if fw.beat == 0 {
				continue // stall
			}
			for end := time.Now().Add(fw.answerAfter); time.Now().Before(end); {
				time.Sleep(fw.beat)
				if _, err := wire.Write(nc, &wire.Working{}); err != nil {
					return
				}
			}
			obj := []byte("object")
			answer = &wire.Whole{Outputs: []wire.Output{{Name: "o", Size: uint64(len(obj)), Data: wire.Compress(obj)}}}
		case *wire.Job:
			job <- struct{}{}
			for _, b := range fw.stream {
				if _, err := wire.Write(nc, &wire.Chunk{Size: uint64(len(b)), Data: wire.Compress(b)}); err != nil {
					return
				}
			}
			if fw.stream == nil || fw.stall {
				continue // stall
			}
			answer = &wire.Result{}
		default:
			continue
		}
		if _, err := wire.Write(nc, answer); err != nil {
			return
		}
	}
}

// awaitConn waits (boundedly) for a fake worker's connection to end.
func awaitConn(t *testing.T, conns <-chan fakeConn) fakeConn {
	t.Helper()
	select {
	case c := <-conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's connection to the fake worker did not end")
	}
	return fakeConn{}
}

func tokenFile(t *testing.T, tok string) string {
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// splitHello is the HELLO of a small package's compile that may split.
func splitHello(t *testing.T) *localproto.Hello {
	compile := testutil.Compile(t)
	cwd, args := testutil.Package(t, compile, t.TempDir())
	return &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args,
		Env: testutil.Env(compile)}
}

func backoffs(h *host) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.backoffs
}

// TestImpostorWorker: an agent that holds a token refuses a worker that
// does not prove it: one that does not ask for the token (it gets no MAC
// of the agent's, which a relay could replay to the real worker), and
// one whose Welcome carries a wrong proof. The host is refused for the
// rest of the build, not backed off, and the compile goes local.
func TestImpostorWorker(t *testing.T) {
	hello := splitHello(t)
	for _, tc := range []struct {
		name string
		fw   fakeWorker
		want string
	}{
		{"no auth", fakeWorker{auth: false}, "worker at HOST does not ask for the token this agent holds: refusing it (impostor?)"},
		{"wrong proof", fakeWorker{auth: true, welcomeMAC: func(_, _ []byte) []byte {
			mac := make([]byte, 32)
			rand.Read(mac)
			return mac
		}}, "worker at HOST failed to prove it knows the token: refusing it (impostor?)"},
		{"no proof", fakeWorker{auth: true}, "worker at HOST failed to prove it knows the token: refusing it (impostor?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns, jobs := tc.fw.start(t)
			a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1, TokenFile: tokenFile(t, "s3cret-s3cret-s3cret")}},
				MinCost: 1, ResultTimeout: 500 * time.Millisecond, HedgeAfter: -1})
			f := sendJob(t, sock, hello)
			checkFailed(t, f.result(), addr, strings.ReplaceAll(tc.want, "HOST", addr))
			c := awaitConn(t, conns)
			if n := c.count(&wire.Auth{}); n != 0 && !tc.fw.auth {
				t.Errorf("the agent sent %d Auth messages to a worker that asked for none", n)
			}
			select {
			case <-jobs:
				t.Errorf("the agent sent a job to the impostor")
			default:
			}
			// Refused, not backed off: the next compiles stay local.
			for i := 0; i < 2; i++ {
				_, g := dialAgent(t, sock, hello)
				if g.N != 0 || !strings.Contains(g.Reason, "refused") {
					t.Fatalf("compile %d after the refusal: grant %d %q", i, g.N, g.Reason)
				}
			}
			if n := backoffs(a.hosts[0]); n != 0 {
				t.Errorf("%d backoffs, want 0 (a refusal)", n)
			}
			var sum strings.Builder
			a.Summary(&sum)
			if !strings.Contains(sum.String(), "refused: ") || !strings.Contains(sum.String(), "impostor?") {
				t.Errorf("summary:\n%s", sum.String())
			}
		})
	}
}

// TestNoTokenAuthWorker: without a token, a worker that asks for none is
// used as before (a trusted network).
func TestNoTokenAuthWorker(t *testing.T) {
	hello := splitHello(t)
	addr, conns, jobs := fakeWorker{auth: false}.start(t)
	_, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, HedgeAfter: -1})
	f := sendJob(t, sock, hello)
	select {
	case <-jobs:
	case <-time.After(10 * time.Second):
		t.Fatal("the job never reached the worker")
	}
	f.nc.Close()
	if c := awaitConn(t, conns); c.count(&wire.Auth{}) != 1 {
		t.Errorf("the agent sent %d Auth messages, want 1 (without a MAC)", c.count(&wire.Auth{}))
	}
}

// TestStallBacksOff: a worker that takes the job and never answers is a
// fault of the host once the result timeout passes: the host backs off
// and the next compile does not go to it. A compile that goes away while
// its job waits is no fault of the host's.
func TestStallBacksOff(t *testing.T) {
	hello := splitHello(t)
	t.Run("split", func(t *testing.T) {
		addr, _, _ := fakeWorker{}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1,
			ResultTimeout: 300 * time.Millisecond, HedgeAfter: -1})
		f := sendJob(t, sock, hello)
		checkFailed(t, f.result(), addr, "i/o timeout")
		if n := backoffs(a.hosts[0]); n != 1 {
			t.Errorf("%d backoffs after a stall, want 1", n)
		}
		_, g := dialAgent(t, sock, hello)
		if g.N != 0 || !strings.Contains(g.Reason, "backing off") {
			t.Errorf("next compile: grant %d %q, want none, backing off", g.N, g.Reason)
		}
		var sum strings.Builder
		a.Summary(&sum)
		if !strings.Contains(sum.String(), "backoffs 1") {
			t.Errorf("summary:\n%s", sum.String())
		}
	})
	t.Run("whole", func(t *testing.T) {
		addr, _, _ := fakeWorker{}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1,
			ResultTimeout: 300 * time.Millisecond, Force: "whole"})
		h := *hello
		h.Caps = localproto.CanWhole
		f, g := dialAgent(t, sock, &h)
		if g.Kind != localproto.KindWhole {
			t.Fatalf("grant %+v, want whole", g)
		}
		w, ok := f.recv().(*localproto.Whole)
		if !ok || w.Status != localproto.StatusFailed || !strings.Contains(w.Msg, addr) || !strings.Contains(w.Msg, "i/o timeout") {
			t.Fatalf("whole answer %+v", w)
		}
		f.nc.Close()
		if n := backoffs(a.hosts[0]); n != 1 {
			t.Errorf("%d backoffs after a stall, want 1", n)
		}
		_, g = dialAgent(t, sock, &h)
		if g.Kind == localproto.KindWhole || !strings.Contains(g.Reason, "backing off") {
			t.Errorf("next compile: grant %+v, want local, backing off", g)
		}
	})
	t.Run("silence past the stall timeout", func(t *testing.T) {
		// A result timeout of a minute, but the worker says nothing.
		addr, _, _ := fakeWorker{}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1,
			ResultTimeout: time.Minute, StallTimeout: 300 * time.Millisecond, Force: "whole"})
		h := *hello
		h.Caps = localproto.CanWhole
		f, _ := dialAgent(t, sock, &h)
		t0 := time.Now()
		w, ok := f.recv().(*localproto.Whole)
		if !ok || w.Status != localproto.StatusFailed || !strings.Contains(w.Msg, "i/o timeout") {
			t.Fatalf("whole answer %+v", w)
		}
		if d := time.Since(t0); d > 20*time.Second {
			t.Errorf("a stalled worker was noticed after %v", d)
		}
		f.nc.Close()
		if n := backoffs(a.hosts[0]); n != 1 {
			t.Errorf("%d backoffs after a stall, want 1", n)
		}
	})
	t.Run("long compile with heartbeats", func(t *testing.T) {
		// The compile takes 5 stall timeouts; Working keeps it alive.
		// A beat a tenth of the stall timeout leaves room for a loaded
		// machine's scheduling delays.
		addr, _, _ := fakeWorker{beat: 50 * time.Millisecond, answerAfter: 2500 * time.Millisecond}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1,
			ResultTimeout: time.Minute, StallTimeout: 500 * time.Millisecond, RaceAfter: -1, Force: "whole"})
		h := *hello
		h.Caps = localproto.CanWhole
		f, _ := dialAgent(t, sock, &h)
		w, ok := f.recv().(*localproto.Whole)
		if !ok || w.Status != localproto.StatusOK || len(w.Files) != 1 || string(w.Files[0].Data) != "object" {
			t.Fatalf("whole answer %+v", w)
		}
		f.nc.Close()
		if n := backoffs(a.hosts[0]); n != 0 {
			t.Errorf("%d backoffs after a long compile, want 0", n)
		}
	})
	t.Run("compile goes away", func(t *testing.T) {
		addr, _, jobs := fakeWorker{}.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1,
			ResultTimeout: time.Minute, HedgeAfter: -1})
		f := sendJob(t, sock, hello)
		select {
		case <-jobs:
		case <-time.After(10 * time.Second):
			t.Fatal("the job never reached the worker")
		}
		f.nc.Close()
		// The slot is released after the agent has judged the failure.
		deadline := time.Now().Add(10 * time.Second)
		for a.FreeSlots() != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the slot was not released after the compile went away")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := backoffs(a.hosts[0]); n != 0 {
			t.Errorf("%d backoffs after the compile went away, want 0", n)
		}
	})
}

// TestSampledVerify checks verify=RATE: at rate 1 every whole compile
// comes back with Verify and its host, and a local token; a VERDICT that
// says the outputs differ is loud, a failure (strict mode fails the
// build on it), and quarantines the host; one that says they match is
// counted. At rate 0 nothing is verified.
func TestSampledVerify(t *testing.T) {
	hello := splitHello(t)
	h := *hello
	h.Caps = localproto.CanWhole
	fw := fakeWorker{beat: 10 * time.Millisecond, answerAfter: 20 * time.Millisecond}
	for _, tc := range []struct {
		name  string
		rate  float64 // the hosts file's verify=
		match uint64
	}{
		{"match", 1, 1},
		{"mismatch", 1, 0},
		{"rate 0", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _, _ := fw.start(t)
			a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1, Verify: tc.rate, VerifySet: true}},
				MinCost: 1, Verify: 1 - tc.rate, LocalTokens: 1, Force: "whole"})
			f, g := dialAgent(t, sock, &h)
			if g.Kind != localproto.KindWhole {
				t.Fatalf("grant %+v, want whole", g)
			}
			w, ok := f.recv().(*localproto.Whole)
			if !ok || w.Status != localproto.StatusOK {
				t.Fatalf("whole answer %+v", w)
			}
			if tc.rate == 0 {
				if w.Verify != 0 {
					t.Errorf("verify=0: WHOLE says verify")
				}
				return
			}
			if w.Verify != 1 || w.Host != addr {
				t.Fatalf("WHOLE verify %d host %q, want 1 and %s", w.Verify, w.Host, addr)
			}
			if a.FreeTokens() != 0 {
				t.Errorf("the verifying compile holds no local token (%d free)", a.FreeTokens())
			}
			msg := ""
			if tc.match == 0 {
				msg = "-o differs at byte 42 of 900/900"
			}
			f.send(&localproto.Verdict{Match: tc.match, Msg: msg})
			f.nc.Close()
			var sum strings.Builder
			deadline := time.Now().Add(10 * time.Second)
			for {
				sum.Reset()
				a.Summary(&sum)
				if strings.Contains(sum.String(), "verify: 1 remote compiles chosen") && !strings.Contains(sum.String(), "0 identical, 0 differ") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no verdict in the summary:\n%s", sum.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if tc.match == 1 {
				if !strings.Contains(sum.String(), "1 identical, 0 differ") || len(a.Failures()) != 0 {
					t.Errorf("summary:\n%s\nfailures %v", sum.String(), a.Failures())
				}
				return
			}
			if !strings.Contains(sum.String(), "0 identical, 1 differ") || !strings.Contains(sum.String(), "refused: quarantined: VERIFY MISMATCH") {
				t.Errorf("summary:\n%s", sum.String())
			}
			if f := a.Failures(); len(f) != 1 || !strings.Contains(f[0], addr) || !strings.Contains(f[0], "-o differs at byte 42") {
				t.Errorf("failures %q, want the mismatch naming %s", f, addr)
			}
			// The next compile does not go to the quarantined host.
			_, g = dialAgent(t, sock, &h)
			if g.Kind == localproto.KindWhole {
				t.Errorf("after a mismatch: grant %+v, want local", g)
			}
		})
	}
}

// TestThrottleBacksOff: a worker's throttle refusal (too many failed
// authentications from the agent's address, which others may share) is
// no refusal of the host: the agent backs off for the time the worker
// names, without asking it again meanwhile, then uses it again in the
// same build.
func TestThrottleBacksOff(t *testing.T) {
	hello := splitHello(t)
	hello.Caps = localproto.CanWhole
	until := time.Now().Add(1500 * time.Millisecond)
	fw := fakeWorker{beat: 10 * time.Millisecond, answerAfter: 20 * time.Millisecond, throttleUntil: until}
	addr, conns, _ := fw.start(t)
	a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, Force: "whole", RaceAfter: -1})
	f, g := dialAgent(t, sock, hello)
	if g.Kind != localproto.KindWhole {
		t.Fatalf("grant %+v, want whole", g)
	}
	w, ok := f.recv().(*localproto.Whole)
	if !ok || w.Status != localproto.StatusFailed || !strings.Contains(w.Msg, addr) || !strings.Contains(w.Msg, "too many failed authentications") {
		t.Fatalf("whole answer %+v, want a failure naming the throttle", w)
	}
	f.nc.Close()
	if n := backoffs(a.hosts[0]); n != 1 {
		t.Errorf("%d backoffs after a throttle, want 1", n)
	}
	var sum strings.Builder
	a.Summary(&sum)
	if strings.Contains(sum.String(), "refused: ") {
		t.Errorf("the throttled host is refused for the build:\n%s", sum.String())
	}
	// Until the throttle ends, compiles stay here without a handshake.
	_, g = dialAgent(t, sock, hello)
	if g.Kind == localproto.KindWhole || !strings.Contains(g.Reason, "backing off") {
		t.Errorf("during the throttle: grant %+v, want local, backing off", g)
	}
	// Then the host takes compiles again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		f, g = dialAgent(t, sock, hello)
		if g.Kind == localproto.KindWhole {
			break
		}
		if !strings.Contains(g.Reason, "backing off") {
			t.Fatalf("grant %+v, want whole or backing off", g)
		}
		f.nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("the throttled host never took a compile again")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if time.Now().Before(until) {
		t.Errorf("the host was used %v before the end of its throttle", time.Until(until))
	}
	w, ok = f.recv().(*localproto.Whole)
	if !ok || w.Status != localproto.StatusOK || len(w.Files) != 1 || string(w.Files[0].Data) != "object" {
		t.Fatalf("whole answer after the throttle %+v", w)
	}
	f.nc.Close()
	// Two connections: the throttled one, and the one that served. The
	// agent did not ask again before the time the worker named.
	a.Close() // closes the pooled connection
	throttled := 0
	for i := 0; i < 2; i++ {
		if c := awaitConn(t, conns); c.count(&wire.Hello{}) == 1 && c.count(&wire.Auth{}) == 0 {
			throttled++
		}
	}
	select {
	case <-conns:
		t.Errorf("more than two connections")
	case <-time.After(100 * time.Millisecond):
	}
	if throttled != 1 {
		t.Errorf("%d throttled handshakes, want 1", throttled)
	}
}

// TestThrottleByType: what makes a worker's answer to a Hello a
// throttle is its type. A Throttle whose text says nothing readable
// backs the host off for the time it names; an Error is a refusal of the
// host for the build, whatever its text: one that reads as a throttle,
// or speaks of one, backs nothing off.
func TestThrottleByType(t *testing.T) {
	hello := splitHello(t)
	for _, tc := range []struct {
		name string
		fw   fakeWorker
		want string // in the compile's failure
	}{
		{"garbled throttle", fakeWorker{helloThrottle: &wire.Throttle{Msg: "ǝlʇʇoɹɥʇ", ForNs: uint64(time.Hour)}}, "ǝlʇʇoɹɥʇ"},
		{"error as throttle", fakeWorker{helloError: "too many failed authentications from 127.0.0.1: refused for 2s more"}, "too many failed"},
		{"error of throttle", fakeWorker{helloError: "throttle: refused for 2s more"}, "throttle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _, _ := tc.fw.start(t)
			a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, HedgeAfter: -1})
			f := sendJob(t, sock, hello)
			checkFailed(t, f.result(), addr, tc.want)
			_, g := dialAgent(t, sock, hello)
			var sum strings.Builder
			a.Summary(&sum)
			if tc.fw.helloThrottle != nil {
				// Backed off for the time the worker named (an hour:
				// the agent's bound, 10 minutes), not refused.
				a.mu.Lock()
				left := time.Until(a.hosts[0].downUntil)
				a.mu.Unlock()
				if n := backoffs(a.hosts[0]); n != 1 || left < 9*time.Minute || left > maxThrottle {
					t.Errorf("%d backoffs, %v left; want 1, for 10m", n, left)
				}
				if g.N != 0 || !strings.Contains(g.Reason, "backing off") || strings.Contains(sum.String(), "refused: ") {
					t.Errorf("after the throttle: grant %d %q, summary:\n%s", g.N, g.Reason, sum.String())
				}
				return
			}
			if n := backoffs(a.hosts[0]); n != 0 {
				t.Errorf("%d backoffs, want 0 (a refusal)", n)
			}
			if g.N != 0 || !strings.Contains(g.Reason, "refused") || !strings.Contains(sum.String(), "refused: ") {
				t.Errorf("after the Error: grant %d %q, want refused; summary:\n%s", g.N, g.Reason, sum.String())
			}
		})
	}
}

// TestWorkerVersionCaps: the agent reads the worker's Challenge. Another
// protocol version, or a worker without the capabilities every task
// needs, is refused for the build, naming both versions or the missing
// capabilities, and gets nothing past the handshake. A worker without
// the capability whole gets no RunWhole (nor the Query and Upload before
// it), the summary and the compile's reason say why, and it still takes
// split work.
func TestWorkerVersionCaps(t *testing.T) {
	hello := splitHello(t)
	for _, tc := range []struct {
		name string
		fw   fakeWorker
		want string
	}{
		{"older", fakeWorker{version: wire.Version - 1, caps: []string{"zstd", "sha256"}},
			fmt.Sprintf("worker at HOST speaks protocol version %d, this agent version %d", wire.Version-1, wire.Version)},
		{"newer", fakeWorker{version: wire.Version + 1},
			fmt.Sprintf("worker at HOST speaks protocol version %d, this agent version %d", wire.Version+1, wire.Version)},
		{"caps", fakeWorker{caps: []string{"whole"}}, `worker at HOST lacks the capabilities zstd, sha256 (it has ["whole"])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns, _ := tc.fw.start(t)
			a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, HedgeAfter: -1})
			f := sendJob(t, sock, hello)
			checkFailed(t, f.result(), addr, strings.ReplaceAll(tc.want, "HOST", addr))
			c := awaitConn(t, conns)
			for _, m := range []any{&wire.Auth{}, &wire.Query{}, &wire.Upload{}, &wire.Start{}, &wire.Job{}, &wire.RunWhole{}} {
				if n := c.count(m); n != 0 {
					t.Errorf("the agent sent %d %T", n, m)
				}
			}
			_, g := dialAgent(t, sock, hello)
			if g.N != 0 || !strings.Contains(g.Reason, "refused") {
				t.Errorf("after the refusal: grant %d %q", g.N, g.Reason)
			}
			var sum strings.Builder
			a.Summary(&sum)
			if !strings.Contains(sum.String(), "refused: "+strings.ReplaceAll(tc.want, "HOST", addr)) {
				t.Errorf("summary:\n%s", sum.String())
			}
		})
	}
	t.Run("no whole", func(t *testing.T) {
		h := *hello
		h.Caps = localproto.CanWhole | localproto.CanSplit
		fw := fakeWorker{caps: []string{"zstd", "sha256"}}
		addr, conns, jobs := fw.start(t)
		a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, HedgeAfter: -1})
		f, g := dialAgent(t, sock, &h)
		if g.Kind != localproto.KindWhole {
			t.Fatalf("grant %+v, want whole", g)
		}
		w, ok := f.recv().(*localproto.Whole)
		if !ok || w.Status != localproto.StatusFailed || !strings.Contains(w.Msg, addr) || !strings.Contains(w.Msg, "lacks the capability whole") {
			t.Fatalf("whole answer %+v, want a failure naming the capability", w)
		}
		f.nc.Close()
		if n := backoffs(a.hosts[0]); n != 0 {
			t.Errorf("%d backoffs, want 0", n)
		}
		var sum strings.Builder
		a.Summary(&sum)
		if !strings.Contains(sum.String(), addr) || !strings.Contains(sum.String(), `lacks the capability whole (it has ["zstd" "sha256"]): no whole compiles`) ||
			strings.Contains(sum.String(), "refused: ") {
			t.Errorf("summary:\n%s", sum.String())
		}
		// A compile that may only run whole stays here, saying why.
		wh := h
		wh.Caps = localproto.CanWhole
		f, g = dialAgent(t, sock, &wh)
		if g.Kind != localproto.KindLocal || g.Reason != reasonNoWhole {
			t.Errorf("a whole-only compile: grant %+v, want local, %q", g, reasonNoWhole)
		}
		f.nc.Close()
		// One that may split splits on the host, over the same
		// connection.
		f, g = dialAgent(t, sock, &h)
		if g.Kind != localproto.KindLocal || g.N != 1 {
			t.Fatalf("a compile that may split: grant %+v, want a split on the host", g)
		}
		f.send(&localproto.Job{Worker: 0, Data: []byte("job")})
		select {
		case <-jobs:
		case <-time.After(10 * time.Second):
			t.Fatal("the split job never reached the worker")
		}
		f.nc.Close()
		c := awaitConn(t, conns)
		if c.count(&wire.RunWhole{}) != 0 || c.count(&wire.Start{}) != 1 || c.count(&wire.Query{}) != 1 || c.count(&wire.Hello{}) != 1 {
			t.Errorf("the worker saw %d Hello, %d Query, %d Start, %d Run; want 1, 1, 1, 0",
				c.count(&wire.Hello{}), c.count(&wire.Query{}), c.count(&wire.Start{}), c.count(&wire.RunWhole{}))
		}
	})
}

// TestUnused: the warning at the end of a build names each host whose
// remote work failed every time, with the first failure's reason (a
// host that is down, one that refuses the agent), and not the hosts
// that served; without failures there is none.
func TestUnused(t *testing.T) {
	hello := splitHello(t)
	hello.Caps = localproto.CanWhole
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there now
	old, _, _ := fakeWorker{version: 1}.start(t)
	good, _, _ := fakeWorker{beat: 10 * time.Millisecond, answerAfter: 20 * time.Millisecond}.start(t)
	// The host with the most free slots goes first: down, old, good.
	a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: down, Slots: 3}, {Addr: old, Slots: 2}, {Addr: good, Slots: 1}},
		MinCost: 1, Force: "whole", RaceAfter: -1})
	if w := a.Unused(); w != "" {
		t.Errorf("before any compile: %q", w)
	}
	for i, want := range []string{down, old, good} {
		f, g := dialAgent(t, sock, hello)
		if g.Kind != localproto.KindWhole {
			t.Fatalf("compile %d: grant %+v, want whole", i, g)
		}
		w, ok := f.recv().(*localproto.Whole)
		if !ok || w.Status == localproto.StatusOK && want != good || w.Status != localproto.StatusOK && !strings.Contains(w.Msg, want) {
			t.Fatalf("compile %d: whole answer %+v, want one from %s", i, w, want)
		}
		f.nc.Close()
	}
	want := "distssa: warning: 2 of 3 workers not used: " + down + ": connection refused; " +
		old + ": worker at " + old + fmt.Sprintf(" speaks protocol version 1, this agent version %d: install the same distssa on both", wire.Version)
	if w := a.Unused(); w != want {
		t.Errorf("warning %q\nwant    %q", w, want)
	}
}

// sendJob connects a compile with hello to the agent at sock, which must
// grant it one worker, and sends that worker its job.
func sendJob(t *testing.T, sock string, hello *localproto.Hello) *fakeCompile {
	t.Helper()
	f, g := dialAgent(t, sock, hello)
	if g.N != 1 {
		t.Fatalf("grant %d %q", g.N, g.Reason)
	}
	f.send(&localproto.Job{Worker: 0, Data: []byte("job")})
	return f
}

// TestStreamedResult: a worker's Chunks go on to the compiler as
// RESULTs, in order, as they come, and an empty RESULT ends them. Once
// part of a result went on, a late result is not hedged on another host
// (the pieces of two workers need not be cut alike): its stall fails
// the result after its first pieces.
func TestStreamedResult(t *testing.T) {
	hello := splitHello(t)
	pieces := [][]byte{[]byte("first piece"), []byte("second")}
	addr, _, _ := fakeWorker{stream: pieces}.start(t)
	_, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, HedgeAfter: -1})
	f, g := dialAgent(t, sock, hello)
	if g.N != 1 {
		t.Fatalf("grant %d %q", g.N, g.Reason)
	}
	f.send(&localproto.Job{Worker: 0, Data: []byte("job")})
	for i, want := range append(pieces, nil) {
		r, ok := f.recv().(*localproto.Result)
		if !ok || r.Status != localproto.StatusOK || string(r.Data) != string(want) {
			t.Fatalf("RESULT %d: %+v, want status 0 with %q", i, r, want)
		}
	}

	stalls, _, jobs := fakeWorker{stream: pieces[:1], stall: true}.start(t)
	other, _, otherJobs := fakeWorker{stream: pieces}.start(t)
	a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: stalls, Slots: 1}, {Addr: other, Slots: 1}}, MinCost: 1,
		MaxPerCompile: 1, HedgeAfter: 100 * time.Millisecond, ResultTimeout: time.Second})
	f, g = dialAgent(t, sock, hello)
	if g.N != 1 {
		t.Fatalf("grant %d %q", g.N, g.Reason)
	}
	f.send(&localproto.Job{Worker: 0, Data: []byte("job")})
	if r, ok := f.recv().(*localproto.Result); !ok || r.Status != localproto.StatusOK || string(r.Data) != string(pieces[0]) {
		t.Fatalf("first RESULT %+v, want the first piece", r)
	}
	checkFailed(t, f.result(), stalls, "i/o timeout")
	select {
	case <-jobs:
	default:
		t.Fatal("the stalling worker got no job")
	}
	select {
	case <-otherJobs:
		t.Error("a result under way was hedged on the other host")
	default:
	}
	if n := a.st.snapshot().hedges; n != 0 {
		t.Errorf("%d hedged jobs, want 0", n)
	}
}

// TestGiveUp: an empty JOB after a worker's job gives up its result (the
// compiler compiled the rest itself): the agent stops the worker at
// once, which frees its slot, and sends no RESULT for it.
func TestGiveUp(t *testing.T) {
	hello := splitHello(t)
	addr, conns, jobs := fakeWorker{}.start(t) // it stalls on the job
	a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1}}, MinCost: 1, HedgeAfter: -1})
	f, g := dialAgent(t, sock, hello)
	if g.N != 1 {
		t.Fatalf("grant %d %q", g.N, g.Reason)
	}
	f.send(&localproto.Job{Worker: 0, Data: []byte("job")})
	select {
	case <-jobs:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker got no job")
	}
	if n := a.FreeSlots(); n != 0 {
		t.Fatalf("%d free slots while the job runs", n)
	}
	f.send(&localproto.Job{Worker: 0})
	if c := awaitConn(t, conns); c.count(&wire.Job{}) != 1 {
		t.Errorf("the worker's connection saw %d jobs", c.count(&wire.Job{}))
	}
	for end := time.Now().Add(10 * time.Second); a.FreeSlots() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the slot is still busy")
		}
	}
	// The compile goes on: its connection stays open, and silent.
	f.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if m, err := localproto.Read(f.r); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after the result was given up, the agent sent %#v, %v; want nothing, the connection open", m, err)
	}
}
