// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agentclient

// The connection. The compile dials the go command's agent as it starts
// and sends HELLO; the agent places it (GRANT): here, with n workers for
// a split, whose front ends it starts, or as a whole on a worker (WHOLE
// follows). Once its own front end is done, a split compile sends one
// JOB per worker, takes the RESULTs of each non-empty JOB (the result's
// bytes as they come, then an empty one that ends them), and sends STATS
// at its exit.
//
// Nothing here can fail the compile or hold it for long: a socket that
// does not answer, a GRANT that does not come in time, a broken frame, a
// closed connection or a missing or failed RESULT all end as local
// compiles of the functions concerned, with the reason in the statistics
// of -d=distssastats.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bounds on the agent. The variables may be changed by tests
// ($DISTSSA_TEST_QUEUE_TIMEOUT, $DISTSSA_TEST_RESULT_TIMEOUT).
var (
	// dialTimeout bounds connecting to the agent's socket.
	dialTimeout = 2 * time.Second
	// queueTimeout bounds the wait for GRANT of a compile that asks
	// before its front end: the agent holds it until a local token or a
	// worker slot is free, which may take as long as other compiles do.
	queueTimeout = 30 * time.Minute
	// wholeTimeout bounds the wait for a whole compile's WHOLE: as long
	// as the exec transport lets a worker run.
	wholeTimeout = 10 * time.Minute
	// resultTimeout bounds the wait for all RESULTs, from the time the
	// jobs are sent: as long as the exec transport lets a worker run.
	resultTimeout = 10 * time.Minute
	// writeTimeout bounds each write to the agent.
	writeTimeout = 10 * time.Second
)

// maxWorkers bounds the workers a compile plans with; workers that an
// agent grants beyond it get an empty JOB.
const maxWorkers = 256

// Conn is a compile's connection to the agent. One goroutine reads it:
// first GRANT, then WHOLE or the RESULTs, which it hands to the workers;
// writes take wmu.
type Conn struct {
	conn socket
	wmu  sync.Mutex

	granted chan Grant // receives the GRANT; dead tells of a failure before it
	whole   chan Whole // receives the WHOLE of a whole placement

	mu      sync.Mutex
	err     error         // why the connection is dead
	dead    chan struct{} // closed when err is set
	results []*inbox      // per granted worker
	split   bool          // Workers handed the granted workers to a split: STATS follows
	dl      time.Time     // deadline for the RESULTs
}

// socket is a connection to the agent (dial_linux.go).
type socket interface {
	io.ReadWriteCloser
	SetWriteDeadline(time.Time) error
}

// Dial starts the compile's exchange with the agent listening on the
// unix socket at path: in the background, it connects and says HELLO
// with capabilities caps, then reads what the agent sends. It returns at
// once; AwaitGrant waits for the placement.
func Dial(path string, caps uint64) *Conn {
	testTimeouts()
	c := &Conn{granted: make(chan Grant, 1), whole: make(chan Whole, 1), dead: make(chan struct{})}
	go c.run(path, caps)
	return c
}

// testTimeouts lets tests shorten the bounds on the agent.
func testTimeouts() {
	for _, t := range []struct {
		env string
		d   *time.Duration
	}{
		{"DISTSSA_TEST_QUEUE_TIMEOUT", &queueTimeout},
		{"DISTSSA_TEST_RESULT_TIMEOUT", &resultTimeout},
	} {
		if v := os.Getenv(t.env); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				*t.d = d
			}
		}
	}
}

// fail records the first error that kills the connection and closes it.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.dead)
	if c.conn != nil {
		c.conn.Close()
	}
}

func (c *Conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// run connects, says HELLO, then reads GRANT, WHOLE and the RESULTs
// until the connection ends.
func (c *Conn) run(path string, caps uint64) {
	conn, err := dialUnix(path, dialTimeout)
	if err != nil {
		c.fail(fmt.Errorf("cannot reach the agent: %v", err))
		return
	}
	c.mu.Lock()
	if c.err != nil { // closed while dialing
		c.mu.Unlock()
		conn.Close()
		return
	}
	c.conn = conn
	c.mu.Unlock()

	h := Hello{Version: Version, Args: os.Args[1:], Caps: caps}
	h.Compile, _ = os.Executable()
	h.Cwd, _ = os.Getwd()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GO") {
			h.Env = append(h.Env, kv)
		}
	}
	if err := c.send(&h); err != nil {
		return
	}

	r := bufio.NewReader(conn)
	m, err := c.read(r)
	if err != nil {
		return
	}
	g, ok := m.(*Grant)
	if !ok {
		c.fail(fmt.Errorf("agent sent message type %T before GRANT", m))
		return
	}
	n := g.N
	if g.Kind == KindWhole && n != 0 {
		c.fail(fmt.Errorf("agent granted a whole compile %d workers", n))
		return
	}
	if n > maxWorkers*16 {
		c.fail(fmt.Errorf("agent granted %d workers", n))
		return
	}
	c.mu.Lock()
	c.results = make([]*inbox, n)
	for i := range c.results {
		c.results[i] = &inbox{came: make(chan struct{}, 1)}
	}
	c.mu.Unlock()
	c.granted <- *g
	if g.Kind == KindWhole {
		m, err := c.read(r)
		if err != nil {
			return
		}
		w, ok := m.(*Whole)
		if !ok {
			c.fail(fmt.Errorf("agent sent message type %T, want WHOLE", m))
			return
		}
		c.whole <- *w
		n = 0 // a failed WHOLE leaves the compile local, without workers
	}
	for {
		m, err := c.read(r)
		if err != nil {
			return
		}
		res, ok := m.(*Result)
		if !ok {
			c.fail(fmt.Errorf("agent sent message type %T, want RESULT", m))
			return
		}
		if res.Worker >= n {
			c.fail(fmt.Errorf("agent sent a RESULT for worker %d of %d", res.Worker, n))
			return
		}
		if err := c.put(res); err != nil {
			c.fail(err)
			return
		}
	}
}

// inbox holds what came of a worker's result and Recv has not taken.
// Conn.mu guards it.
type inbox struct {
	data  []byte
	at    time.Time     // when the last RESULT came
	ended bool          // the RESULT that ends the result came
	err   error         // a failed RESULT ended it
	came  chan struct{} // signals a RESULT
}

// put files a RESULT in its worker's inbox.
func (c *Conn) put(res *Result) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ib := c.results[res.Worker]
	if ib.ended {
		return fmt.Errorf("agent sent a RESULT for worker %d after the end of its result", res.Worker)
	}
	ib.at = time.Now()
	switch res.Status {
	case StatusOK:
		ib.data = append(ib.data, res.Data...)
		ib.ended = len(res.Data) == 0
	case StatusFailed:
		ib.ended, ib.err = true, errors.New(failureMessage(res.Data))
	default:
		ib.ended, ib.err = true, fmt.Errorf("agent: RESULT status %d", res.Status)
	}
	select {
	case ib.came <- struct{}{}:
	default:
	}
	return nil
}

// read reads and decodes one message; an error kills the connection.
func (c *Conn) read(r *bufio.Reader) (Msg, error) {
	m, err := Read(r)
	if err == nil {
		return m, nil
	}
	if err == io.EOF {
		err = errors.New("agent closed the connection")
	}
	c.fail(err)
	return nil, err
}

// send writes one message, bounded in time; an error kills the
// connection.
func (c *Conn) send(m Msg) error {
	if err := c.failure(); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := Write(c.conn, m)
	if err != nil {
		err = fmt.Errorf("writing to the agent: %v", err)
		c.fail(err)
	}
	return err
}

// Placement.

// AwaitGrant waits for the agent's GRANT, at most queueTimeout. If none
// comes, it returns false: the compile runs here, and Workers says why
// it has none. Otherwise the caller decides what the compile does and
// leaves the grant it runs under with PutGrant.
func (c *Conn) AwaitGrant() (Grant, bool) {
	timer := time.NewTimer(queueTimeout)
	defer timer.Stop()
	var g Grant
	select {
	case g = <-c.granted:
	case <-c.dead:
		select {
		case g = <-c.granted:
		default:
			return g, false
		}
	case <-timer.C:
		c.fail(fmt.Errorf("timeout: no GRANT within %v", queueTimeout))
		return g, false
	}
	return g, true
}

// PutGrant leaves g, the grant under which the compile runs here, for
// Workers (at the split) or Release.
func (c *Conn) PutGrant(g Grant) {
	c.granted <- g
}

// AwaitWhole waits for the WHOLE of a whole placement, at most
// wholeTimeout. The error says why none came.
func (c *Conn) AwaitWhole() (Whole, error) {
	timer := time.NewTimer(wholeTimeout)
	defer timer.Stop()
	var w Whole
	select {
	case w = <-c.whole:
	case <-c.dead:
		select {
		case w = <-c.whole:
		default:
			return w, c.failure()
		}
	case <-timer.C:
		c.fail(fmt.Errorf("no WHOLE within %v", wholeTimeout))
		return w, fmt.Errorf("no answer within %v", wholeTimeout)
	}
	return w, nil
}

// SendVerdict tells the agent whether a verification found differences
// (diffs, each saying which output differs and where).
func (c *Conn) SendVerdict(diffs []string) {
	m := Verdict{Match: 1}
	if len(diffs) > 0 {
		m = Verdict{Msg: strings.Join(diffs, "; ")}
	}
	c.send(&m)
}

// The split.

// Workers takes the GRANT that PutGrant left and returns a Worker for
// each granted worker (at most maxWorkers; the others get an empty JOB
// at once), and whether the agent asked for the split to be verified. If
// the compile gets no workers, it returns the reason instead, which
// keeps every function local.
func (c *Conn) Workers() (ws []*Worker, verify bool, reason string) {
	var g Grant
	select {
	case g = <-c.granted:
	default:
		return nil, false, "no grant: " + c.failure().Error()
	}
	if g.N == 0 {
		if g.Reason == "" {
			g.Reason = "no reason given"
		}
		return nil, false, "agent granted 0: " + g.Reason
	}
	c.mu.Lock()
	c.split = true
	c.dl = time.Now().Add(resultTimeout)
	c.mu.Unlock()
	ws = make([]*Worker, g.N)
	for i := range ws {
		ws[i] = &Worker{c: c, id: uint64(i)}
	}
	if len(ws) > maxWorkers {
		for _, w := range ws[maxWorkers:] {
			w.Close()
		}
		ws = ws[:maxWorkers]
	}
	return ws, g.Verify != 0, ""
}

// Worker is a granted worker: its JOB and RESULT go over the compile's
// one connection.
type Worker struct {
	c     *Conn
	id    uint64
	job   []byte
	sent  bool // a JOB went out (or could not)
	ended bool // Recv returned the end, or Cancel gave it up
}

// Send records the job; Close sends it.
func (w *Worker) Send(job []byte) {
	w.job = append(w.job[:0], job...)
}

// Close sends the worker's one JOB: the job given to Send, or an empty
// one that releases the worker.
func (w *Worker) Close() {
	if w.sent {
		return
	}
	w.sent = true
	w.c.send(&Job{Worker: w.id, Data: w.job}) // a failure shows in Wait
}

// Recv returns the bytes of the worker's result that came since the
// last call, whether the result has ended, and when its last RESULT
// came. Unless wait, it returns at once, with nothing if nothing came;
// with wait, it waits for something. A worker with an empty job has no
// result. A failed RESULT, a dead connection or the result timeout ends
// the result with an error, and the client compiles itself the
// functions it did not get.
func (w *Worker) Recv(wait bool) (data []byte, end bool, at time.Time, err error) {
	w.Close()
	if len(w.job) == 0 || w.ended {
		return nil, true, time.Time{}, nil
	}
	c := w.c
	var timer *time.Timer
	for {
		c.mu.Lock()
		ib, dl := c.results[w.id], c.dl
		data, end, at, err = ib.data, ib.ended, ib.at, ib.err
		ib.data = nil
		c.mu.Unlock()
		if end {
			w.ended = true
			return data, true, at, err
		}
		dead := false
		select {
		case <-c.dead:
			dead = true
		default:
		}
		switch {
		case dead:
			w.ended = true
			return data, true, at, fmt.Errorf("agent: %v", c.failure())
		case len(data) > 0 || !wait:
			return data, false, at, nil
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(dl))
			defer timer.Stop()
		}
		select {
		case <-ib.came:
		case <-c.dead:
		case <-timer.C:
			w.ended = true
			return nil, true, time.Time{}, fmt.Errorf("agent: no result within %v", resultTimeout)
		}
	}
}

// Cancel gives up the worker's result: for a worker whose result has
// not ended, an empty JOB after its job tells the agent to stop it, which
// frees its slot. A RESULT that comes later is dropped.
func (w *Worker) Cancel() {
	w.Close()
	if w.ended || len(w.job) == 0 {
		w.ended = true
		return
	}
	w.ended = true
	w.c.mu.Lock()
	ended := w.c.results[w.id].ended
	w.c.mu.Unlock()
	if !ended {
		w.c.send(&Job{Worker: w.id}) // a failure is the connection's: nothing more comes anyway
	}
}

// failureMessage returns the message of a failed RESULT: the last line
// of its data.
func failureMessage(data []byte) string {
	s := strings.TrimSpace(string(data))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		s = "no message"
	}
	return s
}

// Release ends the exchange of a compile that sends no jobs: it releases
// the workers of a GRANT nobody took with empty JOBs. The connection
// stays open until the compile exits: it holds the compile's local
// token.
func (c *Conn) Release() {
	select {
	case g := <-c.granted:
		for i := uint64(0); i < g.N; i++ {
			c.send(&Job{Worker: i})
		}
	default:
	}
}

// Finish sends STATS, st, at the exit of a compile whose split took the
// granted workers. The connection stays open until the compile
// exits: it holds the compile's local token.
func (c *Conn) Finish(st *Stats) {
	c.mu.Lock()
	split := c.split
	c.mu.Unlock()
	if split && st != nil {
		c.send(st)
	}
}
