// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

import (
	"bufio"
	"bytes"
	"fmt"
	"internal/testenv"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cmd/compile/internal/distssa/agentclient"
)

// fakeAgent speaks the agent's side of the local protocol for tests. It
// runs granted workers as the exec transport does: the compile's own
// binary in worker mode on this machine.
type fakeAgent struct {
	t      *testing.T
	mode   string // ok, okverify (ok, and GRANT says verify), grant0, grant0close, silent, hangup, fail, whole, wholeverify, wholeverifybad, wholefake, wholeextra, wholeextrafail, wholedup, wholefail
	socket string
	ln     net.Listener

	mu       sync.Mutex
	conns    int
	hellos   []*agentclient.Hello
	stats    []*agentclient.Stats
	verdicts []*agentclient.Verdict
	errs     []error
	wg       sync.WaitGroup
}

func startFakeAgent(t *testing.T, mode string) *fakeAgent {
	// A short directory: a socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "agt")
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{t: t, mode: mode, socket: filepath.Join(dir, "a.sock")}
	a.ln, err = net.Listen("unix", a.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.ln.Close()
		a.wg.Wait()
		os.RemoveAll(dir)
	})
	go func() {
		for {
			c, err := a.ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.conns++
			a.mu.Unlock()
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Minute))
				if err := a.serve(c); err != nil {
					a.mu.Lock()
					a.errs = append(a.errs, err)
					a.mu.Unlock()
				}
			}()
		}
	}()
	return a
}

func (a *fakeAgent) recv(r *bufio.Reader) (agentclient.Msg, error) {
	return agentclient.Read(r)
}

func send(c net.Conn, m agentclient.Msg) error { return agentclient.Write(c, m) }

// fakeWorker is a compile in worker mode.
type fakeWorker struct {
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
}

func (a *fakeAgent) serve(c net.Conn) error {
	r := bufio.NewReader(c)
	m, err := a.recv(r)
	if err != nil {
		return fmt.Errorf("reading HELLO: %v", err)
	}
	h, ok := m.(*agentclient.Hello)
	if !ok {
		return fmt.Errorf("first message %T, want HELLO", m)
	}
	a.mu.Lock()
	a.hellos = append(a.hellos, h)
	a.mu.Unlock()
	if h.Caps&agentclient.CanSplit == 0 && a.mode == "ok" {
		// As the agent does: a compile that may not split runs here.
		if err := send(c, &agentclient.Grant{Reason: "no split"}); err != nil {
			return err
		}
		io.Copy(io.Discard, c)
		return nil
	}
	verify := uint64(0)
	if a.mode == "okverify" {
		a.mode, verify = "ok", 1 // this connection's; the tests run one compile a fake agent
	}
	switch a.mode {
	case "whole", "wholeverify", "wholeverifybad":
		// Run the compile whole, as a worker would, with its outputs
		// in a directory of its own.
		if err := send(c, &agentclient.Grant{Kind: agentclient.KindWhole}); err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "agtwhole")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		args, outs := verifyArgs(h.Args, dir)
		cmd := exec.Command(h.Compile, args...)
		cmd.Dir = h.Cwd
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		w := &agentclient.Whole{Status: agentclient.StatusOK}
		if err := cmd.Run(); err != nil {
			ee, ok := err.(*exec.ExitError)
			if !ok {
				return err
			}
			w.Exit = uint64(ee.ExitCode())
		}
		w.Output = out.Bytes()
		if w.Exit == 0 {
			for _, name := range []string{"o", "linkobj", "asmhdr"} {
				for orig, copy := range outs {
					if filepath.Base(copy) != name+"-"+filepath.Base(orig) {
						continue
					}
					data, err := os.ReadFile(copy)
					if err != nil {
						return err
					}
					w.Files = append(w.Files, agentclient.File{Name: name, Data: data})
				}
			}
		}
		if a.mode != "whole" {
			// Sampled verification: the compile runs here too and
			// sends VERDICT; "bad" is a worker whose -o is wrong.
			w.Verify, w.Host = 1, "w:1"
			if a.mode == "wholeverifybad" {
				w.Files[0].Data[len(w.Files[0].Data)/2] ^= 1
			}
		}
		if err := send(c, w); err != nil {
			return err
		}
		for {
			m, err := a.recv(r)
			if err != nil {
				return nil // the compile exited
			}
			v, ok := m.(*agentclient.Verdict)
			if !ok {
				return fmt.Errorf("after WHOLE: %T, want VERDICT", m)
			}
			a.mu.Lock()
			a.verdicts = append(a.verdicts, v)
			a.mu.Unlock()
		}
	case "wholefake":
		// Outputs no compile would write: the compile must take them as
		// they come, and run no compile of its own.
		if err := send(c, &agentclient.Grant{Kind: agentclient.KindWhole}); err != nil {
			return err
		}
		if err := send(c, &agentclient.Whole{Status: agentclient.StatusOK, Output: []byte("from the worker\n"), Files: []agentclient.File{{Name: "o", Data: []byte("not an object")}}}); err != nil {
			return err
		}
		io.Copy(io.Discard, c)
		return nil
	case "wholeextra", "wholeextrafail", "wholedup":
		// An output the compile does not write, or one twice, whatever
		// the exit status: the compile must refuse the WHOLE and compile
		// here (the agent holds no token for it in this fake; the real
		// one would not send it).
		if err := send(c, &agentclient.Grant{Kind: agentclient.KindWhole}); err != nil {
			return err
		}
		w := &agentclient.Whole{Status: agentclient.StatusOK, Files: []agentclient.File{{Name: "o", Data: []byte("not an object")}, {Name: "../../etc/evil", Data: []byte("x")}}}
		switch a.mode {
		case "wholeextrafail":
			w.Exit, w.Output = 2, []byte("p.go:1: made-up error\n")
		case "wholedup":
			w.Files[1] = agentclient.File{Name: "o", Data: []byte("second")}
		}
		if err := send(c, w); err != nil {
			return err
		}
		io.Copy(io.Discard, c)
		return nil
	case "wholefail":
		if err := send(c, &agentclient.Grant{Kind: agentclient.KindWhole}); err != nil {
			return err
		}
		if err := send(c, &agentclient.Whole{Status: agentclient.StatusFailed, Msg: "distssa: worker w:1: whole compile: connection reset"}); err != nil {
			return err
		}
		io.Copy(io.Discard, c) // the compile runs here, holding its token, until it exits
		return nil
	case "silent":
		io.Copy(io.Discard, c) // until the compile gives up
		return nil
	case "grant0", "grant0close":
		if err := send(c, &agentclient.Grant{N: 0, Reason: "no hosts in hosts.txt"}); err != nil {
			return err
		}
		if a.mode == "grant0" {
			io.Copy(io.Discard, c)
		}
		return nil
	}
	const n = 2
	var ws []*fakeWorker
	if a.mode == "ok" {
		// The workers start at once, so that their front ends run while
		// the client's does.
		for i := 0; i < n; i++ {
			w := &fakeWorker{}
			if w.dir, err = os.MkdirTemp("", "agtw"); err != nil {
				return err
			}
			defer os.RemoveAll(w.dir)
			w.cmd = exec.Command(h.Compile, append([]string{"-distssaworker=" + w.dir}, h.Args...)...)
			w.cmd.Dir = h.Cwd
			w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
			if w.stdin, err = w.cmd.StdinPipe(); err != nil {
				return err
			}
			if err := w.cmd.Start(); err != nil {
				return err
			}
			defer w.cmd.Process.Kill()
			ws = append(ws, w)
		}
	}
	if err := send(c, &agentclient.Grant{N: n, Verify: verify}); err != nil {
		return err
	}
	jobs := make([][]byte, n)
	for i := 0; i < n; i++ {
		m, err := a.recv(r)
		if err != nil {
			return fmt.Errorf("reading JOB %d: %v", i, err)
		}
		j, ok := m.(*agentclient.Job)
		if !ok || j.Worker >= n || jobs[j.Worker] != nil {
			return fmt.Errorf("message %d: %+v, want a JOB for a new worker", i, m)
		}
		jobs[j.Worker] = append(j.Data, 0)[:len(j.Data)] // non-nil even if empty
	}
	switch a.mode {
	case "hangup":
		return nil // closes the connection with RESULTs outstanding
	case "fail":
		for i, j := range jobs {
			if len(j) > 0 {
				if err := send(c, &agentclient.Result{Worker: uint64(i), Status: agentclient.StatusFailed, Data: []byte("host h1:7000: connection refused")}); err != nil {
					return err
				}
			}
		}
	case "ok":
		for i, j := range jobs {
			w := ws[i]
			w.stdin.Write(j)
			w.stdin.Close()
		}
		for i, j := range jobs {
			w := ws[i]
			err := w.cmd.Wait()
			if len(j) == 0 {
				continue
			}
			res := &agentclient.Result{Worker: uint64(i)}
			if err == nil {
				res.Data, err = os.ReadFile(filepath.Join(w.dir, resultFile))
			}
			if err != nil {
				res.Status, res.Data = agentclient.StatusFailed, []byte(fmt.Sprintf("localhost: %v: %s", err, lastLine(w.out.String())))
				if err := send(c, res); err != nil {
					return err
				}
				continue
			}
			// The result in two pieces, cut inside a chunk, as a
			// streaming worker's may come, then the RESULT that ends it.
			data, half := res.Data, len(res.Data)/2
			for _, b := range [][]byte{data[:half], data[half:], nil} {
				res.Data = b
				if err := send(c, res); err != nil {
					return err
				}
			}
		}
	}
	m, err = a.recv(r)
	if err != nil {
		return fmt.Errorf("reading STATS: %v", err)
	}
	st, ok := m.(*agentclient.Stats)
	if !ok {
		return fmt.Errorf("got %T, want STATS", m)
	}
	a.mu.Lock()
	a.stats = append(a.stats, st)
	a.mu.Unlock()
	if verify != 0 {
		// The verifying compile's VERDICT comes at exit.
		m, err := a.recv(r)
		if err != nil {
			return fmt.Errorf("reading VERDICT: %v", err)
		}
		v, ok := m.(*agentclient.Verdict)
		if !ok {
			return fmt.Errorf("got %T, want VERDICT", m)
		}
		a.mu.Lock()
		a.verdicts = append(a.verdicts, v)
		a.mu.Unlock()
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return fmt.Errorf("after STATS: %v, want EOF", err)
	}
	return nil
}

var statsDetail = regexp.MustCompile(`(?m)^distssa: p: local: (.*)$`)

// TestAgent compiles through a fake agent that gives the compile two
// workers of its own binary: some functions go remote and the object is
// the local compile's; an agent that grants none, never answers, hangs
// up or fails its workers, and a socket nobody listens on, all leave
// the object unchanged, with the reason in the statistics.
func TestAgent(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	t.Setenv("DISTSSA_TEST_QUEUE_TIMEOUT", "500ms")
	t.Setenv("DISTSSA_TEST_RESULT_TIMEOUT", "2m")
	dir := t.TempDir()
	flags := []string{"-dwarf=false"}
	want, msg, err := compileSrc(t, dir, splitSrc, flags...)
	if err != nil {
		t.Fatalf("local compile: %v\n%s", err, msg)
	}
	run := func(t *testing.T, name, socket string) (remote int, local, details string) {
		t.Helper()
		t0 := time.Now()
		// compileSrc names the object after the flags: keep the
		// socket's slashes out of it.
		// Under distssaforce the compile takes no share and takes none
		// back, so that every function goes to a worker.
		got, msg, err := compileAgentSrc(t, dir, socket, append(flags, "-d=distssaforce=1,distssastats=2")...)
		if err != nil {
			t.Fatalf("%s: compile failed: %v\n%s", name, err, msg)
		}
		if d := time.Since(t0); d > time.Minute {
			t.Errorf("%s: the compile took %v", name, d)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: object differs from the local compile", name)
		}
		m := statsLine.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("%s: no statistics line in:\n%s", name, msg)
		}
		var ds []string
		for _, d := range statsDetail.FindAllStringSubmatch(msg, -1) {
			ds = append(ds, d[1])
		}
		n, _ := strconv.Atoi(m[1])
		t.Logf("%s", msg)
		return n, m[3], strings.Join(ds, "\n")
	}

	t.Run("ok", func(t *testing.T) {
		a := startFakeAgent(t, "ok")
		remote, local, _ := run(t, "ok", a.socket)
		if remote < 2 {
			t.Errorf("%d functions remote, want at least 2 (local: %s)", remote, local)
		}
		a.ln.Close()
		a.wg.Wait()
		if len(a.errs) > 0 {
			t.Errorf("agent: %v", a.errs)
		}
		if len(a.hellos) != 1 || len(a.stats) != 1 {
			t.Fatalf("agent saw %d HELLOs and %d STATS, want 1 each", len(a.hellos), len(a.stats))
		}
		h, st := a.hellos[0], a.stats[0]
		if h.Version != agentclient.Version || !filepath.IsAbs(h.Compile) || h.Cwd != dir {
			t.Errorf("HELLO %+v: want version %d, an absolute compile path, cwd %s", h, agentclient.Version, dir)
		}
		if !contains(h.Args, "-distssa=unix:"+a.socket) {
			t.Errorf("HELLO args %q lack the -distssa flag", h.Args)
		}
		for _, e := range h.Env {
			if !strings.HasPrefix(e, "GO") {
				t.Errorf("HELLO env has %q", e)
			}
		}
		if st.PkgPath != "p" || int(st.Remote) != remote || st.Funcs < st.Remote || st.Cost < st.RemoteCost || st.RemoteCost == 0 || st.ResultBytes == 0 {
			t.Errorf("STATS %+v, want package p with %d functions remote", st, remote)
		}
		// The phases: the compile's own, each of its names, and those of
		// a worker, which came with its result.
		names := map[uint64]map[string]bool{}
		for _, p := range st.Phases {
			if names[p.Worker] == nil {
				names[p.Worker] = map[string]bool{}
			}
			names[p.Worker][p.Name] = true
		}
		for _, n := range clientPhases {
			if !names[0][n] {
				t.Errorf("STATS has no phase %q of the compile: %+v", n, st.Phases)
			}
		}
		if w := names[1]; len(w) != len(workerPhases) {
			t.Errorf("STATS has worker 1's phases %v, want %q", w, workerPhases)
		}
	})

	for _, tc := range []struct {
		mode, reason, detail string
	}{
		{"grant0", "agent granted 0", "no hosts in hosts.txt"},
		{"grant0close", "agent granted 0", "no hosts in hosts.txt"},
		{"silent", "no grant", "timeout"},
		{"hangup", "worker failed", "agent closed the connection"},
		{"fail", "worker failed", "host h1:7000: connection refused"},
		{"wholefail", "agent granted 0", "whole compile failed: distssa: worker w:1: whole compile: connection reset"},
		{"nosocket", "no grant", "cannot reach the agent"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			socket := filepath.Join(t.TempDir(), "none.sock")
			var a *fakeAgent
			if tc.mode != "nosocket" {
				a = startFakeAgent(t, tc.mode)
				socket = a.socket
			}
			remote, local, details := run(t, tc.mode, socket)
			if remote != 0 || !strings.Contains(local, tc.reason+"=") || !strings.Contains(details, tc.reason+": ") || !strings.Contains(details, tc.detail) {
				t.Errorf("%d remote, local: %s, details:\n%s\nwant 0 remote, reason %q with %q", remote, local, details, tc.reason, tc.detail)
			}
			if a != nil {
				a.ln.Close()
				a.wg.Wait()
				if a.conns != 1 {
					t.Errorf("agent saw %d connections, want 1", a.conns)
				}
				if len(a.errs) > 0 {
					t.Errorf("agent: %v", a.errs)
				}
			}
		})
	}

	// A compile that may not split (here: -S, whose listing is printed
	// by the backend) still asks the agent, for its local token and
	// because it may run whole on a worker; it says it cannot split.
	t.Run("S", func(t *testing.T) {
		a := startFakeAgent(t, "ok")
		_, msg, err := compileAgentSrc(t, dir, a.socket, "-S", "-d=distssastats=1")
		if m := statsLine.FindStringSubmatch(msg); err != nil || m == nil || m[1] != "0" || !strings.HasPrefix(m[3], "-S=") {
			t.Errorf("with -S: err=%v, output:\n%s", err, msg)
		}
		a.ln.Close()
		a.wg.Wait()
		if len(a.hellos) != 1 || a.hellos[0].Caps != agentclient.CanWhole || len(a.errs) > 0 {
			t.Errorf("agent saw %d HELLOs (caps %v), errors %v; want one, whole but no split", len(a.hellos), a.hellos, a.errs)
		}
	})
}

// TestAgentWhole: a compile placed whole writes the worker's outputs and
// prints its output, without running its own front end: the object, and
// the diagnostics and exit status of a failing compile, are the local
// compile's. -S and -m, which keep a split local, travel whole.
func TestAgentWhole(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src string
		flags     []string
	}{
		{"ok", splitSrc, []string{"-dwarf=false"}},
		{"S", splitSrc, []string{"-S"}},
		{"m", splitSrc, []string{"-m=2"}},
		{"error", "package p\n\nfunc f() int { return \"x\" }\n\nvar v undefinedName\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantMsg, wantErr := compileSrc(t, dir, tc.src, tc.flags...)
			a := startFakeAgent(t, "whole")
			got, msg, err := compileAgentText(t, dir, a.socket, tc.src, tc.flags...)
			a.ln.Close()
			a.wg.Wait()
			if len(a.errs) > 0 {
				t.Fatalf("agent: %v", a.errs)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("object (%d bytes) differs from the local compile's (%d bytes)", len(got), len(want))
			}
			if msg != wantMsg {
				t.Errorf("output:\n%s\nwant the local compile's:\n%s", msg, wantMsg)
			}
			if exitCode(err) != exitCode(wantErr) {
				t.Errorf("exit: %v, want the local compile's %v", err, wantErr)
			}
			if tc.name == "error" && (err == nil || len(got) != 0) {
				t.Errorf("a failing compile: %v, %d bytes of object; want a failure and no object", err, len(got))
			}
		})
	}
}

// TestAgentWholeAsIs: a compile placed whole writes WHOLE's files and
// output as they are and exits with its status: it compiles nothing
// itself (no front end, no verification unless -d=distssaverify=1).
// TestAgentVerify checks sampled verification. A whole compile chosen
// for it runs here all the same, keeps its own object and tells the
// agent whether the worker's was the same; a split chosen for it
// compiles again locally at its end, and a worker whose result is valid
// but wrong (the skew fault) does not fail the compile, whose object is
// the local one.
func TestAgentVerify(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	t.Setenv("DISTSSA_TEST_RESULT_TIMEOUT", "2m")
	dir := t.TempDir()
	want, _, err := compileSrc(t, dir, splitSrc, "-dwarf=false")
	if err != nil {
		t.Fatal(err)
	}
	split := []string{"-dwarf=false", "-d=distssaforce=1,distssastats=1"}
	for _, tc := range []struct {
		mode, fault string
		match       uint64
		msg         string
	}{
		{"wholeverify", "", 1, ""},
		{"wholeverifybad", "", 0, "-o differs at byte "},
		{"okverify", "", 1, ""},
		{"okverify", "skew", 0, "differs from a local compile's"},
	} {
		t.Run(tc.mode+tc.fault, func(t *testing.T) {
			t.Setenv("DISTSSA_TEST_FAULT", tc.fault)
			flags := []string{"-dwarf=false"}
			if tc.mode == "okverify" {
				flags = split
			}
			a := startFakeAgent(t, tc.mode)
			got, msg, err := compileAgentText(t, dir, a.socket, splitSrc, flags...)
			a.ln.Close()
			a.wg.Wait()
			if err != nil || len(a.errs) > 0 {
				t.Fatalf("compile: %v, output %q, agent %v", err, msg, a.errs)
			}
			if m := statsLine.FindStringSubmatch(msg); tc.mode == "okverify" && (m == nil || m[1] == "0") {
				t.Fatalf("no function went remote:\n%s", msg)
			} else if tc.mode != "okverify" && msg != "" {
				t.Errorf("output %q", msg)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("object differs from the local compile's")
			}
			if len(a.verdicts) != 1 || a.verdicts[0].Match != tc.match || !strings.Contains(a.verdicts[0].Msg, tc.msg) {
				t.Fatalf("verdicts %+v, want one with match %d and %q", a.verdicts, tc.match, tc.msg)
			}
		})
	}
}

// TestAgentWholeOutputNames checks that a WHOLE naming an output this
// compile does not write is refused: the compile runs here instead, and
// writes nothing of the WHOLE's.
func TestAgentWholeOutputNames(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	want, _, err := compileSrc(t, dir, splitSrc)
	if err != nil {
		t.Fatal(err)
	}
	// The names are checked whatever the exit status: a failed compile's
	// WHOLE naming another output is refused too, and so is one that
	// names an output twice.
	for _, mode := range []string{"wholeextra", "wholeextrafail", "wholedup"} {
		a := startFakeAgent(t, mode)
		got, msg, err := compileAgentText(t, dir, a.socket, splitSrc)
		a.ln.Close()
		a.wg.Wait()
		if err != nil || msg != "" || !bytes.Equal(got, want) {
			t.Errorf("%s: compile: %v, output %q, object equal to the local compile's: %v", mode, err, msg, bytes.Equal(got, want))
		}
	}
}

func TestAgentWholeAsIs(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	a := startFakeAgent(t, "wholefake")
	got, msg, err := compileAgentSrc(t, dir, a.socket)
	a.ln.Close()
	a.wg.Wait()
	if err != nil || msg != "from the worker\n" || string(got) != "not an object" {
		t.Errorf("compile: %v, output %q, object %q; want the fake agent's", err, msg, got)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// compileAgentSrc compiles splitSrc with -distssa=unix:socket and flags
// into dir/p_agent.o; it returns what compileSrc returns.
func compileAgentSrc(t *testing.T, dir, socket string, flags ...string) ([]byte, string, error) {
	t.Helper()
	return compileAgentText(t, dir, socket, splitSrc, flags...)
}

// compileAgentText is compileAgentSrc for the source text.
func compileAgentText(t *testing.T, dir, socket, text string, flags ...string) ([]byte, string, error) {
	t.Helper()
	src := filepath.Join(dir, "p.go")
	if err := os.WriteFile(src, []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "p_agent.o")
	os.Remove(out)
	args := append([]string{"tool", "compile", "-p=p", "-o", out, "-distssa=unix:" + socket}, flags...)
	args = append(args, src)
	cmd := testenv.Command(t, testenv.GoToolPath(t), args...)
	cmd.Dir = dir
	msg, err := cmd.CombinedOutput()
	obj, _ := os.ReadFile(out)
	return obj, string(msg), err
}
