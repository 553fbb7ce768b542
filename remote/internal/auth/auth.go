// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package auth holds what the agent and the worker share to meet: the
// tokens of the handshake (PROTOCOL.md §3) and the status client, which
// the worker's command uses to ask a worker for its statistics.
package auth

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/wire"
)

// MinToken is the least length of a token, in bytes.
const MinToken = 16

// ReadToken reads a token file: its content less surrounding space, at
// least MinToken bytes. As ssh does with its keys, it refuses a file
// that its group or others may read or write.
func ReadToken(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("token file: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("token file: %v", err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("token file %s has mode %#o: others may read it; make it private with: chmod 600 %s", name, m, name)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %v", name, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return nil, fmt.Errorf("token file %s is empty", name)
	}
	if len(t) < MinToken {
		return nil, fmt.Errorf("token file %s holds %d bytes: a token needs at least %d (make one with: head -c 32 /dev/urandom | base64)", name, len(t), MinToken)
	}
	return []byte(t), nil
}

// EnvToken returns DISTSSA_TOKEN, or nil when it is not set; a token of
// fewer than MinToken bytes is an error.
func EnvToken() ([]byte, error) {
	t := os.Getenv("DISTSSA_TOKEN")
	if t != "" && len(t) < MinToken {
		return nil, fmt.Errorf("DISTSSA_TOKEN holds %d bytes: a token needs at least %d (make one with: head -c 32 /dev/urandom | base64)", len(t), MinToken)
	}
	if t == "" {
		return nil, nil
	}
	return []byte(t), nil
}

// FetchStats asks the worker h for its statistics (wire.Stats), over a connection that
// names no toolchain (which allows only StatsReq). h's TLS files
// are used as in a hosts file: with TLSFile, it speaks TLS and verifies
// the worker against it, showing the client certificate CertFile if set.
func FetchStats(ctx context.Context, h hosts.Host, token []byte) (*wire.Stats, error) {
	d := &wire.Dialer{Addr: h.Addr, Token: token, TLSFile: h.TLSFile, CertFile: h.CertFile,
		DialTimeout: 3 * time.Second, HandshakeTimeout: 10 * time.Second, Stall: 20 * time.Second}
	if h.TLSFile != "" {
		c, err := wire.ClientTLS(h.Addr, h.TLSFile, h.CertFile, h.KeyFile)
		if err != nil {
			return nil, err
		}
		d.TLS = c
	}
	c, err := d.Dial(ctx, wire.Identity{})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", h.Addr, err)
	}
	defer c.NC.Close()
	m, err := c.RoundTrip(&wire.StatsReq{}, 2*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", h.Addr, err)
	}
	st, ok := m.(*wire.Stats)
	if !ok {
		return nil, fmt.Errorf("%s: %v", h.Addr, wire.Unexpected(m))
	}
	return st, nil
}
