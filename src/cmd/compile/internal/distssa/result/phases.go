// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// A worker's phases, which travel at the end of its result so that the
// client can say where a split's time went (-d=distssastats=1, the
// agent's trace).
//
//	phases = start:varint frontend:uvarint job:uvarint backend:uvarint encode:uvarint
//
// start is the worker's start in nanoseconds since the Unix epoch, by
// the worker's clock; the others are durations in nanoseconds, in the
// order the worker spent them.

import "time"

// Phases are a worker's times for its shard.
type Phases struct {
	Start    time.Time     // the worker's start: distssa's initialization in its process
	FrontEnd time.Duration // from Start to the end of its front end
	Job      time.Duration // then its fingerprint and the wait for the job
	Backend  time.Duration // then the shard's backend, encoding excepted
	Encode   time.Duration // encoding the result, during the backend and after it
}

// End is when the worker's result was ready to send, by its clock: the
// end of its encoding.
func (p Phases) End() time.Time {
	return p.Start.Add(p.FrontEnd + p.Job + p.Backend + p.Encode)
}

// maxPhase bounds each decoded duration: ten times the exec transport's
// bound on a worker, far below an overflow of their sum.
const maxPhase = 100 * time.Minute

func (p *Phases) encode(w *writer) {
	w.varint(p.Start.UnixNano())
	for _, d := range []time.Duration{p.FrontEnd, p.Job, p.Backend, p.Encode} {
		if d < 0 {
			d = 0 // a clock that went back
		}
		w.uvarint(uint64(d))
	}
}

func decodePhases(r *reader) Phases {
	var p Phases
	start := r.varint()
	if r.err == nil && start <= 0 {
		r.fail("phases: start %d is not after the Unix epoch", start)
	}
	p.Start = time.Unix(0, start)
	names := []string{"front end", "job", "backend", "encode"}
	for i, d := range []*time.Duration{&p.FrontEnd, &p.Job, &p.Backend, &p.Encode} {
		v := r.uvarint()
		if r.err == nil && v > uint64(maxPhase) {
			r.fail("phases: %s of %v exceeds %v", names[i], time.Duration(v), maxPhase)
		}
		*d = time.Duration(v)
	}
	return p
}
