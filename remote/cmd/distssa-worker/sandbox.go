// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

import (
	"fmt"
	"net"
)

// The modes of -sandbox.
const (
	sandboxRequire    = "require"     // Landlock and the seccomp filter, or the worker does not start
	sandboxBestEffort = "best-effort" // what the kernel has, with a warning for what it lacks
	sandboxOff        = "off"         // unconfined, for debugging
)

// sandboxMode returns the mode that the -sandbox flag's value v asks
// for, and whether it is the default: no value is require for a worker
// that listens on an address beyond loopback, best-effort for one on
// loopback. The values of the flag's boolean past, true and false, are
// best-effort and off.
func sandboxMode(v, listen string) (mode string, byDefault bool, err error) {
	switch v {
	case "":
		if loopback(listen) {
			return sandboxBestEffort, true, nil
		}
		return sandboxRequire, true, nil
	case sandboxRequire, sandboxBestEffort, sandboxOff:
		return v, false, nil
	case "true":
		return sandboxBestEffort, false, nil
	case "false":
		return sandboxOff, false, nil
	}
	return "", false, fmt.Errorf("-sandbox=%s: the mode is require, best-effort or off", v)
}

// loopback says whether the -listen address listen is on loopback only:
// a loopback IP address or localhost. Any other (a host name, no host)
// is taken to be beyond loopback.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
