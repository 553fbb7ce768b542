// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"errors"
	"fmt"
	"time"
)

// A worker refuses the handshakes of a source that failed to
// authenticate too often for a while (PROTOCOL.md §3, Handshake), with a
// Throttle message, not an Error: an agent backs off for the time it
// names, since the refusal is of its address, which other clients may
// share, not of its token. The message says so by its type; its text is
// for people only.

// Throttled is a worker's refusal of a source for a while: the error
// that the worker's Acceptor.Admit returns and Refuse sends as a
// Throttle, and that the agent's Dial returns for one. It is a Refusal
// too (errors.As), since nothing in a build changes it.
type Throttled struct {
	Msg string
	For time.Duration // 0 if the worker did not say
}

func (e *Throttled) Error() string { return e.Msg }

// Unwrap makes a throttle a Refusal.
func (e *Throttled) Unwrap() error { return Refusal(e.Msg) }

// ThrottleOf refuses src for d more, rounded up to the second.
func ThrottleOf(src string, d time.Duration) *Throttled {
	d = (d + time.Second - 1).Truncate(time.Second)
	return &Throttled{Msg: fmt.Sprintf("too many failed authentications from %s: refused for %v more", src, d), For: d}
}

// Refuse is the message that refuses a peer for err: a Throttle for a
// Throttled, else an Error.
func Refuse(err error) any {
	var t *Throttled
	if errors.As(err, &t) {
		return &Throttle{Msg: t.Msg, ForNs: uint64(t.For)}
	}
	return &Error{Msg: err.Error()}
}
