// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// DWARF of remote functions: what differs in go1.27.3.
//
// A location list is ssa's structured form, entries of (block, value)
// IDs and a location expression, whatever DWARF version PutLocationList
// then writes. Some lists are not in FuncDebug.LocationLists (the
// heap-dereference lists of conservative variables): the worker takes
// each variable's list as its closure hands it to PutLocationList
// (ssa.CaptureLocList). A variable's kind is its DWARF tag, whether it
// has a location list, and its offset in a closure struct:
//
//	kind  = tag:uvarint loclist:uvarint closureoffset:varint
//	list  = 0 | n+1:uvarint entry*n
//	entry = startblock:varint startvalue:varint endblock:varint
//	        endvalue:varint expr:str

import (
	"fmt"
	"sync"

	"cmd/compile/internal/base"
	"cmd/compile/internal/dwarfgen"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/ssa"
	"cmd/internal/dwarf"
	"cmd/internal/obj"
	"cmd/internal/objabi"
)

// locList is a location list as ssa.FuncDebug.PutLocationList takes it.
type locList = []ssa.LocListEntry

// dwarfInfo runs dwarfgen.Info and returns the scopes.
func dwarfInfo(fnsym, info *obj.LSym, fn *ir.Func) []dwarf.Scope {
	scopes, _ := dwarfgen.Info(base.Ctxt, fnsym, info, fn)
	return scopes
}

// captures maps the list symbol with which listsOf runs a variable's
// PutLocationList to where the entries it was given go.
var (
	captures    sync.Map // *obj.LSym → *locList
	captureOnce sync.Once
)

func captureLocList(listSym *obj.LSym, entries []ssa.LocListEntry) bool {
	slot, ok := captures.Load(listSym)
	if !ok {
		return false
	}
	l := make(locList, len(entries))
	for i, e := range entries {
		e.Expr = append([]byte(nil), e.Expr...)
		l[i] = e
	}
	*slot.(*locList) = l
	return true
}

// listsOf returns the location list that each of vars writes, as its
// closure gives it to PutLocationList.
func listsOf(debug *ssa.FuncDebug, vars []*dwarf.Var) ([]locList, error) {
	captureOnce.Do(func() { ssa.CaptureLocList = captureLocList })
	lists := make([]locList, len(vars))
	for i, v := range vars {
		sentinel := &obj.LSym{}
		captures.Store(sentinel, &lists[i])
		v.PutLocationList(sentinel, sentinel)
		captures.Delete(sentinel)
		if lists[i] == nil {
			return nil, fmt.Errorf("variable %s: cannot capture its location list", v.Name)
		}
	}
	return lists, nil
}

// listKeys calls visit with each (block, value) pair that lists name.
func listKeys(debug *ssa.FuncDebug, vars []*dwarf.Var, lists []locList, visit func(b, v ssa.ID)) {
	for _, l := range lists {
		for _, e := range l {
			visit(e.StartBlock, e.StartValue)
			visit(e.EndBlock, e.EndValue)
		}
	}
}

// checkList verifies that each address of l is in pcs.
func checkList(l locList, pcs map[pcKey]uint64) error {
	for _, e := range l {
		for _, k := range [2]pcKey{{e.StartBlock, e.StartValue}, {e.EndBlock, e.EndValue}} {
			if _, ok := pcs[k]; !ok {
				return fmt.Errorf("location list names block %d value %d, which the result does not map", k.b, k.v)
			}
		}
	}
	return nil
}

func encodeVarKind(w *writer, v *dwarf.Var) {
	w.uvarint(uint64(v.Tag))
	if v.WithLoclist {
		w.uvarint(1)
	} else {
		w.uvarint(0)
	}
	w.varint(v.ClosureOffset)
}

func decodeVarKind(r *reader, v *dwarf.Var) {
	v.Tag = int(r.uintN(16))
	switch v.Tag {
	case dwarf.DW_TAG_variable, dwarf.DW_TAG_formal_parameter:
	default:
		r.fail("variable %q: bad DWARF tag %d", v.Name, v.Tag)
	}
	v.WithLoclist = r.uintN(1) != 0
	v.ClosureOffset = r.varint()
}

func encodeList(w *writer, l locList) {
	if l == nil {
		w.uvarint(0)
		return
	}
	w.uvarint(uint64(len(l)) + 1)
	for _, e := range l {
		w.varint(int64(e.StartBlock))
		w.varint(int64(e.StartValue))
		w.varint(int64(e.EndBlock))
		w.varint(int64(e.EndValue))
		w.str(string(e.Expr))
	}
}

func decodeList(r *reader) locList {
	n := r.count(5)
	if n == 0 || r.err != nil {
		return nil
	}
	l := make(locList, n-1)
	for i := range l {
		e := &l[i]
		e.StartBlock = ssa.ID(r.intN(32))
		e.StartValue = ssa.ID(r.intN(32))
		e.EndBlock = ssa.ID(r.intN(32))
		e.EndValue = ssa.ID(r.intN(32))
		e.Expr = []byte(r.str())
	}
	return l
}

// addUseType adds to infosym the R_USETYPE relocation to s that
// dwarfgen.Info adds for an auto's type.
func addUseType(infosym, s *obj.LSym) {
	infosym.AddRel(base.Ctxt, obj.Reloc{Type: objabi.R_USETYPE, Sym: s})
}

// stockDebugInfo is base.Ctxt.DebugInfo as the front end set it.
var stockDebugInfo func(ctxt *obj.Link, fnsym, infosym *obj.LSym, curfn obj.Func) ([]dwarf.Scope, dwarf.InlCalls)

// InstallDwarfHook puts remoteInfo in front of base.Ctxt.DebugInfo.
func InstallDwarfHook() {
	if base.Ctxt.DebugInfo == nil || stockDebugInfo != nil {
		return
	}
	stockDebugInfo = base.Ctxt.DebugInfo
	dwarfHook.funcs = make(map[*obj.LSym]*remoteDwarf)
	base.Ctxt.DebugInfo = func(ctxt *obj.Link, fnsym, infosym *obj.LSym, curfn obj.Func) ([]dwarf.Scope, dwarf.InlCalls) {
		if fn, ok := curfn.(*ir.Func); ok {
			if scopes, inlcalls, ok := remoteInfo(fnsym, infosym, fn); ok {
				return scopes, inlcalls
			}
		}
		return stockDebugInfo(ctxt, fnsym, infosym, curfn)
	}
}
