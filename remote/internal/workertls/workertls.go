// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package workertls is the worker daemon's side of TLS: a listener whose
// connections, when their handshake fails, close without destroying the
// alert that tells the client why.
//
// In TLS 1.3 a client learns that the server rejected its certificate
// (or its lack of one) only when it next reads; by then it has already
// sent its first message (the agent's Hello). A server that closes with
// that message unread resets the connection, and the reset can discard
// the alert before the client reads it: the client then sees "connection
// reset by peer" instead of "certificate required". So a connection whose
// handshake failed stops writing, reads and discards what the client
// still sends for a moment (Linger, 64 KiB at most), and only then
// closes.
package workertls

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// Linger bounds how long a connection whose handshake failed stays open
// after the server closes it.
const Linger = 500 * time.Millisecond

// NewListener serves TLS with cfg on the connections of inner.
func NewListener(inner net.Listener, cfg *tls.Config) net.Listener {
	return &listener{Listener: inner, cfg: cfg}
}

type listener struct {
	net.Listener
	cfg *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: tls.Server(c, l.cfg), raw: c}, nil
}

// conn is a server-side TLS connection that remembers whether its
// handshake failed (at the first Read, which is where the worker runs
// it) for Close.
type conn struct {
	*tls.Conn
	raw    net.Conn
	done   atomic.Bool // the handshake ran
	failed atomic.Bool // and failed
}

func (c *conn) Read(b []byte) (int, error) {
	if !c.done.Load() {
		err := c.Conn.Handshake()
		c.failed.Store(err != nil)
		c.done.Store(true)
		if err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

// Close closes the connection; after a failed handshake it lingers (in
// the background, so that Close does not block).
func (c *conn) Close() error {
	tc, ok := c.raw.(*net.TCPConn)
	if !c.failed.Load() || !ok {
		return c.Conn.Close()
	}
	tc.CloseWrite()
	tc.SetReadDeadline(time.Now().Add(Linger))
	go func() {
		io.Copy(io.Discard, io.LimitReader(tc, 64<<10))
		tc.Close()
	}()
	return nil
}
