// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"errors"
	"os"
	"time"
)

// peerWatch watches a connection while the peer must send nothing: a
// queued Start or Run, a split compile between Job and Result, a whole
// compile. A read that returns means the peer closed the connection (or
// broke the protocol), and the job is for nobody: gone is closed then,
// so that the job stops and frees its slot at once.
type peerWatch struct {
	c    *conn
	gone chan struct{}
	err  error // the read's, once gone is closed
}

// watchPeer starts watching c. Until stop, nothing else may read c.
func (c *conn) watchPeer() *peerWatch {
	c.nc.SetReadDeadline(time.Time{})
	w := &peerWatch{c: c, gone: make(chan struct{})}
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
	w.c.nc.SetReadDeadline(time.Now())
	<-w.gone
	if errors.Is(w.err, os.ErrDeadlineExceeded) {
		return nil
	}
	return w.err
}
