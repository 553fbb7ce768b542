// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// The worker's half: a result written one group at a time, as the
// worker's backend compiles it.

import (
	"strings"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/internal/obj"
)

// An Encoder writes a worker's result. For each group, the worker calls
// Begin before the group's backend runs, Func for each of its functions
// as the backend hands it to Flush (ssagen.BeforeFlush), and End once the
// group is compiled, and Chunk after End to stream it; Finish returns
// the rest of the result.
type Encoder struct {
	enc resultEncoder
	te  *typeEffects

	// The current group.
	funcs     [][]byte
	encErr    error
	dwarfErr  error
	preDcl    map[*ir.Func][]*ir.Name
	preRelocs map[*ir.Func]int
	attrs     []obj.Attribute
	index     func() *typeIndex
	fn        *ir.Func

	took time.Duration // in Func and End so far
}

// NewEncoder returns an Encoder whose first group starts from the
// runtime types and function value symbols the compile has now.
func NewEncoder() *Encoder {
	return &Encoder{te: newTypeEffects()}
}

// Begin starts the group of fn: it records the state of the group that
// its backend changes and the result must describe as it was before.
func (e *Encoder) Begin(fn *ir.Func) {
	e.funcs, e.encErr, e.dwarfErr = e.funcs[:0], nil, nil
	e.preDcl = make(map[*ir.Func][]*ir.Name)
	e.preRelocs = make(map[*ir.Func]int)
	for _, f := range GroupFuncs(fn) {
		e.preDcl[f] = append([]*ir.Name(nil), f.Dcl...)
		e.preRelocs[f] = len(f.LSym.R)
	}
	e.attrs = groupAttrs(fn)
	e.index = lazyTypeIndex(fn, e.preDcl) // the IR as it was before the backend
	e.fn = fn
}

// Func encodes fn, a function of the current group whose Progs start at
// text, with its DWARF. A failure shows in End.
func (e *Encoder) Func(fn *ir.Func, text *obj.Prog) {
	defer e.count(time.Now())
	var d *dwarfFunc
	if base.Ctxt.DebugInfo != nil && e.dwarfErr == nil {
		d, e.dwarfErr = collectDwarf(fn, text, e.preDcl[fn])
	}
	if e.encErr == nil {
		var b []byte
		b, e.encErr = e.enc.encodeFuncRecord(text, d, fn, e.preRelocs[fn])
		e.funcs = append(e.funcs, b)
	}
}

// End ends the current group, named name. The group goes in the result
// compiled, unless reason, or what the encoding found, says why the
// client must compile it itself.
func (e *Encoder) End(name, reason string) {
	defer e.count(time.Now())
	var tw writer
	if err := e.te.collect(&tw, e.index); err != nil && reason == "" {
		reason = "runtime types: " + err.Error()
	}
	if reason == "" && e.dwarfErr != nil {
		reason = "dwarf: " + e.dwarfErr.Error()
	}
	if reason == "" && e.encErr != nil {
		reason = "encoding: " + e.encErr.Error()
	}
	if reason == "" && len(e.funcs) != len(e.attrs) {
		reason = "frame too large" // Compile returned before genssa
	}
	if reason == "" {
		if s := changedAttrs(e.fn, e.attrs); s != "" {
			reason = "symbol attributes changed: " + s
		}
	}
	if reason != "" {
		e.enc.localGroup(name, reason)
	} else {
		e.enc.okGroup(name, tw.buf, e.funcs)
	}
}

// Chunk returns a chunk of the groups ended since the last chunk, for a
// worker that streams its result; Finish returns the last one.
func (e *Encoder) Chunk(fp [32]byte) []byte {
	defer e.count(time.Now())
	return e.enc.chunk(fp)
}

// count adds the time since t0 to the encoding's.
func (e *Encoder) count(t0 time.Time) {
	e.took += time.Since(t0)
}

// Finish returns the last chunk of the result (all of it, if the worker
// took no chunks), for the client's fingerprint fp, with the
// worker's phases: ph's Start, FrontEnd and Job, as the worker measured
// them; Finish measures the others, the backend being the time since
// the job came less the encoding's.
func (e *Encoder) Finish(fp [32]byte, ph Phases) []byte {
	t0 := time.Now()
	return e.enc.finish(fp, func(p *Phases) {
		now := time.Now()
		*p = ph
		p.Encode = e.took + now.Sub(t0)
		p.Backend = now.Sub(ph.Start.Add(ph.FrontEnd+ph.Job)) - p.Encode
	})
}

// groupAttrs returns the attribute words of a group's function symbols,
// in compile order.
func groupAttrs(fn *ir.Func) []obj.Attribute {
	var a []obj.Attribute
	for _, f := range GroupFuncs(fn) {
		a = append(a, f.LSym.Attribute)
	}
	return a
}

// changedAttrs names the group's symbols whose attributes the backend
// changed; the client does not replay such changes.
func changedAttrs(fn *ir.Func, before []obj.Attribute) string {
	var changed []string
	for i, f := range GroupFuncs(fn) {
		if f.LSym.Attribute != before[i] {
			changed = append(changed, f.LSym.Name)
		}
	}
	return strings.Join(changed, ", ")
}
