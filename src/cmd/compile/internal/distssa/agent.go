// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// The agent transport (-distssa=unix:PATH): the client side of the
// compiler ↔ agent protocol of remote/PROTOCOL.md §1. The compile dials
// the go command's agent as it starts and sends HELLO; the agent grants
// n workers (GRANT) and starts their front ends; once its own front end
// is done the compile sends one JOB per worker, takes one RESULT per
// non-empty JOB, and ends with STATS.
//
// Nothing here can fail the compile or hold it for long: a socket that
// does not answer, a GRANT that does not come in time, a broken frame, a
// closed connection or a missing or failed RESULT all end as local
// compiles of the functions concerned, with the reason in the statistics
// of -d=distssastats.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"cmd/compile/internal/base"
)

// Message types and version of the local protocol.
const (
	agentProtoVersion = 3

	msgHello   = 1
	msgGrant   = 2
	msgJob     = 3
	msgResult  = 4
	msgStats   = 5
	msgHold    = 6 // the go command's; never sent by a compile
	msgWhole   = 7
	msgVerdict = 8

	// HELLO capabilities.
	capWhole = 1 << 0 // may run whole on a worker (GRANT kind whole, then WHOLE)
	capSplit = 1 << 1 // may split its backend

	// GRANT kinds.
	kindLocal = 0 // runs here, holding a local CPU token; n workers split
	kindWhole = 1 // a worker runs the whole compile; WHOLE follows

	// maxFrame bounds a frame's body (PROTOCOL.md: at most 512 MiB).
	maxFrame = 512 << 20
)

// Bounds on the agent. The variables may be changed by tests
// ($DISTSSA_TEST_QUEUE_TIMEOUT, $DISTSSA_TEST_RESULT_TIMEOUT).
var (
	// agentDialTimeout bounds connecting to the agent's socket.
	agentDialTimeout = 2 * time.Second
	// agentQueueTimeout bounds the wait for GRANT of a compile that asks
	// before its front end: the agent holds it until a local token or a
	// worker slot is free, which may take as long as other compiles do.
	agentQueueTimeout = 30 * time.Minute
	// agentWholeTimeout bounds the wait for a whole compile's WHOLE.
	agentWholeTimeout = execTimeout
	// agentResultTimeout bounds the wait for all RESULTs, from the time
	// the jobs are sent.
	agentResultTimeout = execTimeout
	// agentWriteTimeout bounds each write to the agent.
	agentWriteTimeout = 10 * time.Second
)

// maxAgentWorkers bounds the workers a compile plans with; workers that
// an agent grants beyond it get an empty JOB.
const maxAgentWorkers = 256

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

// Messages.

type helloMsg struct {
	version uint64
	compile string
	cwd     string
	args    []string
	env     []string
	caps    uint64
}

type grantMsg struct {
	n      uint64
	reason string
	kind   uint64
	verify uint64 // 1: a split that compiles again locally at its end and sends VERDICT
}

type wholeMsg struct {
	status uint64 // resultOK: the compile ran; resultFailed: compile locally
	exit   uint64
	output []byte
	files  []wholeFile
	msg    string
	verify uint64 // 1: compile locally all the same, compare with files, send VERDICT
	host   string // the worker, for verify's messages
}

// verdictMsg tells the agent how a verifying compile's outputs compared
// with a worker's.
type verdictMsg struct {
	match uint64 // 1: byte-identical
	msg   string // otherwise, which output differs and where
}

type wholeFile struct {
	name string
	data []byte
}

type jobMsg struct {
	worker uint64
	job    []byte
}

type resultMsg struct {
	worker uint64
	status uint64 // 0 ok, 1 failed
	data   []byte
}

type statsMsg struct {
	pkgpath                                   string
	funcs, remote, cost, remoteCost, resBytes uint64
}

const (
	resultOK     = 0
	resultFailed = 1
)

func (m *helloMsg) encode() []byte {
	w := writer{buf: []byte{msgHello}}
	w.uvarint(m.version)
	w.str(m.compile)
	w.str(m.cwd)
	w.uvarint(uint64(len(m.args)))
	for _, a := range m.args {
		w.str(a)
	}
	w.uvarint(uint64(len(m.env)))
	for _, e := range m.env {
		w.str(e)
	}
	w.uvarint(m.caps)
	return w.buf
}

func (m *grantMsg) encode() []byte {
	w := writer{buf: []byte{msgGrant}}
	w.uvarint(m.n)
	w.str(m.reason)
	w.uvarint(m.kind)
	w.uvarint(m.verify)
	return w.buf
}

func (m *wholeMsg) encode() []byte {
	w := writer{buf: []byte{msgWhole}}
	w.uvarint(m.status)
	w.uvarint(m.exit)
	w.str(string(m.output))
	w.uvarint(uint64(len(m.files)))
	for _, f := range m.files {
		w.str(f.name)
		w.str(string(f.data))
	}
	w.str(m.msg)
	w.uvarint(m.verify)
	w.str(m.host)
	return w.buf
}

func (m *verdictMsg) encode() []byte {
	w := writer{buf: []byte{msgVerdict}}
	w.uvarint(m.match)
	w.str(m.msg)
	return w.buf
}

func (m *jobMsg) encode() []byte {
	w := writer{buf: make([]byte, 0, 1+10+10+len(m.job))}
	w.buf = append(w.buf, msgJob)
	w.uvarint(m.worker)
	w.str(string(m.job))
	return w.buf
}

func (m *resultMsg) encode() []byte {
	w := writer{buf: make([]byte, 0, 1+30+len(m.data))}
	w.buf = append(w.buf, msgResult)
	w.uvarint(m.worker)
	w.uvarint(m.status)
	w.str(string(m.data))
	return w.buf
}

func (m *statsMsg) encode() []byte {
	w := writer{buf: []byte{msgStats}}
	w.str(m.pkgpath)
	w.uvarint(m.funcs)
	w.uvarint(m.remote)
	w.uvarint(m.cost)
	w.uvarint(m.remoteCost)
	w.uvarint(m.resBytes)
	return w.buf
}

// decodeMsg decodes a frame's body into one of the message types above
// (as a pointer). A body with an unknown type, too few bytes for its
// fields or bytes after them is an error.
func decodeMsg(body []byte) (interface{}, error) {
	if len(body) == 0 {
		return nil, errors.New("empty message")
	}
	r := &reader{buf: body, off: 1}
	var m interface{}
	switch body[0] {
	case msgHello:
		h := &helloMsg{version: r.uvarint(), compile: r.str(), cwd: r.str()}
		h.args = r.strs()
		h.env = r.strs()
		h.caps = r.uvarint()
		m = h
	case msgGrant:
		m = &grantMsg{n: r.uvarint(), reason: r.str(), kind: r.uvarint(), verify: r.uvarint()}
	case msgWhole:
		w := &wholeMsg{status: r.uvarint(), exit: r.uvarint(), output: r.bytes()}
		n := r.count(2) // each file takes at least two bytes
		for i := 0; i < n && r.err == nil; i++ {
			w.files = append(w.files, wholeFile{name: r.str(), data: r.bytes()})
		}
		w.msg = r.str()
		w.verify = r.uvarint()
		w.host = r.str()
		m = w
	case msgVerdict:
		m = &verdictMsg{match: r.uvarint(), msg: r.str()}
	case msgJob:
		m = &jobMsg{worker: r.uvarint(), job: r.bytes()}
	case msgResult:
		m = &resultMsg{worker: r.uvarint(), status: r.uvarint(), data: r.bytes()}
	case msgStats:
		m = &statsMsg{pkgpath: r.str(), funcs: r.uvarint(), remote: r.uvarint(), cost: r.uvarint(), remoteCost: r.uvarint(), resBytes: r.uvarint()}
	default:
		return nil, fmt.Errorf("unknown message type %d", body[0])
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("message type %d: %v", body[0], err)
	}
	return m, nil
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

// The connection.

// agentConn is this compile's connection to the agent. One goroutine
// reads it: first GRANT, then the RESULTs, which it hands to the
// workers; writes take wmu.
type agentConn struct {
	conn agentSocket
	wmu  sync.Mutex

	granted chan grantMsg // receives the GRANT; dead tells of a failure before it
	whole   chan wholeMsg // receives the WHOLE of a whole placement

	mu      sync.Mutex
	err     error            // why the connection is dead
	dead    chan struct{}    // closed when err is set
	results []chan resultMsg // per granted worker
	stats   *stats           // the split's statistics, for STATS
	dl      time.Time        // deadline for the RESULTs
}

// agentSocket is a connection to the agent (agent_dial.go).
type agentSocket interface {
	io.ReadWriteCloser
	SetWriteDeadline(time.Time) error
}

// agent is this compile's connection, once startAgent ran.
var agent *agentConn

// startAgent dials the agent, says HELLO and waits for the placement
// (placement.go): the compile runs here, holding a local token, or it ran as
// a whole on a worker and exits there.
func startAgent() {
	testTimeouts()
	a := &agentConn{granted: make(chan grantMsg, 1), whole: make(chan wholeMsg, 1), dead: make(chan struct{})}
	agent = a
	go a.run(Config.Socket)
	awaitPlacement(a)
}

// testTimeouts lets tests shorten the bounds on the agent.
func testTimeouts() {
	for _, t := range []struct {
		env string
		d   *time.Duration
	}{
		{"DISTSSA_TEST_QUEUE_TIMEOUT", &agentQueueTimeout},
		{"DISTSSA_TEST_RESULT_TIMEOUT", &agentResultTimeout},
	} {
		if v := os.Getenv(t.env); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				*t.d = d
			}
		}
	}
}

// fail records the first error that kills the connection and closes it.
func (a *agentConn) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return
	}
	a.err = err
	close(a.dead)
	if a.conn != nil {
		a.conn.Close()
	}
}

func (a *agentConn) failure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// run connects, says HELLO, then reads GRANT and the RESULTs until the
// connection ends.
func (a *agentConn) run(socket string) {
	conn, err := dialUnix(socket, agentDialTimeout)
	if err != nil {
		a.fail(fmt.Errorf("cannot reach the agent: %v", err))
		return
	}
	a.mu.Lock()
	if a.err != nil { // closed while dialing
		a.mu.Unlock()
		conn.Close()
		return
	}
	a.conn = conn
	a.mu.Unlock()

	h := helloMsg{version: agentProtoVersion, args: os.Args[1:]}
	if compileReason() == "" {
		h.caps |= capSplit
	}
	if os.Getenv("GOSSAFUNC") == "" { // ssa.html would be written on the worker
		h.caps |= capWhole
	}
	h.compile, _ = os.Executable()
	h.cwd, _ = os.Getwd()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GO") {
			h.env = append(h.env, kv)
		}
	}
	if err := a.send(h.encode()); err != nil {
		return
	}

	r := bufio.NewReader(conn)
	m, err := a.read(r)
	if err != nil {
		return
	}
	g, ok := m.(*grantMsg)
	if !ok {
		a.fail(fmt.Errorf("agent sent message type %T before GRANT", m))
		return
	}
	n := g.n
	if g.kind == kindWhole && n != 0 {
		a.fail(fmt.Errorf("agent granted a whole compile %d workers", n))
		return
	}
	if n > maxAgentWorkers*16 {
		a.fail(fmt.Errorf("agent granted %d workers", n))
		return
	}
	a.mu.Lock()
	a.results = make([]chan resultMsg, n)
	for i := range a.results {
		a.results[i] = make(chan resultMsg, 1)
	}
	a.mu.Unlock()
	a.granted <- *g
	if g.kind == kindWhole {
		m, err := a.read(r)
		if err != nil {
			return
		}
		w, ok := m.(*wholeMsg)
		if !ok {
			a.fail(fmt.Errorf("agent sent message type %T, want WHOLE", m))
			return
		}
		a.whole <- *w
		n = 0 // a failed WHOLE leaves the compile local, without workers
	}
	for {
		m, err := a.read(r)
		if err != nil {
			return
		}
		res, ok := m.(*resultMsg)
		if !ok {
			a.fail(fmt.Errorf("agent sent message type %T, want RESULT", m))
			return
		}
		if res.worker >= n {
			a.fail(fmt.Errorf("agent sent a RESULT for worker %d of %d", res.worker, n))
			return
		}
		select {
		case a.results[res.worker] <- *res:
		default:
			a.fail(fmt.Errorf("agent sent two RESULTs for worker %d", res.worker))
			return
		}
	}
}

// read reads and decodes one message; an error kills the connection.
func (a *agentConn) read(r *bufio.Reader) (interface{}, error) {
	body, err := readFrame(r)
	if err == nil {
		var m interface{}
		if m, err = decodeMsg(body); err == nil {
			return m, nil
		}
	}
	if err == io.EOF {
		err = errors.New("agent closed the connection")
	}
	a.fail(err)
	return nil, err
}

// send writes one frame, bounded in time; an error kills the connection.
func (a *agentConn) send(body []byte) error {
	if err := a.failure(); err != nil {
		return err
	}
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.conn.SetWriteDeadline(time.Now().Add(agentWriteTimeout))
	err := writeFrame(a.conn, body)
	if err != nil {
		err = fmt.Errorf("writing to the agent: %v", err)
		a.fail(err)
	}
	return err
}

// agentWorkers takes the agent's GRANT of a split and returns a Worker
// for each granted worker (at most maxAgentWorkers; the others get an
// empty JOB at once). If the compile gets no workers, it returns the
// reason, which keeps every function local.
func agentWorkers(s *split) ([]Worker, string) {
	a := agent
	if a == nil {
		return nil, "no agent" // not reached: startWorkers ran
	}
	// awaitPlacement, before the front end, left the GRANT in the
	// channel, or the connection died without one.
	var g grantMsg
	select {
	case g = <-a.granted:
	default:
		return nil, "no grant: " + a.failure().Error()
	}
	if g.n == 0 {
		if g.reason == "" {
			g.reason = "no reason given"
		}
		return nil, "agent granted 0: " + g.reason
	}
	if g.verify != 0 {
		// Sampled verification of this split: a local compile at exit.
		sampled = a
		base.AtExit(verify)
	}
	a.mu.Lock()
	a.stats = &s.stats
	a.dl = time.Now().Add(agentResultTimeout)
	a.mu.Unlock()
	ws := make([]Worker, g.n)
	for i := range ws {
		ws[i] = &agentWorker{a: a, id: uint64(i)}
	}
	if len(ws) > maxAgentWorkers {
		closeWorkers(ws[maxAgentWorkers:])
		ws = ws[:maxAgentWorkers]
	}
	return ws, ""
}

// agentWorker is a granted worker: its JOB and RESULT go over the
// compile's one connection.
type agentWorker struct {
	a    *agentConn
	id   uint64
	job  []byte
	sent bool // a JOB went out (or could not)
}

// Send records the job; Close sends it.
func (w *agentWorker) Send(job []byte) {
	w.job = append(w.job[:0], job...)
}

// Close sends the worker's one JOB: the job given to Send, or an empty
// one that releases the worker.
func (w *agentWorker) Close() {
	if w.sent {
		return
	}
	w.sent = true
	m := jobMsg{worker: w.id, job: w.job}
	w.a.send(m.encode()) // a failure shows in Wait
}

// Wait returns the worker's result. A worker with an empty job has
// none. A failed RESULT, a dead connection or the result timeout is an
// error, and the client compiles the worker's functions itself.
func (w *agentWorker) Wait() ([]byte, error) {
	w.Close()
	if len(w.job) == 0 {
		return nil, nil
	}
	a := w.a
	a.mu.Lock()
	ch := a.results[w.id]
	dl := a.dl
	a.mu.Unlock()
	var res resultMsg
	select {
	case res = <-ch:
	default:
		timer := time.NewTimer(time.Until(dl))
		defer timer.Stop()
		select {
		case res = <-ch:
		case <-a.dead:
			select {
			case res = <-ch: // it came just before the end
			default:
				return nil, fmt.Errorf("agent: %v", a.failure())
			}
		case <-timer.C:
			return nil, fmt.Errorf("agent: no result within %v", agentResultTimeout)
		}
	}
	switch res.status {
	case resultOK:
		return res.data, nil
	case resultFailed:
		msg := lastLine(string(res.data))
		if msg == "" {
			msg = "no message"
		}
		return nil, errors.New(msg)
	}
	return nil, fmt.Errorf("agent: RESULT status %d", res.status)
}

// closeAgent ends the exchange of a compile that sends no jobs: it
// releases the workers of a GRANT nobody read with empty JOBs. The
// connection stays open until the compile exits: it holds the compile's
// local token.
func closeAgent() {
	a := agent
	if a == nil {
		return
	}
	agent = nil
	select {
	case g := <-a.granted:
		for i := uint64(0); i < g.n; i++ {
			m := jobMsg{worker: i}
			a.send(m.encode())
		}
	default:
	}
}

// finishAgent sends STATS once the split is finished. The connection
// stays open until the compile exits: it holds the compile's local token.
func finishAgent() {
	a := agent
	if a == nil {
		return
	}
	agent = nil
	a.mu.Lock()
	st := a.stats
	a.mu.Unlock()
	if st != nil {
		m := statsMsg{
			pkgpath:    base.Ctxt.Pkgpath,
			funcs:      uint64(st.funcs),
			remote:     uint64(st.remote),
			cost:       uint64(st.cost),
			remoteCost: uint64(st.remoteCt),
			resBytes:   uint64(st.bytes),
		}
		a.send(m.encode())
	}
}
