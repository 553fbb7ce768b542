// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"errors"
	"os"
	"sync"
	"time"

	"distssa/remote/internal/wire"
)

// peerWatch watches a connection while the peer must send nothing: a
// queued Start or RunWhole, a split compile between Job and Result, a whole
// compile. A read that returns means the peer closed the connection (or
// broke the protocol), and the job is for nobody: gone is closed then,
// so that the job stops and frees its slot at once. Meanwhile it sends a
// Working message every Options.Heartbeat, by which the agent tells a long
// wait from a stalled worker.
type peerWatch struct {
	c     *conn
	gone  chan struct{}
	err   error // the read's, once gone is closed
	quiet chan struct{}
	beats sync.WaitGroup
	once  sync.Once
}

// watchPeer starts watching c. Until stop, nothing else may read or
// write c.
func (c *conn) watchPeer() *peerWatch {
	c.nc.SetReadDeadline(time.Time{})
	w := &peerWatch{c: c, gone: make(chan struct{}), quiet: make(chan struct{})}
	w.beats.Add(1)
	go func() {
		defer w.beats.Done()
		t := time.NewTicker(c.s.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-w.quiet:
				return
			case <-t.C:
				if c.send(&wire.Working{}) != nil {
					return // the read sees the broken connection too
				}
			}
		}
	}()
	go func() {
		var b [1]byte
		n, err := c.r.Read(b[:])
		if n > 0 {
			err = errors.New("unexpected data while a job runs")
		} else if err == nil {
			err = errors.New("connection lost")
		}
		w.err = err
		close(w.gone)
	}()
	return w
}

// stop ends the watch and returns the connection's error if the peer
// went away (or sent data), nil if it is still there and silent. It may
// be called more than once.
func (w *peerWatch) stop() error {
	w.once.Do(func() { close(w.quiet) })
	w.beats.Wait() // the caller may write again
	w.c.nc.SetReadDeadline(time.Now())
	<-w.gone
	if errors.Is(w.err, os.ErrDeadlineExceeded) {
		return nil
	}
	return w.err
}
