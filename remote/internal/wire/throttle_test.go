// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestThrottle: the worker's throttle refusal is a Throttle message that
// reads back as a Throttled of the time it names, rounded up to the
// second, and a Refusal too. What makes it a throttle is the message's
// type: a Throttle with any text is one, and an Error is none, even one
// whose text reads as a throttle.
func TestThrottle(t *testing.T) {
	for _, tc := range []struct {
		src      string
		d        time.Duration
		want     time.Duration
		wantText string
	}{
		{"127.0.0.1", 54 * time.Second, 54 * time.Second, "too many failed authentications from 127.0.0.1: refused for 54s more"},
		{"127.0.0.1", 53*time.Second + 400*time.Millisecond, 54 * time.Second, "too many failed authentications from 127.0.0.1: refused for 54s more"},
		{"127.0.0.1", 300 * time.Millisecond, time.Second, "too many failed authentications from 127.0.0.1: refused for 1s more"},
		{"2001:db8:1:2::/64", time.Minute, time.Minute, "too many failed authentications from 2001:db8:1:2::/64: refused for 1m0s more"},
	} {
		m := roundTrip(t, Refuse(ThrottleOf(tc.src, tc.d)))
		err := Unexpected(m)
		var th *Throttled
		var r Refusal
		if !errors.As(err, &th) || th.For != tc.want || err.Error() != tc.wantText || !errors.As(err, &r) || string(r) != tc.wantText {
			t.Errorf("throttle of %s for %v: %T %v, want a throttle for %v, %q", tc.src, tc.d, err, err, tc.want, tc.wantText)
		}
	}
	for _, tc := range []struct {
		m    any
		want time.Duration // -1: not a throttle
	}{
		{&Throttle{Msg: "ǝlʇʇoɹɥʇ: refused for ever", ForNs: uint64(5 * time.Second)}, 5 * time.Second},
		{&Throttle{}, 0},
		{&Throttle{Msg: "x", ForNs: 1 << 63}, 1<<63 - 1},
		{&Error{Msg: "too many failed authentications from 127.0.0.1: refused for 1m0s more"}, -1},
		{&Error{Msg: "throttle: refused for 5s more"}, -1},
		{&Welcome{}, -1},
	} {
		err := Unexpected(roundTrip(t, tc.m))
		var th *Throttled
		if got := errors.As(err, &th); got != (tc.want >= 0) || got && th.For != tc.want {
			t.Errorf("%#v: %T %v, want throttle %v", tc.m, err, err, tc.want >= 0)
		}
	}
	// Another refusal is sent as an Error of its text.
	if m, ok := Refuse(errors.New("toolchain mismatch")).(*Error); !ok || m.Msg != "toolchain mismatch" {
		t.Errorf("Refuse of another error: %#v", m)
	}
}

// roundTrip encodes m as a frame and reads it back.
func roundTrip(t *testing.T, m any) any {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return got
}
