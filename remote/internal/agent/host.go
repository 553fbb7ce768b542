// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
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

// wconn is a pooled connection to a worker, past its handshake.
type wconn struct {
	*wire.Conn
	h      *host
	ident  string
	used   time.Time
	proven map[string]bool // blobs the worker knows the connection holds (remote.go)
}

// get returns an idle connection for the identity, or dials a new one.
// pooled says which, since a pooled connection may have been closed by
// the worker meanwhile.
func (a *Agent) get(ctx context.Context, h *host, id wire.Identity) (c *wconn, pooled bool, err error) {
	h.mu.Lock()
	for l := h.idle[id.Key()]; len(l) > 0; l = h.idle[id.Key()] {
		c = l[len(l)-1]
		h.idle[id.Key()] = l[:len(l)-1]
		if time.Since(c.used) < a.cfg.IdleConnAge {
			h.mu.Unlock()
			return c, true, nil
		}
		c.NC.Close()
	}
	h.mu.Unlock()
	wc, err := a.dialer(h).Dial(ctx, id)
	if err != nil {
		return nil, false, err
	}
	return &wconn{Conn: wc, h: h, ident: id.Key()}, false, nil
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
			c.NC.Close()
		}
		delete(h.idle, k)
	}
}

// dialer says how to reach h, its bytes counted in its statistics.
func (a *Agent) dialer(h *host) *wire.Dialer {
	return &wire.Dialer{Addr: h.Addr, Token: h.token, TLS: h.tls, TLSFile: h.TLSFile, CertFile: h.CertFile,
		DialTimeout: a.cfg.DialTimeout, HandshakeTimeout: a.cfg.HandshakeTimeout, Stall: a.cfg.StallTimeout,
		Count: func(sent, recv int) {
			h.mu.Lock()
			h.sent += uint64(sent)
			h.recv += uint64(recv)
			h.mu.Unlock()
		}}
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

// backOff skips h for d, as its worker's throttle asks (wire.Throttled):
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
		h.noWhole = fmt.Sprintf("lacks the capability %s (it has %q): no whole compiles", wire.CapWhole, caps)
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
