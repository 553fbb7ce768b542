// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// The client's half: a decoded group becomes the compile's own state.
// Everything is checked against fn's group first; then the content
// symbols, the runtime types, the Progs, the FuncInfo fields, the
// relocations and the DWARF go in, and the assembler runs.

import (
	"bytes"
	"fmt"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/ssagen"
	"cmd/internal/obj"
)

// Replay installs the functions of g, a group of res, as the backend of
// this compile would have left fn and its closures, and assembles them.
// It returns an error, having changed nothing, if the group does not fit
// fn.
func (res *Result) Replay(g *Group, fn *ir.Func) error {
	rv := res.rv
	fns := GroupFuncs(fn)
	if len(fns) != len(g.funcs) {
		return fmt.Errorf("%d functions in the result, %d here", len(g.funcs), len(fns))
	}
	// Check everything before changing anything: a failed check sends
	// the group to the local backend, which must find it untouched.
	for i, f := range fns {
		if f.LSym.Name != g.funcs[i].name || f.LSym.ABI() != g.funcs[i].progs[0].From.Sym.ABI() {
			return fmt.Errorf("function %d is %s here, %s in the result", i, FuncKey(f.LSym), FuncKey(g.funcs[i].progs[0].From.Sym))
		}
		if f.LSym.Attribute != g.funcs[i].attr {
			return fmt.Errorf("%s: symbol attributes %#x here, %#x in the result", f.LSym.Name, f.LSym.Attribute, g.funcs[i].attr)
		}
		if n := len(f.LSym.R); n != g.funcs[i].rbase {
			return fmt.Errorf("%s: %d relocations here, %d on the worker before its backend", f.LSym.Name, n, g.funcs[i].rbase)
		}
		if d := g.funcs[i].dwarf; (d != nil) != (base.Ctxt.DebugInfo != nil) {
			return fmt.Errorf("%s: DWARF in the result %v, here %v", f.LSym.Name, d != nil, base.Ctxt.DebugInfo != nil)
		} else if d != nil {
			if err := d.check(f); err != nil {
				return fmt.Errorf("%s: DWARF: %v", f.LSym.Name, err)
			}
		}
		for _, c := range g.funcs[i].slots {
			if c == nil {
				continue
			}
			if ex := rv.existing(c.sym); ex != nil && !sameContent(ex, c, rv) {
				return fmt.Errorf("symbol %s already has other content", c.sym.Name)
			}
		}
	}
	sig, gc, fs, err := g.types.resolve(lazyTypeIndex(fn, nil))
	if err != nil {
		return err
	}
	replayTypes(sig, gc, fs)
	// Content symbols first, so that no lookup creates them empty.
	for i, f := range fns {
		slots := funcInfoSlots(f.LSym.Func())
		for k, c := range g.funcs[i].slots {
			if c != nil {
				*slots[k] = rv.content(c)
			}
		}
	}
	for i, f := range fns {
		d := g.funcs[i]
		fi := f.LSym.Func()
		for _, p := range d.progs {
			rv.addr(&p.From)
			rv.addr(&p.To)
			for j := range p.RestArgs {
				rv.addr(&p.RestArgs[j].Addr)
			}
		}
		fi.Text = d.progs[0]
		for j, p := range d.refs.inlProgs {
			fi.AddInlMark(p, d.refs.inlIDs[j])
		}
		for j, jt := range d.refs.jumpTables {
			jt.Sym = rv.sym(jt.Sym)
			jt.Sym.Attribute = d.refs.jumpAttrs[j]
			fi.JumpTables = append(fi.JumpTables, jt)
		}
		for _, sp := range d.spills {
			rv.addr(&sp.Addr)
			fi.AddSpill(sp)
		}
		for _, r := range d.relocs {
			r.Sym = rv.sym(r.Sym)
			f.LSym.R = append(f.LSym.R, r)
		}
		if !f.WBPos.IsKnown() {
			f.WBPos = d.wbPos
		}
		for _, c := range d.nwbr {
			if f.NWBRCalls == nil {
				f.NWBRCalls = new([]ir.SymAndPos)
			}
			*f.NWBRCalls = append(*f.NWBRCalls, ir.SymAndPos{Sym: rv.sym(c.Sym), Pos: c.Pos})
		}
		if d.dwarf != nil {
			d.dwarf.resolve(rv)
			expectDwarf(f, d.dwarf, d.progs)
		}
		t0 := time.Now()
		plist := &obj.Plist{Firstpc: d.progs[0], Curfn: f}
		flushplist(plist)
		ssagen.AfterFlush(f)
		res.Assembly += time.Since(t0)
	}
	return nil
}

// sameContent reports whether an existing symbol has exactly the content
// a worker shipped (content-addressed symbols that local functions made
// too).
func sameContent(s *obj.LSym, c *content, rv *resolver) bool {
	if !bytes.Equal(s.P, c.p) || s.Size != c.size || symAlign(s) != c.align || len(s.R) != len(c.r) {
		return false
	}
	for i, r := range s.R {
		want := c.r[i]
		if r.Type != want.Type || r.Off != want.Off || r.Siz != want.Siz || r.Add != want.Add || r.Sym != rv.existing(want.Sym) {
			return false
		}
	}
	return true
}

// resolve replaces the result's placeholder symbols in d by real ones.
func (d *dwarfFunc) resolve(rv *resolver) {
	for i, s := range d.useTypes {
		d.useTypes[i] = rv.sym(s)
	}
	for i := range d.vars {
		d.vars[i].v.Type = rv.sym(d.vars[i].v.Type.(*obj.LSym))
	}
}
