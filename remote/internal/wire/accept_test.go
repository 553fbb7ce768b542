// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestAccept: the agent's side of the handshake (Dialer.Dial) meets the
// worker's (Acceptor.Accept). With the right token both get one proof
// key and the worker's Welcome; a wrong or missing token, and a refusal
// of Admit or Welcome, reach the agent as the worker's refusal (a
// throttle as a Throttled), and Authed hears of the token check only
// when there is a token.
func TestAccept(t *testing.T) {
	id := Identity{Hash: []byte{1}, GOOS: "linux", GOARCH: "amd64"}
	for _, tc := range []struct {
		name          string
		worker, agent []byte // tokens
		admit         error  // of Admit, if any
		refuse        string // Welcome's error, if any
		authed        string // what Authed heard
		want          string // the agent's error, if any
	}{
		{name: "token", worker: []byte("s3cret"), agent: []byte("s3cret"), authed: "ok"},
		{name: "no token", authed: ""},
		{name: "wrong token", worker: []byte("s3cret"), agent: []byte("guess"), authed: "failed", want: "authentication failed: wrong token"},
		{name: "missing token", worker: []byte("s3cret"), agent: []byte{}, authed: "",
			want: "worker requires a token"}, // the agent refuses before it sends Auth
		{name: "admit", admit: Refusal("source refused"), want: "source refused"},
		{name: "throttle", admit: ThrottleOf("127.0.0.1", 5*time.Second), want: "too many failed authentications from 127.0.0.1: refused for 5s more"},
		{name: "welcome", worker: []byte("s3cret"), agent: []byte("s3cret"), refuse: "toolchain mismatch", authed: "ok", want: "toolchain mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type accepted struct {
				key    []byte
				authed string
				hello  *Hello
				err    error
			}
			done := make(chan accepted, 1)
			go func() {
				var r accepted
				defer func() { done <- r }()
				nc, err := ln.Accept()
				if err != nil {
					r.err = err
					return
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				a := &Acceptor{
					Token: tc.worker,
					Recv: func() (any, error) {
						m, _, err := ReadMax(nc, MaxHandshakeFrame)
						return m, err
					},
					Send: func(m any) error { _, err := Write(nc, m); return err },
					Admit: func(h *Hello) error {
						r.hello = h
						return tc.admit
					},
					Authed: func(ok bool) {
						r.authed = map[bool]string{true: "ok", false: "failed"}[ok]
					},
					Welcome: func(h *Hello) (*Welcome, error) {
						if tc.refuse != "" {
							return nil, Refusal(tc.refuse)
						}
						return &Welcome{Slots: 3, Name: "w"}, nil
					},
				}
				r.key, r.err = a.Accept()
				if r.err != nil {
					Write(nc, Refuse(r.err))
				}
			}()
			d := &Dialer{Addr: ln.Addr().String(), Token: tc.agent, DialTimeout: 5 * time.Second, HandshakeTimeout: 10 * time.Second}
			c, err := d.Dial(context.Background(), id)
			if c != nil {
				c.NC.Close()
			}
			r := <-done
			if r.authed != tc.authed {
				t.Errorf("Authed heard %q, want %q", r.authed, tc.authed)
			}
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Dial: %v, want an error with %q", err, tc.want)
				}
				var th *Throttled
				if _, want := tc.admit.(*Throttled); errors.As(err, &th) != want || want && th.For != 5*time.Second {
					t.Errorf("Dial: %#v, want a throttle: %v", err, want)
				}
				return
			}
			if err != nil || r.err != nil {
				t.Fatalf("Dial: %v; Accept: %v", err, r.err)
			}
			if r.hello == nil || !bytes.Equal(r.hello.Toolchain, id.Hash) || r.hello.GOOS != id.GOOS || r.hello.GOARCH != id.GOARCH {
				t.Errorf("the worker read Hello %+v, want identity %+v", r.hello, id)
			}
			if len(r.key) == 0 || !bytes.Equal(r.key, c.ProofKey) {
				t.Errorf("proof keys differ: worker %x, agent %x", r.key, c.ProofKey)
			}
		})
	}
}

// TestAcceptOrder: a worker refuses a Hello of another version, and a
// message out of the handshake's order, naming what it got.
func TestAcceptOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []any
		want string
	}{
		{"version", []any{&Hello{Version: Version + 1}}, fmt.Sprintf("protocol version %d not supported (worker speaks %d)", Version+1, Version)},
		{"no hello", []any{&Auth{}}, "expected hello, got *wire.Auth"},
		{"no auth", []any{&Hello{Version: Version}, &Hello{Version: Version}}, "expected auth, got *wire.Hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent []any
			a := &Acceptor{
				Recv: func() (any, error) {
					m := tc.msgs[0]
					tc.msgs = tc.msgs[1:]
					return m, nil
				},
				Send: func(m any) error { sent = append(sent, m); return nil },
				Welcome: func(*Hello) (*Welcome, error) {
					t.Error("Welcome called")
					return &Welcome{}, nil
				},
			}
			if _, err := a.Accept(); err == nil || err.Error() != tc.want {
				t.Errorf("Accept: %v, want %q", err, tc.want)
			}
			for _, m := range sent {
				if _, ok := m.(*Challenge); !ok {
					t.Errorf("sent %T", m)
				}
			}
		})
	}
}
