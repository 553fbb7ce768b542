// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// DWARF of remote functions.
//
// dwarfgen.Info, which obj.Flushplist calls once a function is assembled
// (ctxt.DebugInfo, obj/dwarf.go populateDWARF), does two things: it builds
// the function's variables from state the backend left behind (the Dcl
// list that AllocFrame sorted and truncated, frame offsets, fn.DebugInfo
// with its location lists), and it places them in scopes and inlined
// calls by the PCs of the assembled Progs. The worker, which has that
// backend state but never assembles, calls Info before Flush would: the
// variables come out right, and with the function's Text unset for the
// call its PC half sees no Progs (dwarfgen/scope.go assembleScopes). It ships the variables in
// the order Info sorted them, each with its scope, the auto types that
// became R_USETYPE relocations, and each location list in ssa's form
// before PCs (the type locList of dwarf_compat.go) with a table from the
// (block, value) IDs the list names to the Progs they mean. The client's
// DebugInfo hook then does the PC half itself with dwarfgen.AssembleScopes
// and AssembleInlines, and writes location lists with ssa.FuncDebug's own
// PutLocationList, whose GetPC reads the rebuilt Progs' PCs.
//
//	dwarf  = 0 | 1 nuse:uvarint sym*nuse nvar:uvarint var*nvar
//	         npc:uvarint (block:varint value:varint pos:uvarint)*npc
//	         (0 | 1 nopt:uvarint dcl:uvarint*nopt)
//	var    = name:str kind flags:uvarint dict:uvarint
//	         offset:varint type:sym file:str line:uvarint col:uvarint
//	         inl:varint scope:uvarint list
//
// kind and list are the Go version's (dwarf_compat.go): how a dwarf.Var
// says what it is, and how ssa keeps a location list.
//
// pos is posZero (PC 0: the entry block's start), posEnd (the end of the
// function) or posProg+i (the PC of Prog i of the function's list). The
// last part is 0 when the function was never inlined; otherwise it lists
// the zero-sized autos of fn.DebugInfo.OptDcl, the only ones the abstract
// function of an inlined function reads (dwarfgen/dwarf.go
// createDwarfVars), as indices into fn's Dcl list before the backend ran.

import (
	"fmt"
	"sort"
	"sync"

	"cmd/compile/internal/base"
	"cmd/compile/internal/dwarfgen"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/ssa"
	"cmd/internal/dwarf"
	"cmd/internal/obj"
	"cmd/internal/objabi"
)

const (
	posZero = 0
	posEnd  = 1
	posProg = 2
)

// Var flag bits.
const (
	varIsReturnValue = 1 << iota
	varIsInlFormal
)

// dwarfVar is a variable of a remote function, without its location
// list writer.
type dwarfVar struct {
	v     dwarf.Var
	scope ir.ScopeID
	list  locList // the location list, or nil
}

type pcKey struct{ b, v ssa.ID }

// dwarfFunc is the worker's half of dwarfgen.Info for one function.
type dwarfFunc struct {
	useTypes []*obj.LSym
	vars     []dwarfVar
	pcs      map[pcKey]uint64
	inlined  bool  // fnsym was inlined somewhere: ship optDcl
	optDcl   []int // fn.DebugInfo.OptDcl as indices into the Dcl list before the backend
}

// Markers that stand for PCs while the worker enumerates what its
// location lists refer to. Prog PCs there are sequence numbers, far below.
const (
	pcMarkBase = int64(1) << 40
	pcMarkEnd  = int64(1) << 50
)

// collectDwarf runs the variables half of dwarfgen.Info for fn, whose
// Progs start at text and are not assembled. pre is fn's Dcl list before
// the backend ran.
func collectDwarf(fn *ir.Func, text *obj.Prog, pre []*ir.Name) (*dwarfFunc, error) {
	if base.Ctxt.Arch.PtrSize != 8 {
		return nil, fmt.Errorf("location lists of %d-byte pointers", base.Ctxt.Arch.PtrSize)
	}
	fnsym := fn.LSym
	ndata := len(base.Ctxt.Data)
	info := &obj.LSym{} // unnamed: Info takes it for the function's own DIE
	// Without Text, Info's PC half finds no Progs (objw.Progs.SetText set
	// it; Flush would not read it before Info runs).
	fi := fnsym.Func()
	fi.Text = nil
	scopes := dwarfInfo(fnsym, info, fn)
	fi.Text = text
	// The inlined-call half made abstract function symbols; the client's
	// AssembleInlines makes them again, and this process writes no object.
	for _, s := range base.Ctxt.Data[ndata:] {
		if s.Type != objabi.SDWARFABSFCN {
			return nil, fmt.Errorf("DWARF made data symbol %s", s.Name)
		}
	}
	base.Ctxt.Data = base.Ctxt.Data[:ndata]
	if len(info.P) != 0 {
		return nil, fmt.Errorf("DWARF info written before the function's DIE")
	}
	d := &dwarfFunc{inlined: fnsym.WasInlined()}
	for _, r := range info.R {
		if r.Type != objabi.R_USETYPE || r.Sym == nil {
			return nil, fmt.Errorf("DWARF relocation of type %v", r.Type)
		}
		d.useTypes = append(d.useTypes, r.Sym)
	}
	var withList []*dwarf.Var
	for i := range scopes {
		for _, v := range scopes[i].Vars {
			if v.Scope != 0 {
				return nil, fmt.Errorf("variable %s has DWARF scope %d already", v.Name, v.Scope)
			}
			if _, ok := v.Type.(*obj.LSym); !ok {
				return nil, fmt.Errorf("variable %s has no type symbol", v.Name)
			}
			d.vars = append(d.vars, dwarfVar{v: *v, scope: ir.ScopeID(i)})
			if v.PutLocationList != nil {
				withList = append(withList, v)
			}
		}
	}
	if len(withList) > 0 {
		debug, _ := fn.DebugInfo.(*ssa.FuncDebug)
		if debug == nil {
			return nil, fmt.Errorf("location lists without debug info")
		}
		lists, err := listsOf(debug, withList)
		if err != nil {
			return nil, err
		}
		j := 0
		for i := range d.vars {
			if d.vars[i].v.PutLocationList != nil {
				d.vars[i].list = lists[j]
				j++
			}
		}
		if d.pcs, err = listPCs(fnsym, text, debug, withList, lists); err != nil {
			return nil, err
		}
	}
	for i := range d.vars {
		d.vars[i].v.PutLocationList = nil
	}
	if d.inlined {
		if debug, _ := fn.DebugInfo.(*ssa.FuncDebug); debug != nil {
			index := make(map[*ir.Name]int, len(pre))
			for i, n := range pre {
				index[n] = i
			}
			for _, n := range debug.OptDcl {
				if n.Class != ir.PAUTO || n.Type().Size() != 0 {
					continue // createDwarfVars skips it
				}
				i, ok := index[n]
				if !ok {
					return nil, fmt.Errorf("optimized-away variable %v was made by the backend", n)
				}
				d.optDcl = append(d.optDcl, i)
			}
		}
	}
	return d, nil
}

// listPCs records what each (block, value) pair that the location lists
// of vars name means: PC 0, the function's end, or the PC of a Prog of the
// list that starts at text. lists are those of vars, from listsOf.
func listPCs(fnsym *obj.LSym, text *obj.Prog, debug *ssa.FuncDebug, vars []*dwarf.Var, lists []locList) (map[pcKey]uint64, error) {
	var progs []*obj.Prog
	var saved []int64
	for p := text; p != nil; p = p.Link {
		saved = append(saved, p.Pc)
		p.Pc = pcMarkBase + int64(len(progs))
		progs = append(progs, p)
	}
	size := fnsym.Size
	fnsym.Size = pcMarkEnd
	defer func() {
		fnsym.Size = size
		for i, p := range progs {
			p.Pc = saved[i]
		}
	}()
	getPC := debug.GetPC
	pcs := make(map[pcKey]uint64)
	var err error
	visit := func(b, v ssa.ID) {
		k := pcKey{b, v}
		if _, ok := pcs[k]; ok {
			return
		}
		switch pc := getPC(b, v); {
		case pc == 0:
			pcs[k] = posZero
		case pc == pcMarkEnd:
			pcs[k] = posEnd
		case pc >= pcMarkBase && pc < pcMarkBase+int64(len(progs)):
			pcs[k] = posProg + uint64(pc-pcMarkBase)
		default:
			if err == nil {
				err = fmt.Errorf("location list names an instruction that is not in the function (block %d, value %d)", b, v)
			}
		}
	}
	listKeys(debug, vars, lists, visit)
	return pcs, err
}

// encodeDwarf writes d, naming its symbols in syms.
func encodeDwarf(w *writer, syms *symTable, d *dwarfFunc) error {
	if d == nil {
		w.uvarint(0)
		return nil
	}
	w.uvarint(1)
	w.uvarint(uint64(len(d.useTypes)))
	for _, s := range d.useTypes {
		ref, err := syms.ref(s)
		if err != nil {
			return err
		}
		w.uvarint(ref)
	}
	w.uvarint(uint64(len(d.vars)))
	for i := range d.vars {
		dv := &d.vars[i]
		v := &dv.v
		w.str(v.Name)
		encodeVarKind(w, v)
		var flags uint64
		if v.IsReturnValue {
			flags |= varIsReturnValue
		}
		if v.IsInlFormal {
			flags |= varIsInlFormal
		}
		w.uvarint(flags)
		w.uvarint(uint64(v.DictIndex))
		w.varint(int64(v.StackOffset))
		ref, err := syms.ref(v.Type.(*obj.LSym))
		if err != nil {
			return err
		}
		w.uvarint(ref)
		w.str(v.DeclFile)
		w.uvarint(uint64(v.DeclLine))
		w.uvarint(uint64(v.DeclCol))
		w.varint(int64(v.InlIndex))
		w.uvarint(uint64(dv.scope))
		encodeList(w, dv.list)
	}
	keys := make([]pcKey, 0, len(d.pcs))
	for k := range d.pcs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].b != keys[j].b {
			return keys[i].b < keys[j].b
		}
		return keys[i].v < keys[j].v
	})
	w.uvarint(uint64(len(keys)))
	for _, k := range keys {
		w.varint(int64(k.b))
		w.varint(int64(k.v))
		w.uvarint(d.pcs[k])
	}
	if !d.inlined {
		w.uvarint(0)
		return nil
	}
	w.uvarint(1)
	w.uvarint(uint64(len(d.optDcl)))
	for _, i := range d.optDcl {
		w.uvarint(uint64(i))
	}
	return nil
}

func decodeDwarf(r *reader, syms []*obj.LSym, nprogs int) *dwarfFunc {
	switch r.uvarint() {
	case 0:
		return nil
	case 1:
	default:
		r.fail("bad DWARF marker")
		return nil
	}
	d := &dwarfFunc{}
	n := r.count(1)
	for i := 0; i < n && r.err == nil; i++ {
		s := symAt(r, syms)
		if s == nil && r.err == nil {
			r.fail("DWARF auto type %d is nil", i)
		}
		d.useTypes = append(d.useTypes, s)
	}
	n = r.count(12)
	for i := 0; i < n && r.err == nil; i++ {
		var dv dwarfVar
		v := &dv.v
		v.Name = r.str()
		decodeVarKind(r, v)
		flags := r.uintN(2)
		v.IsReturnValue = flags&varIsReturnValue != 0
		v.IsInlFormal = flags&varIsInlFormal != 0
		v.DictIndex = uint16(r.uintN(16))
		v.StackOffset = int32(r.intN(32))
		typ := symAt(r, syms)
		if typ == nil && r.err == nil {
			r.fail("variable %q has no type", v.Name)
		}
		v.Type = typ
		v.DeclFile = r.str()
		v.DeclLine = uint(r.uintN(32))
		v.DeclCol = uint(r.uintN(32))
		v.InlIndex = int32(r.intN(32))
		dv.scope = ir.ScopeID(r.uintN(31))
		dv.list = decodeList(r)
		v.ChildIndex = -1
		d.vars = append(d.vars, dv)
	}
	n = r.count(3)
	d.pcs = make(map[pcKey]uint64, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := pcKey{ssa.ID(r.intN(32)), ssa.ID(r.intN(32))}
		pos := r.uvarint()
		if r.err == nil && pos >= posProg+uint64(nprogs) {
			r.fail("location list position %d beyond the function's %d Progs", pos, nprogs)
		}
		d.pcs[k] = pos
	}
	switch r.uvarint() {
	case 0:
	case 1:
		d.inlined = true
		k := r.count(1)
		for i := 0; i < k && r.err == nil; i++ {
			d.optDcl = append(d.optDcl, int(r.uintN(31)))
		}
	default:
		r.fail("bad DWARF inlined marker")
	}
	return d
}

// debugInfo returns the FuncDebug through which the client writes fn's
// location lists: its GetPC reads the PCs of progs, the function's
// rebuilt and then assembled list.
func (d *dwarfFunc) debugInfo(fnsym *obj.LSym, progs []*obj.Prog) *ssa.FuncDebug {
	return &ssa.FuncDebug{GetPC: func(b, v ssa.ID) int64 {
		pos, ok := d.pcs[pcKey{b, v}]
		switch {
		case !ok:
			// check ruled this out.
			base.Fatalf("distssa: %s: location list names block %d value %d, which the result does not map", fnsym.Name, b, v)
		case pos == posZero:
			return 0
		case pos == posEnd:
			return fnsym.Size
		}
		return progs[pos-posProg].Pc
	}}
}

// check verifies, before the client changes anything, that d fits fn:
// scopes and Dcl indices in range, and location lists that PutLocationList
// reads without running off their end and whose every address maps.
func (d *dwarfFunc) check(fn *ir.Func) error {
	for i := range d.vars {
		if int(d.vars[i].scope) > len(fn.Parents) {
			return fmt.Errorf("variable %s in scope %d of %d", d.vars[i].v.Name, d.vars[i].scope, len(fn.Parents))
		}
	}
	for _, i := range d.optDcl {
		if i >= len(fn.Dcl) {
			return fmt.Errorf("optimized-away variable %d of %d", i, len(fn.Dcl))
		}
	}
	for i := range d.vars {
		if l := d.vars[i].list; l != nil {
			if err := checkList(l, d.pcs); err != nil {
				return err
			}
		}
	}
	return nil
}

// The client's DebugInfo hook, for the functions it assembles from
// results (installed by InstallDwarfHook, in dwarf_compat.go).
var dwarfHook struct {
	sync.Mutex
	funcs map[*obj.LSym]*remoteDwarf
}

type remoteDwarf struct {
	d     *dwarfFunc
	progs []*obj.Prog
}

// expectDwarf registers the shipped DWARF of fn, about to be assembled
// from progs.
func expectDwarf(fn *ir.Func, d *dwarfFunc, progs []*obj.Prog) {
	dwarfHook.Lock()
	dwarfHook.funcs[fn.LSym] = &remoteDwarf{d, progs}
	dwarfHook.Unlock()
	if d.inlined {
		// What the backend would have left for the abstract function's
		// DIE (DwarfAbstractFunc); the client never calls Info's first
		// half for fn.
		fd := &ssa.FuncDebug{}
		for _, i := range d.optDcl {
			fd.OptDcl = append(fd.OptDcl, fn.Dcl[i])
		}
		fn.DebugInfo = fd
	}
}

// remoteInfo is the client's base.Ctxt.DebugInfo for a function assembled
// from a result: it does the PC half of dwarfgen.Info with the shipped
// variables. It reports false for any other function, which goes to
// dwarfgen.Info.
func remoteInfo(fnsym, infosym *obj.LSym, fn *ir.Func) ([]dwarf.Scope, dwarf.InlCalls, bool) {
	var rd *remoteDwarf
	if infosym.Name == "" { // the function's own DIE, not an abstract one
		dwarfHook.Lock()
		rd = dwarfHook.funcs[fnsym]
		delete(dwarfHook.funcs, fnsym)
		dwarfHook.Unlock()
	}
	if rd == nil {
		return nil, dwarf.InlCalls{}, false
	}
	d := rd.d
	for _, s := range d.useTypes {
		addUseType(infosym, s)
	}
	fnsym.Func().Autot = nil
	fd := d.debugInfo(fnsym, rd.progs)
	vars := make([]*dwarf.Var, len(d.vars))
	scopes := make([]ir.ScopeID, len(d.vars))
	for i := range d.vars {
		v := d.vars[i].v
		if list := d.vars[i].list; list != nil {
			v.PutLocationList = func(listSym, startPC dwarf.Sym) {
				fd.PutLocationList(list, base.Ctxt, listSym.(*obj.LSym), startPC.(*obj.LSym))
			}
		}
		vars[i] = &v
		scopes[i] = d.vars[i].scope
	}
	dscopes := dwarfgen.AssembleScopes(fnsym, fn, vars, scopes)
	var inlcalls dwarf.InlCalls
	if base.Flag.GenDwarfInl > 0 {
		inlcalls = dwarfgen.AssembleInlines(fnsym, vars)
	}
	return dscopes, inlcalls, true
}
