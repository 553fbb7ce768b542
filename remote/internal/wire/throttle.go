// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"fmt"
	"strings"
	"time"
)

// A worker refuses the handshakes of a source that failed to
// authenticate too often for a while (PROTOCOL.md §3, Handshake), with
// an Error that ThrottleMsg makes and ParseThrottle reads: an agent
// backs off for the time it names, since the refusal is of its address,
// which other clients may share, not of its token.
const (
	throttlePrefix = "too many failed authentications from "
	throttleFor    = ": refused for "
	throttleMore   = " more"
)

// ThrottleMsg is the worker's refusal of source src for d more, rounded
// up to the second.
func ThrottleMsg(src string, d time.Duration) string {
	d = (d + time.Second - 1).Truncate(time.Second)
	return throttlePrefix + src + throttleFor + fmt.Sprint(d) + throttleMore
}

// ParseThrottle tells whether msg is a worker's throttle refusal and
// how long it lasts; the time is 0 if msg does not say it readably.
func ParseThrottle(msg string) (time.Duration, bool) {
	if !strings.HasPrefix(msg, throttlePrefix) {
		return 0, false
	}
	i := strings.LastIndex(msg, throttleFor)
	if i < 0 || !strings.HasSuffix(msg, throttleMore) || i+len(throttleFor) > len(msg)-len(throttleMore) {
		return 0, true
	}
	d, err := time.ParseDuration(msg[i+len(throttleFor) : len(msg)-len(throttleMore)])
	if err != nil || d < 0 {
		return 0, true
	}
	return d, true
}
