// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

// Replay mode (Options.Replay), for the emulated farm of bench/farm.sh
// only: the worker runs no compile. It answers a whole compile from its
// result cache, as a worker recorded it during a real build, after
// holding a slot for the compile's recorded run time times the scale, so
// that many slots on a small machine behave like many remote CPUs. A
// compile that was not recorded, and any split job, is refused (the
// client then compiles it here, as after any refusal). Its answers are
// real outputs, byte-identical to what the recording compiled; only the
// time is emulated. It serves loopback addresses only: it is not a
// worker anyone should reach.

import (
	"errors"
	"fmt"
	"time"
)

// errReplaySplit refuses a split job in replay mode.
var errReplaySplit = errors.New("replay: this worker replays recorded whole compiles only, not split jobs")

// replayWhole serves a RunWhole in replay mode; key is its action key.
func (c *conn) replayWhole(key []byte, pkg string, refuse func(error) error) error {
	d, run := c.cachedRun(key)
	if d == nil || run <= 0 {
		c.s.st.resultMisses.Add(1)
		return refuse(fmt.Errorf("replay: no recorded result for this compile (-p %s)", pkg))
	}
	queue, release, err := c.acquire()
	if err != nil {
		return err
	}
	delay := time.Duration(float64(run) * c.s.cfg.Replay)
	c.s.st.runs.Add(1)
	c.s.st.resultHits.Add(1)
	c.s.st.jobs.Add(1)
	w := c.watchPeer()
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-w.gone:
	case <-c.s.hardCtx.Done():
	}
	t.Stop()
	connErr := w.stop()
	release()
	if connErr != nil {
		return connErr
	}
	if err := c.s.hardCtx.Err(); err != nil {
		return err
	}
	c.s.st.ok.Add(1)
	d.Cached, d.QueueNs, d.RunNs = false, uint64(queue), uint64(delay)
	c.log.Info("job", "kind", "whole", "pkg", pkg, "replay", true, "status", d.Status, "exit", d.Exit,
		"queue", queue, "run", delay, "recorded", run, "outputs", outputSize(d))
	return c.send(d)
}
