// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agentclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// listenUnix listens on a unix socket in a new short directory (a
// socket path is limited to 108 bytes), both removed when the test ends.
func listenUnix(t *testing.T) (net.Listener, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "agc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "a.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, socket
}

// TestConnGolden runs a connection, and so the dial, against an agent on
// a unix socket that speaks in golden frames: it expects HELLO of the
// golden version, places the compile whole, sends the golden WHOLE, and
// expects the golden VERDICT of a match.
func TestConnGolden(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the agent transport is implemented on linux only")
	}
	frames := goldenFrames(t)
	find := func(want Msg) []byte {
		t.Helper()
		for i, m := range goldenMsgs {
			if reflect.DeepEqual(m, want) {
				return frames[i]
			}
		}
		t.Fatalf("no golden frame for %+v", want)
		return nil
	}
	grant := find(&Grant{Kind: KindWhole})
	whole := &Whole{Status: StatusOK, Exit: 2, Output: []byte("e\n"), Files: []File{{Name: "o", Data: []byte{1, 2}}}}
	wholeFrame := find(whole)
	verdict := find(&Verdict{Match: 1})
	version := goldenMsgs[0].(*Hello).Version

	ln, socket := listenUnix(t)
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			r := bufio.NewReader(c)
			m, err := Read(r)
			if h, ok := m.(*Hello); err != nil || !ok || h.Version != version || h.Caps != CanWhole {
				return fmt.Errorf("first message %+v, %v; want HELLO version %d (the golden HELLO's), caps whole", m, err, version)
			}
			if _, err := c.Write(append(append([]byte(nil), grant...), wholeFrame...)); err != nil {
				return err
			}
			got := make([]byte, len(verdict))
			if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, verdict) {
				return fmt.Errorf("VERDICT frame %x, %v; want the golden %x", got, err, verdict)
			}
			return nil
		}()
	}()
	c := Dial(socket, CanWhole)
	agent := func() error { // once the test failed: close, hear why
		c.fail(errors.New("the test gave up"))
		return <-done
	}
	g, ok := c.AwaitGrant()
	if !ok || g.Kind != KindWhole {
		t.Fatalf("GRANT %+v, %v (%v); want a whole placement; agent: %v", g, ok, c.failure(), agent())
	}
	w, err := c.AwaitWhole()
	if err != nil || !reflect.DeepEqual(&w, whole) {
		t.Fatalf("WHOLE %+v, %v; want %+v; agent: %v", w, err, whole, agent())
	}
	c.SendVerdict(nil)
	if err := <-done; err != nil {
		t.Errorf("agent: %v", err)
	}
}

// TestWorkerPieces: a worker's result comes in RESULTs, as the agent
// forwards the pieces of a streamed result, interleaved with another
// worker's, and an empty RESULT ends it; a worker whose result the
// compile gives up before its end is stopped with an empty JOB after
// its job.
func TestWorkerPieces(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the agent transport is implemented on linux only")
	}
	ln, socket := listenUnix(t)
	sent := make(chan struct{}) // the agent sent the RESULTs
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			r := bufio.NewReader(c)
			if m, err := Read(r); err != nil {
				return fmt.Errorf("HELLO: %v %v", m, err)
			}
			if err := Write(c, &Grant{N: 2}); err != nil {
				return err
			}
			for i := 0; i < 2; i++ {
				if m, err := Read(r); err != nil || len(m.(*Job).Data) == 0 {
					return fmt.Errorf("JOB %d: %+v %v", i, m, err)
				}
			}
			for _, res := range []*Result{
				{Worker: 0, Data: []byte("ab")},
				{Worker: 1, Data: []byte("x")},
				{Worker: 0, Data: []byte("cd")},
				{Worker: 0},
			} {
				if err := Write(c, res); err != nil {
					return err
				}
			}
			close(sent)
			m, err := Read(r)
			if j, ok := m.(*Job); err != nil || !ok || j.Worker != 1 || len(j.Data) != 0 {
				return fmt.Errorf("after the RESULTs: %+v %v; want an empty JOB for worker 1", m, err)
			}
			return nil
		}()
	}()
	c := Dial(socket, CanSplit)
	if g, ok := c.AwaitGrant(); !ok || g.N != 2 {
		t.Fatalf("GRANT %+v %v (%v)", g, ok, c.failure())
	}
	c.PutGrant(Grant{N: 2})
	ws, _, reason := c.Workers()
	if len(ws) != 2 {
		t.Fatalf("%d workers (%s)", len(ws), reason)
	}
	for _, w := range ws {
		w.Send([]byte("job"))
		w.Close()
	}
	select {
	case <-sent:
	case err := <-done:
		t.Fatalf("agent: %v", err)
	}
	var got []byte
	for end := false; !end; {
		var data []byte
		var err error
		data, end, _, err = ws[0].Recv(true)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, data...)
	}
	if string(got) != "abcd" {
		t.Errorf("worker 0's result %q, want %q", got, "abcd")
	}
	if data, end, _, err := ws[1].Recv(true); string(data) != "x" || end || err != nil {
		t.Errorf("worker 1: %q end %v err %v; want %q and more to come", data, end, err, "x")
	}
	ws[1].Cancel()
	if err := <-done; err != nil {
		t.Errorf("agent: %v", err)
	}
	if data, end, _, _ := ws[1].Recv(true); len(data) != 0 || !end {
		t.Errorf("worker 1 after Cancel: %q end %v; want nothing, and the end", data, end)
	}
}
