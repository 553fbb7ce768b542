// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"testing"
	"time"
)

// TestThrottleMsg: the worker's throttle refusal reads back as a
// throttle of the time it names, rounded up to the second; other
// refusals are not throttles, and a throttle whose time does not read
// is one of unknown length.
func TestThrottleMsg(t *testing.T) {
	for _, tc := range []struct {
		src  string
		d    time.Duration
		want time.Duration
	}{
		{"127.0.0.1", 54 * time.Second, 54 * time.Second},
		{"127.0.0.1", 53*time.Second + 400*time.Millisecond, 54 * time.Second},
		{"127.0.0.1", 300 * time.Millisecond, time.Second},
		{"2001:db8:1:2::/64", time.Minute, time.Minute},
		{"a: refused for 1h more", 5 * time.Second, 5 * time.Second},
	} {
		msg := ThrottleMsg(tc.src, tc.d)
		if d, ok := ParseThrottle(msg); !ok || d != tc.want {
			t.Errorf("ParseThrottle(%q) = %v, %v; want %v, true", msg, d, ok, tc.want)
		}
	}
	for _, tc := range []struct {
		msg  string
		ok   bool
		want time.Duration
	}{
		{"authentication failed: wrong token", false, 0},
		{"toolchain mismatch: too many failed authentications from x: refused for 5s more", false, 0},
		{"too many failed authentications from 127.0.0.1: refused for ever", true, 0},
		{"too many failed authentications from 127.0.0.1: refused for -5s more", true, 0},
		{"too many failed authentications from 127.0.0.1: refused for x more", true, 0},
		{"too many failed authentications from 127.0.0.1", true, 0},
		{"too many failed authentications from 127.0.0.1: refused for 1m0s more", true, time.Minute},
	} {
		if d, ok := ParseThrottle(tc.msg); ok != tc.ok || d != tc.want {
			t.Errorf("ParseThrottle(%q) = %v, %v; want %v, %v", tc.msg, d, ok, tc.want, tc.ok)
		}
	}
}
