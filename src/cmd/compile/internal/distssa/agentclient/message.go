// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package agentclient is the compiler's client of the distssa agent that
// the go command starts (-distssa=unix:PATH): the compiler's side of the
// local protocol, remote/PROTOCOL.md §1. This file holds its frames and
// messages, named as in the agent's package (remote/internal/localproto),
// which is the other implementation; conn.go holds the connection.
//
// The package must build with the bootstrap toolchain (std only, no
// generics), which is why it does not share the agent's code. The two
// codecs, and the go command's HOLD, test against the same golden frames
// (testdata/localproto.golden).
package agentclient

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Message types and version of the local protocol.
const (
	Version = 5 // 4: STATS carries the split's phases; 5: a result comes in several RESULTs

	msgHello   = 1
	msgGrant   = 2
	msgJob     = 3
	msgResult  = 4
	msgStats   = 5
	msgHold    = 6 // the go command's; never sent by a compile
	msgWhole   = 7
	msgVerdict = 8

	// HELLO capabilities (Hello.Caps bits).
	CanWhole = 1 << 0 // may run whole on a worker (GRANT kind whole, then WHOLE)
	CanSplit = 1 << 1 // may split its backend

	// GRANT kinds (Grant.Kind).
	KindLocal = 0 // runs here, holding a local CPU token; N workers split
	KindWhole = 1 // a worker runs the whole compile; WHOLE follows

	// RESULT and WHOLE status values.
	StatusOK     = 0 // RESULT: the worker's result; WHOLE: the compile ran
	StatusFailed = 1 // the worker failed: compile here

	// maxFrame bounds a frame's body (PROTOCOL.md: at most 512 MiB).
	maxFrame = 512 << 20
)

// Frames.

// errFrameTooLarge is returned for a frame length over maxFrame.
var errFrameTooLarge = fmt.Errorf("frame longer than %d bytes", maxFrame)

// writeFrame writes body as one frame: uvarint(len(body)), body.
func writeFrame(w io.Writer, body []byte) error {
	if len(body) > maxFrame {
		return errFrameTooLarge
	}
	var out writer
	out.buf = make([]byte, 0, len(body)+10)
	out.uvarint(uint64(len(body)))
	out.buf = append(out.buf, body...)
	_, err := w.Write(out.buf)
	return err
}

// readFrame reads one frame and returns its body. A length over maxFrame
// is an error; the body's buffer grows with the bytes actually read, so
// that a corrupt length cannot make it allocate much.
func readFrame(r *bufio.Reader) ([]byte, error) {
	n, err := readUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > maxFrame {
		return nil, errFrameTooLarge
	}
	var buf bytes.Buffer
	if n <= 64<<10 {
		buf.Grow(int(n))
	}
	if m, err := io.CopyN(&buf, r, int64(n)); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("frame truncated after %d of %d bytes", m, n)
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// readUvarint is binary.ReadUvarint with errors that say what was read:
// a clean EOF before the first byte is io.EOF.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	var s uint
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				err = errors.New("frame length truncated")
			}
			return 0, err
		}
		if i == 9 && b > 1 || i > 9 {
			return 0, errors.New("frame length overflows 64 bits")
		}
		if b < 0x80 {
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
}

// Write writes m as one frame.
func Write(w io.Writer, m Msg) error {
	return writeFrame(w, m.encode())
}

// Read reads one frame and decodes it. A clean EOF before the frame is
// io.EOF.
func Read(r *bufio.Reader) (Msg, error) {
	body, err := readFrame(r)
	if err != nil {
		return nil, err
	}
	return decodeMsg(body)
}

// Messages.

// Msg is one of the message types below, as a pointer.
type Msg interface {
	encode() []byte
}

// Hello is the compile's first message.
type Hello struct {
	Version uint64
	Compile string   // the compile binary, absolute
	Cwd     string   // the compile's directory
	Args    []string // os.Args[1:]
	Env     []string // the environment's GO* entries
	Caps    uint64   // CanWhole | CanSplit
}

// Grant places the compile: here (KindLocal), holding a local token,
// with N workers for a split, or as a whole on a worker (KindWhole).
type Grant struct {
	N      uint64
	Reason string // why no workers, for the statistics
	Kind   uint64
	Verify uint64 // 1: a split that compiles again locally at its end and sends VERDICT
}

// Whole brings the outcome of a compile that ran whole on a worker.
type Whole struct {
	Status uint64 // StatusOK: the compile ran; StatusFailed: compile locally
	Exit   uint64
	Output []byte
	Files  []File
	Msg    string
	Verify uint64 // 1: compile locally all the same, compare with Files, send VERDICT
	Host   string // the worker, for verify's messages
}

// Verdict tells the agent how a verifying compile's outputs compared
// with a worker's.
type Verdict struct {
	Match uint64 // 1: byte-identical
	Msg   string // otherwise, which output differs and where
}

// File is one output of a whole compile, by flag name (o, linkobj,
// asmhdr).
type File struct {
	Name string
	Data []byte
}

// Job is one granted worker's job; an empty one releases the worker.
type Job struct {
	Worker uint64
	Data   []byte
}

// Result answers a non-empty Job.
type Result struct {
	Worker uint64
	Status uint64 // StatusOK or StatusFailed
	Data   []byte // the worker's result, or a message that names the host
}

// Stats sums up a split for the agent.
type Stats struct {
	PkgPath                                      string
	Funcs, Remote, Cost, RemoteCost, ResultBytes uint64
	Phases                                       []Phase
}

// Phase is a span of a split compile's time, for the agent's trace.
type Phase struct {
	Worker uint64 // 0: the compile itself; k: the worker of JOB k−1
	Name   string
	Start  uint64 // nanoseconds since the Unix epoch, by the clock of the process measured
	Dur    uint64 // nanoseconds
}

func (m *Hello) encode() []byte {
	w := writer{buf: []byte{msgHello}}
	w.uvarint(m.Version)
	w.str(m.Compile)
	w.str(m.Cwd)
	w.uvarint(uint64(len(m.Args)))
	for _, a := range m.Args {
		w.str(a)
	}
	w.uvarint(uint64(len(m.Env)))
	for _, e := range m.Env {
		w.str(e)
	}
	w.uvarint(m.Caps)
	return w.buf
}

func (m *Grant) encode() []byte {
	w := writer{buf: []byte{msgGrant}}
	w.uvarint(m.N)
	w.str(m.Reason)
	w.uvarint(m.Kind)
	w.uvarint(m.Verify)
	return w.buf
}

func (m *Whole) encode() []byte {
	w := writer{buf: []byte{msgWhole}}
	w.uvarint(m.Status)
	w.uvarint(m.Exit)
	w.str(string(m.Output))
	w.uvarint(uint64(len(m.Files)))
	for _, f := range m.Files {
		w.str(f.Name)
		w.str(string(f.Data))
	}
	w.str(m.Msg)
	w.uvarint(m.Verify)
	w.str(m.Host)
	return w.buf
}

func (m *Verdict) encode() []byte {
	w := writer{buf: []byte{msgVerdict}}
	w.uvarint(m.Match)
	w.str(m.Msg)
	return w.buf
}

func (m *Job) encode() []byte {
	w := writer{buf: make([]byte, 0, 1+10+10+len(m.Data))}
	w.buf = append(w.buf, msgJob)
	w.uvarint(m.Worker)
	w.str(string(m.Data))
	return w.buf
}

func (m *Result) encode() []byte {
	w := writer{buf: make([]byte, 0, 1+30+len(m.Data))}
	w.buf = append(w.buf, msgResult)
	w.uvarint(m.Worker)
	w.uvarint(m.Status)
	w.str(string(m.Data))
	return w.buf
}

func (m *Stats) encode() []byte {
	w := writer{buf: []byte{msgStats}}
	w.str(m.PkgPath)
	w.uvarint(m.Funcs)
	w.uvarint(m.Remote)
	w.uvarint(m.Cost)
	w.uvarint(m.RemoteCost)
	w.uvarint(m.ResultBytes)
	w.uvarint(uint64(len(m.Phases)))
	for _, p := range m.Phases {
		w.uvarint(p.Worker)
		w.str(p.Name)
		w.uvarint(p.Start)
		w.uvarint(p.Dur)
	}
	return w.buf
}

// decodeMsg decodes a frame's body into one of the message types above
// (as a pointer). A body with an unknown type, too few bytes for its
// fields or bytes after them is an error.
func decodeMsg(body []byte) (Msg, error) {
	if len(body) == 0 {
		return nil, errors.New("empty message")
	}
	r := &reader{buf: body, off: 1}
	var m Msg
	switch body[0] {
	case msgHello:
		h := &Hello{Version: r.uvarint(), Compile: r.str(), Cwd: r.str()}
		h.Args = r.strs()
		h.Env = r.strs()
		h.Caps = r.uvarint()
		m = h
	case msgGrant:
		m = &Grant{N: r.uvarint(), Reason: r.str(), Kind: r.uvarint(), Verify: r.uvarint()}
	case msgWhole:
		w := &Whole{Status: r.uvarint(), Exit: r.uvarint(), Output: r.bytes()}
		n := r.count(2) // each file takes at least two bytes
		for i := 0; i < n && r.err == nil; i++ {
			w.Files = append(w.Files, File{Name: r.str(), Data: r.bytes()})
		}
		w.Msg = r.str()
		w.Verify = r.uvarint()
		w.Host = r.str()
		m = w
	case msgVerdict:
		m = &Verdict{Match: r.uvarint(), Msg: r.str()}
	case msgJob:
		m = &Job{Worker: r.uvarint(), Data: r.bytes()}
	case msgResult:
		m = &Result{Worker: r.uvarint(), Status: r.uvarint(), Data: r.bytes()}
	case msgStats:
		st := &Stats{PkgPath: r.str(), Funcs: r.uvarint(), Remote: r.uvarint(), Cost: r.uvarint(), RemoteCost: r.uvarint(), ResultBytes: r.uvarint()}
		n := r.count(4) // each phase takes at least four bytes
		for i := 0; i < n && r.err == nil; i++ {
			st.Phases = append(st.Phases, Phase{Worker: r.uvarint(), Name: r.str(), Start: r.uvarint(), Dur: r.uvarint()})
		}
		m = st
	default:
		return nil, fmt.Errorf("unknown message type %d", body[0])
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("message type %d: %v", body[0], err)
	}
	return m, nil
}

// Fields: uvarints and length-prefixed strings (PROTOCOL.md §1). A
// reader never panics on bad input: it records the first error and
// returns zero values after it.

type writer struct {
	buf []byte
}

func (w *writer) uvarint(v uint64) {
	var b [binary.MaxVarintLen64]byte
	w.buf = append(w.buf, b[:binary.PutUvarint(b[:], v)]...)
}

func (w *writer) str(s string) {
	w.uvarint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

type reader struct {
	buf []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...interface{}) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

// count reads a length and checks that at least min bytes per element
// remain, so that a corrupt length cannot make the caller allocate much.
func (r *reader) count(min int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if min < 1 {
		min = 1
	}
	if v > uint64(len(r.buf)-r.off)/uint64(min) {
		r.fail("count %d exceeds the %d bytes left", v, len(r.buf)-r.off)
		return 0
	}
	return int(v)
}

func (r *reader) str() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.buf[r.off : r.off+n])
	r.off += n
	return s
}

// strs reads a count and that many strings.
func (r *reader) strs() []string {
	n := r.count(1)
	var s []string
	for i := 0; i < n && r.err == nil; i++ {
		s = append(s, r.str())
	}
	return s
}

// bytes reads a length-prefixed byte string (a copy).
func (r *reader) bytes() []byte {
	n := r.count(1)
	if r.err != nil {
		return nil
	}
	b := append([]byte(nil), r.buf[r.off:r.off+n]...)
	r.off += n
	return b
}

// done checks that all input was consumed.
func (r *reader) done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.fail("%d bytes of trailing data", len(r.buf)-r.off)
	}
	return r.err
}
