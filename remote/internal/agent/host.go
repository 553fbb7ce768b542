// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/wire"
)

// host is a worker daemon with its slots (guarded by Agent.mu), its
// backoff state and its pool of idle connections (guarded by mu).
type host struct {
	hosts.Host
	token []byte
	tls   *tls.Config // nil: plain TCP

	free      int               // Agent.mu
	downUntil time.Time         // Agent.mu
	refused   map[string]string // Agent.mu: handshake refusals by target (see refuse)
	noWhole   string            // Agent.mu: why it takes no whole compiles ("" if it does: see lacks)
	verify    float64           // share of its remote compiles verified locally

	mu                                              sync.Mutex
	idle                                            map[string][]*wconn // by toolchain identity
	failures                                        int
	jobs, ok, failed, sent, recv, uploads, backoffs uint64
	why                                             string // the first failure's reason (failedWith)
}

// failedWith counts a failure of remote work on h; the first one's
// reason is kept for the warning at exit (Agent.Unused).
func (h *host) failedWith(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failed++
	if h.why == "" {
		h.why = strings.ReplaceAll(shortError(err), "\n", " ")
	}
}

// shortError says err without the operation and addresses that a
// network error repeats: a dial's "connection refused", or the error's
// own text.
func shortError(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err.Error()
		}
		return oe.Err.Error()
	}
	return err.Error()
}

// wconn is a connection to a worker, past its handshake.
type wconn struct {
	h           *host
	nc          net.Conn
	ident       string
	used        time.Time
	stall       time.Duration // Config.StallTimeout
	caps        []string      // the worker's capabilities (its Challenge)
	interrupted atomic.Bool
	heard       atomic.Int64 // while an answer is owed: when the worker last spoke (or was asked), in Unix ns; else 0

	proofKey []byte          // wire.ProofKey of the handshake
	proven   map[string]bool // blobs the worker knows the connection holds (proof.go)
}

// silence is how long the worker has said nothing while it owes an
// answer (0 if it owes none).
func (c *wconn) silence() time.Duration {
	if t := c.heard.Load(); t != 0 {
		return time.Since(time.Unix(0, t))
	}
	return 0
}

// has tells whether the worker has the capability.
func (c *wconn) has(name string) bool {
	for _, x := range c.caps {
		if x == name {
			return true
		}
	}
	return false
}

// needCaps are the capabilities that every task needs of a worker:
// every payload is zstd, every input addressed by its sha256. A whole
// compile (Run) needs capWhole too; a split (Start) is the protocol's own.
var needCaps = []string{"zstd", "sha256"}

const capWhole = "whole"

// interrupt fails the connection's pending and later reads and writes at
// once: its compile went away.
func (c *wconn) interrupt() {
	c.interrupted.Store(true)
	c.nc.SetDeadline(time.Now())
}

// identity is a toolchain identity: the compile binary's hash and target.
type identity struct {
	hash         []byte
	goos, goarch string
}

func (id identity) key() string { return fmt.Sprintf("%x/%s/%s", id.hash, id.goos, id.goarch) }

// get returns an idle connection for the identity, or dials a new one.
// pooled says which, since a pooled connection may have been closed by
// the worker meanwhile.
func (a *Agent) get(ctx context.Context, h *host, id identity) (c *wconn, pooled bool, err error) {
	h.mu.Lock()
	for l := h.idle[id.key()]; len(l) > 0; l = h.idle[id.key()] {
		c = l[len(l)-1]
		h.idle[id.key()] = l[:len(l)-1]
		if time.Since(c.used) < a.cfg.IdleConnAge {
			h.mu.Unlock()
			return c, true, nil
		}
		c.nc.Close()
	}
	h.mu.Unlock()
	c, err = a.dial(ctx, h, id)
	return c, false, err
}

// put returns a connection to the pool.
func (h *host) put(c *wconn) {
	c.used = time.Now()
	h.mu.Lock()
	h.idle[c.ident] = append(h.idle[c.ident], c)
	h.mu.Unlock()
}

func (h *host) closeIdle() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, l := range h.idle {
		for _, c := range l {
			c.nc.Close()
		}
		delete(h.idle, k)
	}
}

// dial connects and runs the handshake: version, capabilities, the
// challenge-response on the token, and the toolchain identity.
func (a *Agent) dial(ctx context.Context, h *host, id identity) (*wconn, error) {
	d := net.Dialer{Timeout: a.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", h.Addr)
	if err != nil {
		return nil, err
	}
	if h.tls != nil {
		tc := tls.Client(nc, h.tls)
		hctx, cancel := context.WithTimeout(ctx, a.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, tlsError(h, err)
		}
		nc = tc
	}
	c := &wconn{h: h, nc: nc, ident: id.key(), stall: a.cfg.StallTimeout}
	// A compile that goes away interrupts the handshake.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	if err := a.handshake(c, id); err != nil {
		nc.Close()
		var we workerError
		if errors.As(err, &we) {
			return nil, err // the worker's refusal says it all
		}
		if h.tls == nil && errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("handshake: connection closed (does the worker want TLS? see the tls= option)")
		}
		if h.tls != nil {
			// TLS 1.3 tells the client that the worker rejected its
			// certificate only at its first read, here.
			if err := tlsError(h, err); errors.As(err, &we) {
				return nil, err
			}
		}
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return c, nil
}

// tlsError says what failed in a TLS handshake with h. A certificate
// that does not verify and an alert of the worker's (it rejected this
// agent's certificate, or its lack of one) are refusals: nothing in the
// build changes them. Other errors are faults of the connection.
func tlsError(h *host, err error) error {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return workerError(fmt.Sprintf("tls: the worker's certificate does not verify against %s: %v", h.TLSFile, ve.Err))
	}
	if isRemoteAlert(err) {
		var oe *net.OpError
		errors.As(err, &oe)
		hint := "the worker wants a client certificate: see the cert= and key= options"
		if h.CertFile != "" {
			hint = fmt.Sprintf("the worker did not take the client certificate %s: is it signed by a CA of the worker's -tls-client-ca?", h.CertFile)
		}
		return workerError(fmt.Sprintf("%v (%s)", oe.Err, hint))
	}
	return fmt.Errorf("tls: %v", err)
}

// isRemoteAlert tells whether err is a TLS alert of the peer's.
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// clientTLS makes the TLS configuration of a host: its certificate must
// verify against the PEM certificates of its tls= option, for the host's
// name; with cert= and key=, the agent shows that client certificate.
func clientTLS(h hosts.Host) (*tls.Config, error) {
	pem, err := os.ReadFile(h.TLSFile)
	if err != nil {
		return nil, fmt.Errorf("tls file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls file %s holds no PEM certificate", h.TLSFile)
	}
	name, _, err := net.SplitHostPort(h.Addr)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS13}
	if h.CertFile != "" || h.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %v", h.CertFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func (a *Agent) handshake(c *wconn, id identity) error {
	c.nc.SetDeadline(time.Now().Add(a.cfg.HandshakeTimeout))
	nonce := make([]byte, 32)
	rand.Read(nonce)
	if err := c.send(&wire.Hello{Version: wire.Version, Caps: wire.Caps, Nonce: nonce,
		Toolchain: id.hash, GOOS: id.goos, GOARCH: id.goarch}); err != nil {
		return err
	}
	m, err := c.recv()
	if err != nil {
		return err
	}
	ch, ok := m.(*wire.Challenge)
	if !ok {
		return unexpected(m)
	}
	if ch.Version != wire.Version {
		return workerError(fmt.Sprintf("worker at %s speaks protocol version %d, this agent version %d: install the same distssa on both", c.h.Addr, ch.Version, wire.Version))
	}
	c.caps = ch.Caps
	var lack []string
	for _, x := range needCaps {
		if !c.has(x) && len(id.hash) > 0 { // a status connection needs none
			lack = append(lack, x)
		}
	}
	if len(lack) > 0 {
		return workerError(fmt.Sprintf("worker at %s lacks the capabilities %s (it has %q)", c.h.Addr, strings.Join(lack, ", "), ch.Caps))
	}
	// A token held is a token the worker must prove it knows. One that
	// does not ask for it gets no MAC of ours, which a relay could
	// replay to the real worker.
	authed := len(c.h.token) > 0
	switch {
	case ch.Auth && !authed:
		return workerError("worker requires a token: give one with ,token=FILE in the hosts file or DISTSSA_TOKEN")
	case !ch.Auth && authed:
		return workerError(fmt.Sprintf("worker at %s does not ask for the token this agent holds: refusing it (impostor?)", c.h.Addr))
	}
	var mac []byte
	if authed {
		mac = wire.ClientMAC(c.h.token, nonce, ch.Nonce)
	}
	if err := c.send(&wire.Auth{MAC: mac}); err != nil {
		return err
	}
	if m, err = c.recv(); err != nil {
		return err
	}
	w, ok := m.(*wire.Welcome)
	if !ok {
		return unexpected(m)
	}
	if authed && !wire.CheckMAC(w.MAC, wire.ServerMAC(c.h.token, nonce, ch.Nonce)) {
		return workerError(fmt.Sprintf("worker at %s failed to prove it knows the token: refusing it (impostor?)", c.h.Addr))
	}
	c.proofKey = wire.ProofKey(c.h.token, nonce, ch.Nonce)
	c.nc.SetDeadline(time.Time{})
	return nil
}

// workerError is a refusal, not a fault of the connection: an Error
// message of the worker, or the agent's own refusal of a worker in the
// handshake (one that does not prove the token, or wants one the agent
// lacks).
type workerError string

func (e workerError) Error() string { return string(e) }

func unexpected(m any) error {
	if e, ok := m.(*wire.Error); ok {
		return workerError(e.Msg)
	}
	return fmt.Errorf("unexpected message %T", m)
}

func (c *wconn) send(m any) error {
	n, err := wire.Write(c.nc, m)
	c.h.mu.Lock()
	c.h.sent += uint64(n)
	c.h.mu.Unlock()
	return err
}

func (c *wconn) recv() (any, error) {
	m, n, err := wire.Read(c.nc)
	c.h.mu.Lock()
	c.h.recv += uint64(n)
	c.h.mu.Unlock()
	return m, err
}

// roundTrip sends m and reads the answer within timeout. Until then the
// worker says Working every few seconds; a worker silent for the stall
// timeout has stalled, and the read fails with a timeout (a host fault).
func (c *wconn) roundTrip(m any, timeout time.Duration) (any, error) {
	end := time.Now().Add(timeout)
	c.nc.SetDeadline(end)
	if err := c.send(m); err != nil {
		return nil, err
	}
	c.heard.Store(time.Now().UnixNano())
	for {
		d := end
		if s := time.Now().Add(c.stall); c.stall > 0 && s.Before(d) {
			d = s
		}
		c.nc.SetReadDeadline(d)
		if c.interrupted.Load() { // after the deadline: an interrupt before it is not lost
			c.nc.SetReadDeadline(time.Now())
		}
		m, err := c.recv()
		if err != nil {
			return nil, err
		}
		if _, ok := m.(*wire.Working); !ok {
			c.heard.Store(0)
			return m, nil
		}
		c.heard.Store(time.Now().UnixNano())
	}
}

// hostFailed puts a host in backoff for the policy's time (backoff),
// then tries it again.
func (a *Agent) hostFailed(h *host) {
	h.mu.Lock()
	h.failures++
	h.backoffs++
	d := backoff(h.failures)
	h.mu.Unlock()
	h.closeIdle()
	a.mu.Lock()
	h.downUntil = time.Now().Add(d)
	a.mu.Unlock()
}

// backOff skips h for d, as its worker's throttle asks (wire.ParseThrottle):
// the refusal is of the agent's address, for a while, not of the host.
func (a *Agent) backOff(h *host, d time.Duration) {
	d = throttle(d)
	h.mu.Lock()
	h.backoffs++
	h.mu.Unlock()
	a.mu.Lock()
	h.downUntil = downUntil(h.downUntil, time.Now(), d)
	a.mu.Unlock()
}

// lacks records that h's worker lacks the capability to run whole
// compiles: it gets no more of them in this build, while it may still
// take split work.
func (a *Agent) lacks(h *host, caps []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if h.noWhole == "" {
		h.noWhole = fmt.Sprintf("lacks the capability %s (it has %q): no whole compiles", capWhole, caps)
	}
}

// refuse records a worker's refusal of a handshake: a wrong or missing
// token, another toolchain, another protocol version. Nothing of the
// build changes those, so the host takes no more work of that target
// for the rest of the build (unlike a fault, which backs off and is
// retried). The first refusal's message is kept for the summary.
func (a *Agent) refuse(h *host, target, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := h.refused[target]; ok {
		return
	}
	if h.refused == nil {
		h.refused = map[string]string{}
	}
	h.refused[target] = msg
}

func (a *Agent) hostOK(h *host) {
	h.mu.Lock()
	h.failures = 0
	h.mu.Unlock()
}

// Status asks the worker h for its statistics, over a connection that
// names no toolchain (which allows only status requests). h's TLS files
// are used as in a hosts file: with TLSFile, it speaks TLS and verifies
// the worker against it, showing the client certificate CertFile if set.
func Status(ctx context.Context, h hosts.Host, token []byte) (*wire.Status, error) {
	a := &Agent{}
	a.cfg.defaults()
	hh := &host{Host: h, token: token}
	if h.TLSFile != "" {
		c, err := clientTLS(h)
		if err != nil {
			return nil, err
		}
		hh.tls = c
	}
	c, err := a.dial(ctx, hh, identity{})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", h.Addr, err)
	}
	defer c.nc.Close()
	m, err := c.roundTrip(&wire.StatusReq{}, a.cfg.RequestTimeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", h.Addr, err)
	}
	st, ok := m.(*wire.Status)
	if !ok {
		return nil, fmt.Errorf("%s: %v", h.Addr, unexpected(m))
	}
	return st, nil
}
