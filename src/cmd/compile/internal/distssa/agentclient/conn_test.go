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

	// A short directory: a socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "agc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "a.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
