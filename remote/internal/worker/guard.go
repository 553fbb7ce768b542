// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

// What a peer without the token can make the daemon spend: a bounded
// number of connections, each for a bounded handshake, and a bounded rate
// of guesses at the token per source address. The accept loop outlives
// a shortage of file descriptors.

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// Defaults of the connection limits of Options.
const (
	defaultMaxConns         = 256
	defaultHandshakeTimeout = 10 * time.Second
	defaultAuthFailLimit    = 5
	authWindow              = time.Minute // of AuthFailLimit, and how long an address is refused past it
	maxAcceptDelay          = time.Second
)

// connDefaults checks the connection limits of a configuration and fills
// in their defaults.
func (cfg *Options) connDefaults() error {
	switch {
	case cfg.MaxConns < 0:
		return fmt.Errorf("max conns must be at least 1, not %d", cfg.MaxConns)
	case cfg.HandshakeTimeout < 0:
		return fmt.Errorf("handshake timeout %v is negative", cfg.HandshakeTimeout)
	case cfg.AuthFailLimit < 0:
		return fmt.Errorf("auth fail limit must be at least 1, not %d", cfg.AuthFailLimit)
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = defaultHandshakeTimeout
	}
	if cfg.AuthFailLimit == 0 {
		cfg.AuthFailLimit = defaultAuthFailLimit
	}
	return nil
}

// temporaryAccept reports whether an accept error is a shortage that may
// pass (file descriptors, memory, buffers) or one connection's failure,
// after which the listener still works.
func temporaryAccept(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EAGAIN, syscall.EINTR, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoff is the accept loop's retry state: the delay doubles from 5 ms
// to maxAcceptDelay while accepts fail, and the loop logs the first
// failure of a burst and the end of the burst, nothing between.
type backoff struct {
	delay  time.Duration
	failed int
}

// fail records a temporary accept error and returns how long to wait.
func (b *backoff) fail(s *Server, err error) time.Duration {
	if b.failed == 0 {
		s.cfg.Log.Warn("accept fails; retrying", "err", err)
		b.delay = 5 * time.Millisecond
	} else if b.delay *= 2; b.delay > maxAcceptDelay {
		b.delay = maxAcceptDelay
	}
	b.failed++
	return b.delay
}

// ok records an accepted connection; it ends a burst of failures.
func (b *backoff) ok(s *Server) {
	if b.failed > 0 {
		s.cfg.Log.Info("accepting again", "failed", b.failed)
		b.failed = 0
	}
}

// admit registers an accepted connection, or refuses it when the server
// drains or holds MaxConns connections already. It logs the first
// refusal of a burst.
func (s *Server) admit(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	if len(s.conns) >= s.cfg.MaxConns {
		if !s.full {
			s.full = true
			s.cfg.Log.Warn("connection limit reached: closing new connections", "max", s.cfg.MaxConns)
		}
		s.st.refused.Add(1)
		return false
	}
	s.full = false
	s.conns[c] = false
	s.wg.Add(1)
	return true
}

// throttle counts failed authentications per source: past limit within
// authWindow, the source's handshakes are refused until authWindow has
// passed since. A source is an IPv4 address or an IPv6 /64.
type throttle struct {
	mu    sync.Mutex
	now   func() time.Time // time.Now; tests set another clock
	addrs map[string]*fails
}

type fails struct {
	n       int
	first   time.Time // of the window that counts
	refused time.Time // refused until
}

// maxThrottled bounds the sources a throttle remembers.
const maxThrottled = 4096

// source is the throttle's key of a peer address.
func source(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

func (t *throttle) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

// refused returns how much longer a source's handshakes are refused, or 0.
func (t *throttle) refused(src string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.addrs[src]
	if f == nil {
		return 0
	}
	if d := f.refused.Sub(t.clock()); d > 0 {
		return d
	}
	return 0
}

// fail counts a failed authentication of src; limit failures within
// authWindow refuse it for authWindow. It reports whether src is now
// refused.
func (t *throttle) fail(src string, limit int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock()
	if t.addrs == nil {
		t.addrs = map[string]*fails{}
	}
	f := t.addrs[src]
	if f == nil {
		if len(t.addrs) >= maxThrottled {
			t.prune(now)
		}
		f = &fails{}
		t.addrs[src] = f
	}
	if now.Sub(f.first) > authWindow {
		f.n, f.first = 0, now
	}
	f.n++
	if f.n >= limit {
		f.refused = now.Add(authWindow)
		return true
	}
	return false
}

// ok forgets the failures of a source that authenticated.
func (t *throttle) ok(src string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.addrs, src)
}

// prune drops the sources whose window and refusal are over; if all are
// current, it drops those not refused, then any.
func (t *throttle) prune(now time.Time) {
	for src, f := range t.addrs {
		if now.Sub(f.first) > authWindow && !now.Before(f.refused) {
			delete(t.addrs, src)
		}
	}
	for src, f := range t.addrs {
		if len(t.addrs) < maxThrottled {
			return
		}
		if !now.Before(f.refused) {
			delete(t.addrs, src)
		}
	}
	for src := range t.addrs {
		if len(t.addrs) < maxThrottled {
			return
		}
		delete(t.addrs, src)
	}
}
