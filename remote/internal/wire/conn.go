// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

// The connection: the agent's side of a connection to a worker, its
// handshake (version, capabilities, the challenge-response on the token
// and the toolchain identity) and its round trips. The worker's side of
// the handshake is in accept.go.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Refusal is a refusal, not a fault of the connection: an Error message
// of the worker, or the agent's own refusal of a worker in the handshake
// (one that does not prove the token, or wants one the agent lacks).
// Nothing in a build changes a refusal, unlike a fault of the host or
// the network, which passes.
type Refusal string

func (e Refusal) Error() string { return string(e) }

// Unexpected is the error of an answer of the wrong type: the worker's
// Error is a Refusal, its Throttle a Throttled.
func Unexpected(m any) error {
	switch m := m.(type) {
	case *Error:
		return Refusal(m.Msg)
	case *Throttle:
		return &Throttled{Msg: m.Msg, For: time.Duration(min(m.ForNs, math.MaxInt64))}
	}
	return fmt.Errorf("unexpected message %T", m)
}

// NeedCaps are the capabilities that every task needs of a worker:
// every payload is zstd, every input addressed by its sha256. A whole
// compile (RunWhole) needs CapWhole too; a split (Start) is the protocol's
// own.
var NeedCaps = []string{"zstd", "sha256"}

// CapWhole is the capability of whole compiles (RunWhole).
const CapWhole = "whole"

// CapStream is the capability of a split job's result in Chunks: a
// worker streams it to an agent whose Hello has it, when it has it too.
const CapStream = "stream"

// Identity is a toolchain identity: the compile binary's hash and
// target. A connection of the zero Identity may ask only for the
// worker's statistics.
type Identity struct {
	Hash         []byte
	GOOS, GOARCH string
}

// Key is the identity as a string, for pools of connections.
func (id Identity) Key() string { return fmt.Sprintf("%x/%s/%s", id.Hash, id.GOOS, id.GOARCH) }

// Dialer says how to reach a worker.
type Dialer struct {
	Addr             string
	Token            []byte      // nil: no token
	TLS              *tls.Config // nil: plain TCP
	TLSFile          string      // for messages: the file of TLS's root certificates
	CertFile         string      // for messages: the client certificate, if any
	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	Stall            time.Duration        // a worker silent this long in a round trip has stalled
	Count            func(sent, recv int) // counts the bytes of each message; nil for none
}

// Conn is a connection to a worker, past its handshake.
type Conn struct {
	NC       net.Conn
	Caps     []string // the worker's capabilities (its Challenge)
	ProofKey []byte   // ProofKey of the handshake

	addr        string
	stall       time.Duration
	count       func(sent, recv int)
	interrupted atomic.Bool
	heard       atomic.Int64 // while an answer is owed: when the worker last spoke (or was asked), in Unix ns; else 0
}

// Silence is how long the worker has said nothing while it owes an
// answer (0 if it owes none).
func (c *Conn) Silence() time.Duration {
	if t := c.heard.Load(); t != 0 {
		return time.Since(time.Unix(0, t))
	}
	return 0
}

// Has tells whether the worker has the capability.
func (c *Conn) Has(name string) bool {
	for _, x := range c.Caps {
		if x == name {
			return true
		}
	}
	return false
}

// Interrupt fails the connection's pending and later reads and writes
// at once: its compile went away.
func (c *Conn) Interrupt() {
	c.interrupted.Store(true)
	c.NC.SetDeadline(time.Now())
}

// Dial connects and runs the handshake for the identity. A compile that
// goes away (ctx) interrupts it.
func (d *Dialer) Dial(ctx context.Context, id Identity) (*Conn, error) {
	nd := net.Dialer{Timeout: d.DialTimeout}
	nc, err := nd.DialContext(ctx, "tcp", d.Addr)
	if err != nil {
		return nil, err
	}
	if d.TLS != nil {
		tc := tls.Client(nc, d.TLS)
		hctx, cancel := context.WithTimeout(ctx, d.HandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, d.tlsError(err)
		}
		nc = tc
	}
	c := &Conn{NC: nc, addr: d.Addr, stall: d.Stall, count: d.Count}
	// A compile that goes away interrupts the handshake.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	if err := d.handshake(c, id); err != nil {
		nc.Close()
		var r Refusal
		if errors.As(err, &r) {
			return nil, err // the worker's refusal says it all
		}
		if d.TLS == nil && errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("handshake: connection closed (does the worker want TLS? see the tls= option)")
		}
		if d.TLS != nil {
			// TLS 1.3 tells the client that the worker rejected its
			// certificate only at its first read, here.
			if err := d.tlsError(err); errors.As(err, &r) {
				return nil, err
			}
		}
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return c, nil
}

// tlsError says what failed in a TLS handshake. A certificate that does
// not verify and an alert of the worker's (it rejected this agent's
// certificate, or its lack of one) are refusals: nothing in the build
// changes them. Other errors are faults of the connection.
func (d *Dialer) tlsError(err error) error {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return Refusal(fmt.Sprintf("tls: the worker's certificate does not verify against %s: %v", d.TLSFile, ve.Err))
	}
	if isRemoteAlert(err) {
		var oe *net.OpError
		errors.As(err, &oe)
		hint := "the worker wants a client certificate: see the cert= and key= options"
		if d.CertFile != "" {
			hint = fmt.Sprintf("the worker did not take the client certificate %s: is it signed by a CA of the worker's -tls-client-ca?", d.CertFile)
		}
		return Refusal(fmt.Sprintf("%v (%s)", oe.Err, hint))
	}
	return fmt.Errorf("tls: %v", err)
}

// isRemoteAlert tells whether err is a TLS alert of the peer's.
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// ClientTLS makes the TLS configuration of a worker at addr: its
// certificate must verify against the PEM certificates of tlsFile, for
// the host's name; with certFile and keyFile, the agent shows that
// client certificate.
func ClientTLS(addr, tlsFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(tlsFile)
	if err != nil {
		return nil, fmt.Errorf("tls file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls file %s holds no PEM certificate", tlsFile)
	}
	name, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS13}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %v", certFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func (d *Dialer) handshake(c *Conn, id Identity) error {
	c.NC.SetDeadline(time.Now().Add(d.HandshakeTimeout))
	nonce := make([]byte, 32)
	rand.Read(nonce)
	if err := c.Send(&Hello{Version: Version, Caps: Caps, Nonce: nonce,
		Toolchain: id.Hash, GOOS: id.GOOS, GOARCH: id.GOARCH}); err != nil {
		return err
	}
	m, err := c.Recv()
	if err != nil {
		return err
	}
	ch, ok := m.(*Challenge)
	if !ok {
		return Unexpected(m)
	}
	if ch.Version != Version {
		return Refusal(fmt.Sprintf("worker at %s speaks protocol version %d, this agent version %d: install the same distssa on both", c.addr, ch.Version, Version))
	}
	c.Caps = ch.Caps
	var lack []string
	for _, x := range NeedCaps {
		if !c.Has(x) && len(id.Hash) > 0 { // a statistics connection needs none
			lack = append(lack, x)
		}
	}
	if len(lack) > 0 {
		return Refusal(fmt.Sprintf("worker at %s lacks the capabilities %s (it has %q)", c.addr, strings.Join(lack, ", "), ch.Caps))
	}
	// A token held is a token the worker must prove it knows. One that
	// does not ask for it gets no MAC of ours, which a relay could
	// replay to the real worker.
	authed := len(d.Token) > 0
	switch {
	case ch.Auth && !authed:
		return Refusal("worker requires a token: give one with ,token=FILE in the hosts file or DISTSSA_TOKEN")
	case !ch.Auth && authed:
		return Refusal(fmt.Sprintf("worker at %s does not ask for the token this agent holds: refusing it (impostor?)", c.addr))
	}
	var mac []byte
	if authed {
		mac = ClientMAC(d.Token, nonce, ch.Nonce)
	}
	if err := c.Send(&Auth{MAC: mac}); err != nil {
		return err
	}
	if m, err = c.Recv(); err != nil {
		return err
	}
	w, ok := m.(*Welcome)
	if !ok {
		return Unexpected(m)
	}
	if authed && !CheckMAC(w.MAC, ServerMAC(d.Token, nonce, ch.Nonce)) {
		return Refusal(fmt.Sprintf("worker at %s failed to prove it knows the token: refusing it (impostor?)", c.addr))
	}
	c.ProofKey = ProofKey(d.Token, nonce, ch.Nonce)
	c.NC.SetDeadline(time.Time{})
	return nil
}

// Send writes m.
func (c *Conn) Send(m any) error {
	n, err := Write(c.NC, m)
	if c.count != nil {
		c.count(n, 0)
	}
	return err
}

// Recv reads a message.
func (c *Conn) Recv() (any, error) {
	m, n, err := Read(c.NC)
	if c.count != nil {
		c.count(0, n)
	}
	return m, err
}

// RoundTrip sends m and reads the answer within timeout. Until then the
// worker says Working every few seconds; a worker silent for the stall
// timeout has stalled, and the read fails with a timeout (a host fault).
func (c *Conn) RoundTrip(m any, timeout time.Duration) (any, error) {
	end := time.Now().Add(timeout)
	c.NC.SetDeadline(end)
	if err := c.Send(m); err != nil {
		return nil, err
	}
	return c.Next(end)
}

// Next reads the next answer of a round trip whose answer comes in
// several messages (a streamed result's Chunks, then its Result), by
// end, with the same keep-alives and stall timeout as RoundTrip.
func (c *Conn) Next(end time.Time) (any, error) {
	c.heard.Store(time.Now().UnixNano())
	for {
		d := end
		if s := time.Now().Add(c.stall); c.stall > 0 && s.Before(d) {
			d = s
		}
		c.NC.SetReadDeadline(d)
		if c.interrupted.Load() { // after the deadline: an interrupt before it is not lost
			c.NC.SetReadDeadline(time.Now())
		}
		m, err := c.Recv()
		if err != nil {
			return nil, err
		}
		if _, ok := m.(*Working); !ok {
			c.heard.Store(0)
			return m, nil
		}
		c.heard.Store(time.Now().UnixNano())
	}
}
