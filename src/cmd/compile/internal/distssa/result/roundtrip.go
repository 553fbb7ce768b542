// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

import (
	"fmt"

	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/objw"
	"cmd/internal/obj"
)

// encodeFunc encodes one function's Progs and the FuncInfo fields that
// point into them as a sealed result. It also returns the symbols the
// result refers to, in table order.
func encodeFunc(text *obj.Prog) ([]byte, []*obj.LSym, error) {
	if text == nil || text.As != obj.ATEXT || text.From.Sym == nil || text.From.Sym.Func() == nil {
		return nil, nil, fmt.Errorf("Prog list does not start with a function's ATEXT")
	}
	var syms symTable
	e := progEncoder{syms: &syms}
	if err := e.encodeProgs(text); err != nil {
		return nil, nil, err
	}
	if err := e.encodeFuncRefs(text.From.Sym.Func()); err != nil {
		return nil, nil, err
	}
	var w writer
	syms.encode(&w)
	w.buf = append(w.buf, e.w.buf...)
	return seal(w.buf), syms.list, nil
}

// decodedFunc is a decoded function result.
type decodedFunc struct {
	syms  []*obj.LSym
	progs []*obj.Prog
	refs  funcRefs
}

// decodeFunc decodes a result written by encodeFunc into Progs from alloc.
// Symbols are resolved in base.Ctxt. Corrupt input gives an error, never
// a panic.
func decodeFunc(data []byte, alloc func() *obj.Prog) (*decodedFunc, error) {
	payload, err := unseal(data)
	if err != nil {
		return nil, err
	}
	r := &reader{buf: payload}
	d := &decodedFunc{}
	d.syms = decodeSyms(r, lookupSym)
	d.progs = decodeProgs(r, d.syms, alloc)
	if r.err == nil {
		d.refs = decodeFuncRefs(r, d.syms, d.progs)
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	if d.progs[0].As != obj.ATEXT || d.progs[0].From.Sym == nil {
		return nil, fmt.Errorf("decoded list does not start with ATEXT")
	}
	return d, nil
}

// RoundTrip is the ssagen.BeforeFlush hook of -d=distssaroundtrip=1. It
// encodes the function's Progs, clears every Prog, and decodes the result
// back into the same Prog objects (which the FuncInfo and the DWARF
// location lists point to), so that the assembler sees only what went
// through the encoding. Any loss shows up as an object that differs from
// a normal compile; a decoding failure or a symbol that does not resolve
// to itself stops the compile.
func RoundTrip(fn *ir.Func, pp *objw.Progs) bool {
	fail := func(format string, args ...interface{}) {
		base.FatalfAt(fn.Pos(), "distssa round trip of %v: %s", fn, fmt.Sprintf(format, args...))
	}
	data, syms, err := encodeFunc(pp.Text)
	if err != nil {
		fail("encoding: %v", err)
	}
	var orig []*obj.Prog
	for p := pp.Text; p != nil; p = p.Link {
		orig = append(orig, p)
	}
	next := 0
	d, err := decodeFunc(data, func() *obj.Prog {
		next++
		if next <= len(orig) {
			return orig[next-1]
		}
		return new(obj.Prog)
	})
	if err != nil {
		fail("decoding: %v", err)
	}
	if next != len(orig) {
		fail("%d Progs decoded, %d encoded", next, len(orig))
	}
	for i, s := range d.syms {
		if s != syms[i] {
			fail("symbol %q (ABI %v) resolved to another symbol", syms[i].Name, syms[i].ABI())
		}
	}
	fi := pp.Text.From.Sym.Func()
	ps, ids := fi.InlMarkProgs()
	if len(ps) != len(d.refs.inlProgs) {
		fail("%d inline marks decoded, %d encoded", len(d.refs.inlProgs), len(ps))
	}
	for i := range ps {
		if ps[i] != d.refs.inlProgs[i] || ids[i] != d.refs.inlIDs[i] {
			fail("inline mark %d differs", i)
		}
	}
	if len(fi.JumpTables) != len(d.refs.jumpTables) {
		fail("%d jump tables decoded, %d encoded", len(d.refs.jumpTables), len(fi.JumpTables))
	}
	for i, jt := range fi.JumpTables {
		djt := d.refs.jumpTables[i]
		if jt.Sym != djt.Sym || jt.Sym.Attribute != d.refs.jumpAttrs[i] || len(jt.Targets) != len(djt.Targets) {
			fail("jump table %d differs", i)
		}
		for j := range jt.Targets {
			if jt.Targets[j] != djt.Targets[j] {
				fail("jump table %d target %d differs", i, j)
			}
		}
	}
	return true
}
