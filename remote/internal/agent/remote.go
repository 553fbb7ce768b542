// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"distssa/remote/internal/localproto"
	"distssa/remote/internal/wire"
)

// uploadBatch bounds the uncompressed bytes of one Upload message.
const uploadBatch = 16 << 20

// runShare runs the share of granted worker i of a compile on host h: it prepares
// the job on the worker at once (upload, start), waits for the
// compiler's job, and answers the compiler's RESULTs: the result's
// bytes as they come (in Chunks from a worker that streams, else all at
// once), then an empty RESULT that ends them. Any failure, also after
// some bytes, becomes a failed RESULT naming the host.
func (c *compile) runShare(ctx context.Context, i int, h *host) {
	a := c.a
	released := false
	release := func() {
		if !released {
			released = true
			a.release(h)
		}
	}
	defer release()
	l, t0 := a.tr.take(h.Addr), time.Now()
	defer func() {
		end := time.Now()
		a.tr.span(l, c.pkg(), t0, end, map[string]any{"placement": "split share"})
		c.shares[i] = shareSpan{l, t0, end}
		a.tr.release(l)
	}()

	wc, err := c.start(ctx, h)
	if err != nil {
		// Free the slot now: no remote work can come of it.
		release()
	}
	var job []byte
	select {
	case job = <-c.jobs[i]:
	case <-ctx.Done():
		if wc != nil {
			wc.NC.Close()
		}
		return
	}
	forward := func(b []byte) {
		c.send(&localproto.Result{Worker: uint64(i), Status: localproto.StatusOK, Data: b})
	}
	if err == nil {
		err = c.hedged(ctx, h, wc, job, forward)
	}
	release()
	if len(job) == 0 {
		return // no RESULT for an empty job
	}
	h.mu.Lock()
	h.jobs++
	h.mu.Unlock()
	if err != nil && ctx.Err() != nil {
		// The compile gave up the result (an empty JOB after its job),
		// closed its connection (it no longer wants the result, or it
		// died) or the build is ending: no one to answer, and no
		// failure of the host's.
		return
	}
	if err != nil {
		// One line, as the compiler shows it.
		msg := strings.ReplaceAll(fmt.Sprintf("distssa: worker %s: %v", h.Addr, err), "\n", " ")
		h.failedWith(err)
		a.fail(msg)
		c.send(&localproto.Result{Worker: uint64(i), Status: localproto.StatusFailed, Data: []byte(msg)})
		return
	}
	h.mu.Lock()
	h.ok++
	h.mu.Unlock()
	c.send(&localproto.Result{Worker: uint64(i), Status: localproto.StatusOK}) // the end
}

// broken closes a connection whose exchange failed with err, and backs
// its host off if err is a fault of the host or the network that the
// compile did not cause by going away. A compile that a local race
// answered (wholecompile.go) went away too; but a worker silent for SilentAfter
// by then has stalled: that is a fault of the host, errStalled.
func (a *Agent) broken(ctx context.Context, wc *wconn, err error) error {
	wc.NC.Close()
	switch {
	case isHostFault(err) && ctx.Err() == nil:
		a.hostFailed(wc.h)
	case errors.Is(context.Cause(ctx), errRaceLost):
		if d := wc.Silence(); a.pol.stalled(d) {
			a.hostFailed(wc.h)
			return fmt.Errorf("%w: silent for %v", errStalled, d.Round(time.Millisecond))
		}
	}
	return err
}

// start connects, uploads the missing inputs and starts the compile in
// worker mode (a split's share).
func (c *compile) start(ctx context.Context, h *host) (*wconn, error) {
	wc, err := c.connect(ctx, h, splitTask)
	if err != nil {
		return nil, err
	}
	a, in := c.a, c.in
	// A compile that goes away interrupts the exchange.
	stop := context.AfterFunc(ctx, wc.Interrupt)
	defer stop()
	m, err := wc.RoundTrip(&wire.Start{Cwd: in.cwd, Args: in.args, Env: in.env, Files: in.wireFiles()}, a.cfg.RequestTimeout)
	if err != nil {
		return nil, a.broken(ctx, wc, fmt.Errorf("starting the job: %w", err))
	}
	if _, ok := m.(*wire.Started); !ok {
		return nil, a.broken(ctx, wc, wire.Unexpected(m))
	}
	if !stop() {
		return nil, a.broken(ctx, wc, errCancelled)
	}
	wc.NC.SetDeadline(time.Time{})
	return wc, nil
}

// wireFiles lists the inputs for Start and RunWhole.
func (in *inputs) wireFiles() []wire.File {
	files := make([]wire.File, len(in.files))
	for i, f := range in.files {
		files[i] = wire.File{Path: f.path, Hash: f.hash}
	}
	return files
}

// connect gets a connection to h for the compile's toolchain and uploads
// the inputs the worker lacks, for a task of the kind. A refusal in the
// handshake refuses the host for the rest of the build; a throttle or a
// fault backs it off; a worker that lacks the capability of a whole
// compile gets none.
func (c *compile) connect(ctx context.Context, h *host, kind task) (*wconn, error) {
	a := c.a
	in := c.in
	in.hashOnce.Do(func() { in.hashErr = a.hashInputs(in) })
	if in.hashErr != nil {
		return nil, in.hashErr
	}
	var wc *wconn
	var m any
	for try := 0; ; try++ {
		var pooled bool
		var err error
		wc, pooled, err = a.get(ctx, h, in.id)
		var th *wire.Throttled
		if errors.As(err, &th) {
			// The worker refuses this address for a while (too many
			// failed authentications, perhaps another client's): wait
			// as long as it says.
			a.backOff(h, th.For)
			return nil, err
		}
		var we wire.Refusal
		if errors.As(err, &we) {
			// Refused in the handshake: not again in this build.
			a.refuse(h, in.target(), we.Error())
			return nil, err
		}
		if err == nil && kind == wholeTask && !wc.Has(wire.CapWhole) {
			h.put(wc) // good for split work
			a.lacks(h, wc.Caps)
			return nil, wire.Refusal(fmt.Sprintf("the worker lacks the capability %s (it has %q)", wire.CapWhole, wc.Caps))
		}
		if err == nil {
			m, err = wc.RoundTrip(wc.query(in.files), a.cfg.RequestTimeout)
			if err != nil {
				wc.NC.Close()
			}
		}
		if err == nil {
			break
		}
		if pooled && try == 0 && ctx.Err() == nil {
			continue // the worker may have closed an idle connection
		}
		if isHostFault(err) && ctx.Err() == nil {
			a.hostFailed(h)
		}
		return nil, err
	}
	// A compile that goes away interrupts the exchange.
	stop := context.AfterFunc(ctx, wc.Interrupt)
	defer stop()
	miss, ok := m.(*wire.Missing)
	if !ok {
		return nil, a.broken(ctx, wc, wire.Unexpected(m))
	}
	if err := c.upload(wc, miss.Hashes); err != nil {
		return nil, a.broken(ctx, wc, fmt.Errorf("upload: %w", err))
	}
	wc.proved(in.files)
	if !stop() {
		return nil, a.broken(ctx, wc, errCancelled)
	}
	wc.NC.SetDeadline(time.Time{})
	return wc, nil
}

// upload sends the blobs the worker lacks, zstd-compressed, in batches.
func (c *compile) upload(wc *wconn, missing [][]byte) error {
	if len(missing) == 0 {
		return nil
	}
	byHash := map[string]inputFile{}
	for _, f := range c.in.files {
		byHash[string(f.hash)] = f
	}
	wc.NC.SetWriteDeadline(time.Now().Add(c.a.cfg.RequestTimeout))
	defer wc.NC.SetWriteDeadline(time.Time{})
	var batch []wire.Blob
	var size int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := wc.Send(&wire.Upload{Blobs: batch})
		wc.h.mu.Lock()
		wc.h.uploads += uint64(len(batch))
		wc.h.mu.Unlock()
		batch, size = nil, 0
		return err
	}
	for _, h := range missing {
		f, ok := byHash[string(h)]
		if !ok {
			return fmt.Errorf("worker asked for blob %.12x…, which is no input", h)
		}
		data, err := readInput(f.path)
		if err != nil {
			return err
		}
		if string(wire.Hash(data)) != string(f.hash) {
			return fmt.Errorf("input %s changed during the build", f.path)
		}
		if size+len(data) > uploadBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, wire.Blob{Hash: f.hash, Size: uint64(len(data)), Data: wire.Compress(data)})
		size += len(data)
	}
	return flush()
}

// finish forwards the job and waits for the result, which it hands to
// forward as it comes: each Chunk's bytes, then the Result's. forward
// returns false to give up the result (a hedge lost), which ends the
// exchange with errCancelled. The connection goes back to the pool after
// a clean exchange, and is closed otherwise.
func (c *compile) finish(ctx context.Context, wc *wconn, job []byte, forward func([]byte) bool) error {
	a := c.a
	// Cancellation of the compile ends the wait below.
	stop := context.AfterFunc(ctx, wc.Interrupt)
	defer stop()
	end := time.Now().Add(a.cfg.ResultTimeout)
	m, err := wc.RoundTrip(&wire.Job{Size: uint64(len(job)), Data: wire.Compress(job)}, a.cfg.ResultTimeout)
	for err == nil {
		ch, ok := m.(*wire.Chunk)
		if !ok {
			break
		}
		b, derr := wire.Decompress(ch.Data, ch.Size)
		if derr != nil {
			wc.NC.Close()
			return derr
		}
		if !forward(b) {
			wc.NC.Close()
			return errCancelled
		}
		m, err = wc.Next(end)
	}
	if err != nil {
		// A timeout is the worker's fault (it stalls) unless the
		// compile went away, which interrupts the wait the same way.
		return a.broken(ctx, wc, fmt.Errorf("waiting for the result: %w", err))
	}
	r, ok := m.(*wire.Result)
	if !ok {
		wc.NC.Close()
		return wire.Unexpected(m)
	}
	if ctx.Err() != nil {
		wc.NC.Close()
		return errCancelled
	}
	a.hostOK(wc.h)
	if !stop() {
		wc.NC.Close()
		return errCancelled
	}
	wc.NC.SetDeadline(time.Time{})
	wc.h.put(wc)
	if r.Status != 0 {
		return fmt.Errorf("%w: %s", errCompileFailed, r.Msg)
	}
	if r.Size == 0 {
		return nil // streamed, or an empty job's
	}
	b, err := wire.Decompress(r.Data, r.Size)
	if err != nil {
		return err
	}
	if !forward(b) {
		return errCancelled
	}
	return nil
}

// hedged forwards the job to its worker and hands the result to
// forward as it comes. If nothing of the result came by
// Config.HedgeAfter and another host has a free slot, it runs the same
// job there too, from scratch, and the first of the two to deliver any
// of the result delivers all of it: the results are byte-identical,
// since both workers run the same compiler on the same inputs, but their
// pieces may not be cut alike. The other is cancelled. A failure of the
// host delivering, once it delivered something, fails the result.
func (c *compile) hedged(share context.Context, h *host, wc *wconn, job []byte, forward func([]byte)) error {
	a := c.a
	ctx, cancel := context.WithCancel(share)
	defer cancel() // stops the loser
	var mu sync.Mutex
	owner := 0 // the run that delivers: 1 the first host, 2 the hedge
	deliver := func(run int) func([]byte) bool {
		return func(b []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			if owner == 0 {
				owner = run
			}
			if owner != run {
				return false
			}
			forward(b)
			return true
		}
	}
	delivering := func() int {
		mu.Lock()
		defer mu.Unlock()
		return owner
	}
	type outcome struct {
		run int
		err error
	}
	ch := make(chan outcome, 2)
	go func() {
		ch <- outcome{1, c.finish(ctx, wc, job, deliver(1))}
	}()
	if !a.pol.hedges(len(job)) {
		return (<-ch).err
	}
	timer := time.NewTimer(a.pol.HedgeAfter)
	defer timer.Stop()
	pending, hedging := 1, false
	var firstErr error
	for {
		select {
		case o := <-ch:
			pending--
			if o.err == nil {
				return nil
			}
			if d := delivering(); d == o.run {
				return o.err // part of its result went on already
			}
			if firstErr == nil {
				firstErr = o.err
			}
			if pending == 0 {
				return firstErr
			}
		case <-timer.C:
			if hedging || delivering() != 0 {
				continue
			}
			h2 := a.acquireOther(h, c.in.target())
			if h2 == nil {
				continue
			}
			hedging = true
			pending++
			a.st.inc(&a.st.hedges)
			go func() {
				wc2, err := c.start(ctx, h2)
				if err == nil {
					err = c.finish(ctx, wc2, job, deliver(2))
				}
				if err != nil {
					err = fmt.Errorf("hedge on %s: %w", h2.Addr, err)
				}
				a.release(h2) // before the outcome: the RESULT follows it
				ch <- outcome{2, err}
			}()
		}
	}
}

// Proofs of possession (PROTOCOL.md §3, "Proofs of possession"): a
// worker lets a connection use a blob only if the connection uploaded it
// or proved that it holds its content. A Query carries the proof of
// each input the connection has not proved yet; a pooled connection
// proves each blob once.

// query returns the Query of a compile's inputs on the connection, with
// a proof of each blob the worker does not know the connection holds.
func (c *wconn) query(files []inputFile) *wire.Query {
	if len(c.proven)+len(files) > wire.MaxProven {
		c.proven = nil // the worker forgets them too
	}
	q := &wire.Query{Hashes: make([][]byte, len(files))}
	for i, f := range files {
		q.Hashes[i] = f.hash
		if c.proven[string(f.hash)] {
			continue
		}
		if q.Proofs == nil {
			q.Proofs = make([][]byte, len(files))
		}
		q.Proofs[i] = wire.Proof(c.ProofKey, f.hash, f.pos)
	}
	return q
}

// proved records, after a Query and its uploads, that the worker knows
// the connection holds every input: it proved those the worker held and
// uploaded the others.
func (c *wconn) proved(files []inputFile) {
	if c.proven == nil {
		c.proven = map[string]bool{}
	}
	for _, f := range files {
		c.proven[string(f.hash)] = true
	}
}
