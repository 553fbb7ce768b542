// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

// The worker's side of the handshake (PROTOCOL.md §3): the order of its
// messages, the version check, the challenge and the token's MACs. What
// depends on the worker's state (a throttle of sources, the toolchain it
// runs, its slots) it asks of the Acceptor's functions.

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrAuth refuses an agent whose MAC does not prove the token.
var ErrAuth = errors.New("authentication failed: wrong token")

// ErrNoToken refuses an agent that sent no MAC to a worker that requires
// the token.
var ErrNoToken = errors.New("authentication failed: this worker requires a token")

// Acceptor is the worker's side of the handshake.
type Acceptor struct {
	Token []byte // nil: no token required

	// Recv reads a handshake message and Send writes one, both by the
	// handshake's deadline.
	Recv func() (any, error)
	Send func(m any) error

	// Admit, if set, decides once the Hello has a good version whether
	// its peer may go on: an error refuses it before the Challenge.
	Admit func(h *Hello) error
	// Authed, if set, is told whether the agent proved the token; it is
	// not called without a token.
	Authed func(ok bool)
	// Welcome makes the answer to an agent that passed the token check,
	// without its MAC, which Accept adds; an error refuses the agent.
	Welcome func(h *Hello) (*Welcome, error)
}

// Accept runs the handshake and returns the connection's ProofKey. Its
// error refuses the agent: the caller sends it as an Error before it
// closes the connection.
func (a *Acceptor) Accept() ([]byte, error) {
	m, err := a.Recv()
	if err != nil {
		return nil, err
	}
	h, ok := m.(*Hello)
	if !ok {
		return nil, fmt.Errorf("expected hello, got %T", m)
	}
	if h.Version != Version {
		return nil, fmt.Errorf("protocol version %d not supported (worker speaks %d)", h.Version, Version)
	}
	if a.Admit != nil {
		if err := a.Admit(h); err != nil {
			return nil, err
		}
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	auth := len(a.Token) > 0
	if err := a.Send(&Challenge{Version: Version, Caps: Caps, Nonce: nonce, Auth: auth}); err != nil {
		return nil, err
	}
	if m, err = a.Recv(); err != nil {
		return nil, err
	}
	am, ok := m.(*Auth)
	if !ok {
		return nil, fmt.Errorf("expected auth, got %T", m)
	}
	var proof []byte
	if auth {
		var err error
		if len(am.MAC) == 0 {
			err = ErrNoToken
		} else if !CheckMAC(am.MAC, ClientMAC(a.Token, h.Nonce, nonce)) {
			err = ErrAuth
		}
		if a.Authed != nil {
			a.Authed(err == nil)
		}
		if err != nil {
			return nil, err
		}
		proof = ServerMAC(a.Token, h.Nonce, nonce)
	}
	key := ProofKey(a.Token, h.Nonce, nonce)
	w, err := a.Welcome(h)
	if err != nil {
		return nil, err
	}
	w.MAC = proof
	if err := a.Send(w); err != nil {
		return nil, err
	}
	return key, nil
}
