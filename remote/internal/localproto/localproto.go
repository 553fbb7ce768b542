// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package localproto implements the compiler ↔ agent protocol of
// PROTOCOL.md §1: uvarint-framed messages on a unix socket. The compiler
// has its own copy of this code (it must build at bootstrap); this one is
// the agent's.
package localproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version the agent speaks. Version 3 added
// sampled verification: GRANT's and WHOLE's Verify, WHOLE's Host and
// VERDICT; version 4 STATS's phases; version 5 a result in several
// RESULTs.
const Version = 5

// MaxFrame bounds a frame's body.
const MaxFrame = 512 << 20

// Message types.
const (
	THello   = 1
	TGrant   = 2
	TJob     = 3
	TResult  = 4
	TStats   = 5
	THold    = 6
	TWhole   = 7
	TVerdict = 8
)

// Hello capabilities (Hello.Caps bits).
const (
	// CanWhole: the compile may run whole on a worker (GRANT kind
	// whole, then WHOLE). Every compile of version 2 waits for GRANT
	// before its front end.
	CanWhole = 1 << 0
	// CanSplit: the compile may split its backend across workers.
	CanSplit = 1 << 1
)

// Grant kinds.
const (
	// KindLocal: the compile runs here and holds a local CPU token until
	// it closes; N > 0 workers take shares of its backend (split).
	KindLocal = 0
	// KindWhole: a worker runs the whole compile; WHOLE follows.
	KindWhole = 1
)

// Hello is the compiler's first message.
type Hello struct {
	Version uint64
	Compile string // absolute path of the compile binary
	Cwd     string
	Args    []string // os.Args[1:]
	Env     []string // "K=V" entries whose key starts with GO
	Caps    uint64   // CanWhole | CanSplit
}

// Hold asks for a local CPU token for a process of the build that is not
// a compile (link, asm, cgo, vet, a test binary). GRANT (KindLocal, N 0)
// answers once the token is held; closing the connection returns it.
type Hold struct {
	What string // the process, for the summary
}

// Whole ends a compile that went to a worker as a whole. Status OK: the
// compile ran, Exit is its exit status and Output what it printed (one
// stream); Files are its outputs, by flag name ("o", "linkobj", "asmhdr").
// Status Failed: no remote outcome (Msg says why); the compile runs
// locally, and holds a local token from now on. Verify 1 (with Status OK
// and Exit 0): the compile runs locally all the same, holding a local
// token, writes its own outputs, compares them with Files and says how
// in VERDICT; Host names the worker.
type Whole struct {
	Status uint64
	Exit   uint64
	Output []byte
	Files  []File
	Msg    string
	Verify uint64
	Host   string
}

// Verdict is a verifying compile's comparison of its own outputs with a
// worker's (WHOLE's Verify, or GRANT's for a split): Match 1 if they are
// byte-identical; otherwise Msg says which output differs and where.
type Verdict struct {
	Match uint64
	Msg   string
}

// File is one output of a whole compile.
type File struct {
	Name string
	Data []byte
}

// Grant tells the compiler where it runs: locally (holding a local
// token) with N workers for a split, or as a whole on a worker. Verify 1
// (a split): once the compile is done, it compiles again locally,
// compares and says how in VERDICT.
type Grant struct {
	N      uint64
	Reason string
	Kind   uint64
	Verify uint64
}

// Job is one worker's job; empty Data releases the worker.
type Job struct {
	Worker uint64
	Data   []byte
}

// Result status values.
const (
	StatusOK     = 0
	StatusFailed = 1
)

// Result answers a non-empty Job.
type Result struct {
	Worker uint64
	Status uint64
	Data   []byte // the result file, or a one-line error naming the host
}

// Stats is the compiler's summary of the compile, sent at its exit.
type Stats struct {
	PkgPath     string
	Funcs       uint64
	Remote      uint64
	Cost        uint64
	RemoteCost  uint64
	ResultBytes uint64
	Phases      []Phase // where the split's time went, for the trace
}

// Phase is a span of a split compile's time: on the compile itself
// (Worker 0) or on the worker of JOB k−1 (Worker k).
type Phase struct {
	Worker uint64
	Name   string
	Start  uint64 // nanoseconds since the Unix epoch, by the clock of the process measured
	Dur    uint64 // nanoseconds
}

// Msg is any of the message types above.
type Msg interface{ msgType() byte }

func (*Hello) msgType() byte   { return THello }
func (*Grant) msgType() byte   { return TGrant }
func (*Job) msgType() byte     { return TJob }
func (*Result) msgType() byte  { return TResult }
func (*Stats) msgType() byte   { return TStats }
func (*Hold) msgType() byte    { return THold }
func (*Whole) msgType() byte   { return TWhole }
func (*Verdict) msgType() byte { return TVerdict }

// Encode returns m's frame body (without the length prefix).
func Encode(m Msg) []byte {
	b := []byte{m.msgType()}
	u := func(v uint64) { b = binary.AppendUvarint(b, v) }
	s := func(v string) { u(uint64(len(v))); b = append(b, v...) }
	switch m := m.(type) {
	case *Hello:
		u(m.Version)
		s(m.Compile)
		s(m.Cwd)
		u(uint64(len(m.Args)))
		for _, a := range m.Args {
			s(a)
		}
		u(uint64(len(m.Env)))
		for _, e := range m.Env {
			s(e)
		}
		u(m.Caps)
	case *Grant:
		u(m.N)
		s(m.Reason)
		u(m.Kind)
		u(m.Verify)
	case *Job:
		u(m.Worker)
		s(string(m.Data))
	case *Result:
		u(m.Worker)
		u(m.Status)
		s(string(m.Data))
	case *Stats:
		s(m.PkgPath)
		u(m.Funcs)
		u(m.Remote)
		u(m.Cost)
		u(m.RemoteCost)
		u(m.ResultBytes)
		u(uint64(len(m.Phases)))
		for _, p := range m.Phases {
			u(p.Worker)
			s(p.Name)
			u(p.Start)
			u(p.Dur)
		}
	case *Hold:
		s(m.What)
	case *Whole:
		u(m.Status)
		u(m.Exit)
		s(string(m.Output))
		u(uint64(len(m.Files)))
		for _, f := range m.Files {
			s(f.Name)
			s(string(f.Data))
		}
		s(m.Msg)
		u(m.Verify)
		s(m.Host)
	case *Verdict:
		u(m.Match)
		s(m.Msg)
	}
	return b
}

// decoder reads fields from a frame body, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("truncated or bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("string of %d bytes, %d left in frame", n, len(d.b))
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

// list reads a count followed by that many strings. Each string takes at
// least one byte, which bounds the count before anything is allocated.
func (d *decoder) list() []string {
	n := d.uint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = fmt.Errorf("list of %d strings, %d bytes left in frame", n, len(d.b))
	}
	if d.err != nil || n == 0 {
		return nil
	}
	l := make([]string, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		l = append(l, d.str())
	}
	return l
}

// Decode parses a frame body.
func Decode(body []byte) (Msg, error) {
	if len(body) == 0 {
		return nil, errors.New("empty frame")
	}
	d := &decoder{b: body[1:]}
	var m Msg
	switch body[0] {
	case THello:
		h := &Hello{Version: d.uint(), Compile: d.str(), Cwd: d.str()}
		h.Args = d.list()
		h.Env = d.list()
		h.Caps = d.uint()
		m = h
	case TGrant:
		m = &Grant{N: d.uint(), Reason: d.str(), Kind: d.uint(), Verify: d.uint()}
	case TJob:
		m = &Job{Worker: d.uint(), Data: d.bytes()}
	case TResult:
		m = &Result{Worker: d.uint(), Status: d.uint(), Data: d.bytes()}
	case TStats:
		st := &Stats{PkgPath: d.str(), Funcs: d.uint(), Remote: d.uint(), Cost: d.uint(), RemoteCost: d.uint(), ResultBytes: d.uint()}
		n := d.uint()
		// Each phase takes at least four bytes.
		if d.err == nil && n > uint64(len(d.b))/4 {
			d.err = fmt.Errorf("%d phases, %d bytes left in frame", n, len(d.b))
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			st.Phases = append(st.Phases, Phase{Worker: d.uint(), Name: d.str(), Start: d.uint(), Dur: d.uint()})
		}
		m = st
	case THold:
		m = &Hold{What: d.str()}
	case TWhole:
		w := &Whole{Status: d.uint(), Exit: d.uint(), Output: d.bytes()}
		n := d.uint()
		// Each file takes at least two bytes.
		if d.err == nil && n > uint64(len(d.b))/2 {
			d.err = fmt.Errorf("%d files, %d bytes left in frame", n, len(d.b))
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			w.Files = append(w.Files, File{Name: d.str(), Data: d.bytes()})
		}
		w.Msg = d.str()
		w.Verify = d.uint()
		w.Host = d.str()
		m = w
	case TVerdict:
		m = &Verdict{Match: d.uint(), Msg: d.str()}
	default:
		return nil, fmt.Errorf("unknown message type %d", body[0])
	}
	if d.err != nil {
		return nil, fmt.Errorf("message type %d: %v", body[0], d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("message type %d: %d bytes after its fields", body[0], len(d.b))
	}
	return m, nil
}

// Write writes m as one frame.
func Write(w io.Writer, m Msg) error {
	body := Encode(m)
	frame := binary.AppendUvarint(make([]byte, 0, len(body)+binary.MaxVarintLen64), uint64(len(body)))
	_, err := w.Write(append(frame, body...))
	return err
}

// Read reads one frame and decodes it. A clean EOF before a frame starts
// is io.EOF.
func Read(r *bufio.Reader) (Msg, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errors.New("truncated frame length")
		}
		return nil, err
	}
	if n > MaxFrame {
		return nil, fmt.Errorf("frame of %d bytes exceeds the %d-byte limit", n, MaxFrame)
	}
	body, err := readBody(r, n)
	if err != nil {
		return nil, fmt.Errorf("truncated frame: %v after %d of %d bytes", err, len(body), n)
	}
	return Decode(body)
}

// readBody reads n bytes. It allocates as they arrive, from 64 KiB and
// doubling, so that a peer that announces much and sends little costs
// what it sent.
func readBody(r io.Reader, n uint64) ([]byte, error) {
	b := make([]byte, 0, min(n, 64<<10))
	for uint64(len(b)) < n {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(n, 2*uint64(cap(b))))
			copy(grown, b)
			b = grown
		}
		m, err := io.ReadFull(r, b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}
