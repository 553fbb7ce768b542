// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// DWARF of remote functions: what differs in go1.21.6.
//
// A location list is ssa's intermediate form, bytes with (block, value)
// IDs where the PCs go (ssa/debug.go), in the wire as a string. A
// variable's kind is its DWARF abbreviation:
//
//	kind = abbrev:uvarint
//	list = bytes:str (empty: no list)

import (
	"fmt"

	"cmd/compile/internal/base"
	"cmd/compile/internal/dwarfgen"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/ssa"
	"cmd/internal/dwarf"
	"cmd/internal/obj"
	"cmd/internal/objabi"
	"cmd/internal/src"
)

// locList is a location list as ssa.FuncDebug.PutLocationList takes it.
type locList = []byte

// listMark is a block ID that tags a location list (listsOf).
const listMark = 0x7fffffff

// dwarfInfo runs dwarfgen.Info and returns the scopes.
func dwarfInfo(fnsym, info *obj.LSym, fn *ir.Func) []dwarf.Scope {
	scopes, _, _ := dwarfgen.Info(fnsym, info, fn)
	return scopes
}

// listsOf returns the location list that each of vars writes. A
// dwarf.Var holds its list in a closure (dwarfgen createComplexVar); to
// learn which of debug.LocationLists it is, each list's first address is
// replaced for a moment by a tag that names the list, and the closure is
// run with a GetPC that reads the tag.
func listsOf(debug *ssa.FuncDebug, vars []*dwarf.Var) ([]locList, error) {
	order := base.Ctxt.Arch.ByteOrder
	saved := make([]uint64, len(debug.LocationLists))
	for id, l := range debug.LocationLists {
		if len(l) >= 8 {
			saved[id] = order.Uint64(l)
			order.PutUint64(l, uint64(listMark)<<32|uint64(uint32(id)))
		}
	}
	getPC := debug.GetPC
	tagged := -1
	debug.GetPC = func(b, v ssa.ID) int64 {
		if tagged == -1 && b == listMark {
			tagged = int(v)
		}
		return 0
	}
	ids := make([]int, len(vars))
	for i, v := range vars {
		tagged = -1
		v.PutLocationList(&obj.LSym{}, &obj.LSym{})
		ids[i] = tagged
	}
	debug.GetPC = getPC
	for id, l := range debug.LocationLists {
		if len(l) >= 8 {
			order.PutUint64(l, saved[id])
		}
	}
	lists := make([]locList, len(vars))
	for i, id := range ids {
		if id < 0 || id >= len(debug.LocationLists) {
			return nil, fmt.Errorf("variable %s: cannot find its location list", vars[i].Name)
		}
		lists[i] = append([]byte(nil), debug.LocationLists[id]...)
	}
	return lists, nil
}

// listKeys calls visit with each (block, value) pair that the location
// lists of vars name, running them with a GetPC that reports them.
func listKeys(debug *ssa.FuncDebug, vars []*dwarf.Var, lists []locList, visit func(b, v ssa.ID)) {
	getPC := debug.GetPC
	defer func() { debug.GetPC = getPC }()
	debug.GetPC = func(b, v ssa.ID) int64 {
		visit(b, v)
		return 0
	}
	for _, v := range vars {
		v.PutLocationList(&obj.LSym{}, &obj.LSym{})
	}
}

// checkList verifies that PutLocationList reads l without running off its
// end and that each of its addresses is in pcs.
func checkList(l locList, pcs map[pcKey]uint64) (err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("malformed location list: %v", e)
		}
	}()
	fd := &ssa.FuncDebug{GetPC: func(b, v ssa.ID) int64 {
		if _, ok := pcs[pcKey{b, v}]; !ok && err == nil {
			err = fmt.Errorf("location list names block %d value %d, which the result does not map", b, v)
		}
		return 1
	}}
	fd.PutLocationList(l, base.Ctxt, &obj.LSym{}, &obj.LSym{})
	return err
}

func encodeVarKind(w *writer, v *dwarf.Var) {
	w.uvarint(uint64(v.Abbrev))
}

func decodeVarKind(r *reader, v *dwarf.Var) {
	v.Abbrev = int(r.uintN(8))
	switch v.Abbrev {
	case dwarf.DW_ABRV_AUTO, dwarf.DW_ABRV_AUTO_LOCLIST, dwarf.DW_ABRV_PARAM, dwarf.DW_ABRV_PARAM_LOCLIST:
	default:
		r.fail("variable %q: bad DWARF abbreviation %d", v.Name, v.Abbrev)
	}
}

func encodeList(w *writer, l locList) {
	w.str(string(l))
}

func decodeList(r *reader) locList {
	if l := r.str(); l != "" {
		return []byte(l)
	}
	return nil
}

// addUseType adds to infosym the R_USETYPE relocation to s that
// dwarfgen.Info adds for an auto's type.
func addUseType(infosym, s *obj.LSym) {
	r := obj.Addrel(infosym)
	r.Sym = s
	r.Type = objabi.R_USETYPE
}

// stockDebugInfo is base.Ctxt.DebugInfo as the front end set it.
var stockDebugInfo func(fnsym, infosym *obj.LSym, curfn interface{}) ([]dwarf.Scope, dwarf.InlCalls, src.XPos)

// InstallDwarfHook puts remoteInfo in front of base.Ctxt.DebugInfo.
func InstallDwarfHook() {
	if base.Ctxt.DebugInfo == nil || stockDebugInfo != nil {
		return
	}
	stockDebugInfo = base.Ctxt.DebugInfo
	dwarfHook.funcs = make(map[*obj.LSym]*remoteDwarf)
	base.Ctxt.DebugInfo = func(fnsym, infosym *obj.LSym, curfn interface{}) ([]dwarf.Scope, dwarf.InlCalls, src.XPos) {
		if fn, ok := curfn.(*ir.Func); ok {
			if scopes, inlcalls, ok := remoteInfo(fnsym, infosym, fn); ok {
				return scopes, inlcalls, fn.Pos()
			}
		}
		return stockDebugInfo(fnsym, infosym, curfn)
	}
}
