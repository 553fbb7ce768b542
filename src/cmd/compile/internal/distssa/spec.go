// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// The -distssa flag.

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxExecWorkers bounds exec:N, so that a typo cannot fork a thousand
// compilers.
const MaxExecWorkers = 64

// TransportKind says how a compile reaches its workers.
type TransportKind int

const (
	// Local: -distssa unset; the backend runs in this process only.
	Local TransportKind = iota
	// Exec: N child processes of the compiler's own binary on this
	// machine (the reference transport, used by tests and benchmarks).
	Exec
	// Agent: the go command's distssa agent, reached on a unix socket,
	// grants workers (package agentclient).
	Agent
)

func (t TransportKind) String() string {
	switch t {
	case Local:
		return "local"
	case Exec:
		return "exec"
	case Agent:
		return "agent"
	}
	return "TransportKind(" + strconv.Itoa(int(t)) + ")"
}

// Spec is a parsed -distssa value.
type Spec struct {
	Transport TransportKind
	Workers   int    // number of workers, for Exec
	Socket    string // the agent's unix socket, for Agent
}

func (s Spec) String() string {
	switch s.Transport {
	case Local:
		return ""
	case Exec:
		return "exec:" + strconv.Itoa(s.Workers)
	case Agent:
		return "unix:" + s.Socket
	}
	return s.Transport.String()
}

// ParseSpec parses the value of -distssa. The empty string means Local.
func ParseSpec(v string) (Spec, error) {
	if v == "" {
		return Spec{}, nil
	}
	if rest := strings.TrimPrefix(v, "exec:"); rest != v {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > MaxExecWorkers {
			return Spec{}, fmt.Errorf("%q: exec:N needs a worker count N from 1 to %d", v, MaxExecWorkers)
		}
		return Spec{Transport: Exec, Workers: n}, nil
	}
	if rest := strings.TrimPrefix(v, "unix:"); rest != v {
		if rest == "" {
			return Spec{}, fmt.Errorf("%q: unix:PATH needs the path of the distssa agent's socket", v)
		}
		return Spec{Transport: Agent, Socket: rest}, nil
	}
	return Spec{}, fmt.Errorf("%q: unknown transport; want exec:N (N worker processes on this machine) or unix:PATH (the distssa agent's socket)", v)
}

// spec is the parsed -distssa flag of this compile.
var spec Spec
