// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// The build trace: with Config.Trace, the agent records every
// placement and every remote span as Chrome trace events ("X" events
// with absolute microsecond times, as the go command's -debug-trace
// writes them), one track per local token and per host slot, and writes
// them at Close, one JSON object a line. The go command merges them into
// its -debug-trace file.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// event is one Chrome trace event.
type event struct {
	Name  string         `json:"name"`
	Phase string         `json:"ph"`
	Time  float64        `json:"ts"`            // µs since the Unix epoch
	Dur   float64        `json:"dur,omitempty"` // µs
	PID   int            `json:"pid"`
	TID   int            `json:"tid"`
	Args  map[string]any `json:"args,omitempty"`
}

// tracePID is the first process id of the agent's tracks: the go
// command's own spans use pid 0.
const tracePID = 1000

// tracer records spans on lanes: a lane is one local token or one slot
// of a host, and a span takes the first free lane of its resource.
type tracer struct {
	mu     sync.Mutex
	events []event
	res    map[string]int    // resource → pid
	lanes  map[string][]bool // resource → busy lanes
}

func newTracer() *tracer {
	return &tracer{res: map[string]int{}, lanes: map[string][]bool{}}
}

func micros(t time.Time) float64 { return float64(t.UnixNano()) / 1e3 }

// lane is a track of a resource, taken until release.
type lane struct {
	res string
	n   int
}

// take returns the first free lane of res ("local tokens" or a host).
func (t *tracer) take(res string) lane {
	if t == nil {
		return lane{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	pid, ok := t.res[res]
	if !ok {
		pid = tracePID + len(t.res)
		t.res[res] = pid
		t.events = append(t.events, event{Name: "process_name", Phase: "M", PID: pid, Args: map[string]any{"name": res}})
	}
	l := t.lanes[res]
	for i, busy := range l {
		if !busy {
			l[i] = true
			return lane{res, i}
		}
	}
	t.lanes[res] = append(l, true)
	n := len(l)
	t.events = append(t.events, event{Name: "thread_name", Phase: "M", PID: pid, TID: n, Args: map[string]any{"name": fmt.Sprintf("%s %d", res, n)}})
	return lane{res, n}
}

// release frees a lane.
func (t *tracer) release(l lane) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.lanes[l.res][l.n] = false
	t.mu.Unlock()
}

// span records a span on a lane.
func (t *tracer) span(l lane, name string, start, end time.Time, args map[string]any) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, event{Name: name, Phase: "X", Time: micros(start), Dur: micros(end) - micros(start),
		PID: t.res[l.res], TID: l.n, Args: args})
}

// write writes the events to name, one JSON object a line.
func (t *tracer) write(name string) error {
	if t == nil {
		return nil
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	t.mu.Lock()
	for i := range t.events {
		if err == nil {
			err = enc.Encode(&t.events[i])
		}
	}
	t.mu.Unlock()
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
