// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// Runtime types, GC bitmaps and function value symbols that a group's
// backend asked for.
//
// The backend adds types to reflectdata's signatset (type descriptors)
// and gcsymset (GC bitmaps). The client must add the very same
// *types.Type values: byte and uint8, or two identical anonymous
// interfaces, are distinct types with distinct descriptors. Both sides
// number the types reachable from the group's IR in the same walk, before
// the backend runs; the front end is deterministic, so the numbers agree.
// A type that the backend made itself is a pointer to a numbered type
// (types.NewPtr while its cache is disabled) or the record of a defer
// that is not open-coded (ssagen deferstruct), made again on the client,
// or the group stays local.
// Every reference also carries the type's link string, which the client
// checks.
//
// Function value symbols (staticdata.FuncLinksym) work the same way: both
// sides number the function names (ONAME, PFUNC) that the group's IR
// refers to.
//
//	types   = nsig:uvarint typeref*nsig ngc:uvarint typeref*ngc nfs:uvarint funcref*nfs
//	typeref = link:str depth:uvarint ref:uvarint
//
// depth is the number of NewPtr around the type that ref names: 0 for a
// defer record, i+1 for the i'th type of the walk.
//	funcref = name:str index:uvarint

import (
	"fmt"

	"cmd/compile/internal/ir"
	"cmd/compile/internal/reflectdata"
	"cmd/compile/internal/ssagen"
	"cmd/compile/internal/staticdata"
	"cmd/compile/internal/types"
)

// typeIndex numbers the types and the function names reachable from a
// group's IR.
type typeIndex struct {
	list  []*types.Type
	index map[*types.Type]int
	funcs []*ir.Name
	fidx  map[*ir.Name]int
}

// lazyTypeIndex returns a function that makes fn's type index on its
// first call; most groups never need one. dcl gives each function's
// declarations as they were before the backend ran (which adds
// temporaries): nil means their current Dcl.
func lazyTypeIndex(fn *ir.Func, dcl map[*ir.Func][]*ir.Name) func() *typeIndex {
	var x *typeIndex
	return func() *typeIndex {
		if x == nil {
			x = newTypeIndex(fn, dcl)
		}
		return x
	}
}

func newTypeIndex(fn *ir.Func, dcl map[*ir.Func][]*ir.Name) *typeIndex {
	x := &typeIndex{index: make(map[*types.Type]int), fidx: make(map[*ir.Name]int)}
	visit := func(n ir.Node) {
		x.add(n.Type())
		if n.Op() == ir.ONAME {
			if nn := n.(*ir.Name); nn.Class == ir.PFUNC {
				if _, ok := x.fidx[nn]; !ok {
					x.fidx[nn] = len(x.funcs)
					x.funcs = append(x.funcs, nn)
				}
			}
		}
	}
	// The predeclared types first: the backend asks for some (uintptr,
	// *uint8, …) that a group's IR need not mention.
	for k := types.Kind(0); k < types.NTYPE; k++ {
		x.add(types.Types[k])
	}
	x.add(types.ByteType)
	x.add(types.RuneType)
	for _, f := range GroupFuncs(fn) {
		x.add(f.Type())
		ds := f.Dcl
		if dcl != nil {
			ds = dcl[f]
		}
		for _, n := range ds {
			x.add(n.Type())
		}
		for _, n := range f.ClosureVars {
			x.add(n.Type())
		}
		ir.VisitList(f.Body, visit)
	}
	return x
}

func (x *typeIndex) add(t *types.Type) {
	if t == nil {
		return
	}
	if _, ok := x.index[t]; ok {
		return
	}
	x.index[t] = len(x.list)
	x.list = append(x.list, t)
	switch t.Kind() {
	case types.TPTR, types.TSLICE, types.TARRAY, types.TCHAN:
		x.add(t.Elem())
	case types.TMAP:
		x.add(t.Key())
		x.add(t.Elem())
	case types.TFUNC:
		addFuncTypes(x, t)
	case types.TSTRUCT:
		for _, f := range structFields(t) {
			x.add(f.Type)
		}
	}
}

// encode writes a reference to t, or reports why it cannot.
func (x *typeIndex) encode(w *writer, t *types.Type) error {
	depth := 0
	u := t
	for {
		if i, ok := x.index[u]; ok {
			w.str(t.LinkString())
			w.uvarint(uint64(depth))
			w.uvarint(uint64(i) + 1)
			return nil
		}
		if ssagen.IsDeferStruct(u) {
			w.str(t.LinkString())
			w.uvarint(uint64(depth))
			w.uvarint(0)
			return nil
		}
		if !u.IsPtr() || u.Elem() == nil {
			return fmt.Errorf("type %v is not reachable from the IR", t)
		}
		u = u.Elem()
		depth++
	}
}

// decode reads a reference and returns the type, checking its link string.
func (x *typeIndex) decode(r *reader) (*types.Type, error) {
	link := r.str()
	depth := r.uintN(8)
	i := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	var t *types.Type
	switch {
	case i == 0:
		t = ssagen.DeferStruct()
	case i > uint64(len(x.list)):
		return nil, fmt.Errorf("type index %d out of range (%d types)", i, len(x.list))
	default:
		t = x.list[i-1]
	}
	for ; depth > 0; depth-- {
		t = types.NewPtr(t)
	}
	if got := t.LinkString(); got != link {
		return nil, fmt.Errorf("type %d is %s here, %s in the result", i, got, link)
	}
	return t, nil
}

// typeEffects records the types and funcsyms a group's backend added.
type typeEffects struct {
	signatLen int                  // len(signatslice) before the group
	gcKnown   map[*types.Type]bool // gcsymset as of before the group
	funcsLen  int                  // len(funcsyms) before the group
}

func newTypeEffects() *typeEffects {
	e := &typeEffects{gcKnown: make(map[*types.Type]bool)}
	e.signatLen = len(reflectdata.NeededTypesSince(0))
	for _, t := range reflectdata.GCSymTypes() {
		e.gcKnown[t] = true
	}
	e.funcsLen = len(staticdata.FuncSymsSince(0))
	return e
}

// collect encodes the types added since the last call into w, using x
// to name them, and moves the baseline forward.
func (e *typeEffects) collect(w *writer, index func() *typeIndex) error {
	sig := reflectdata.NeededTypesSince(e.signatLen)
	e.signatLen += len(sig)
	var gc []*types.Type
	if n := reflectdata.NumGCSymTypes(); n != len(e.gcKnown) {
		for _, t := range reflectdata.GCSymTypes() {
			if !e.gcKnown[t] {
				e.gcKnown[t] = true
				gc = append(gc, t)
			}
		}
	}
	fs := staticdata.FuncSymsSince(e.funcsLen)
	e.funcsLen += len(fs)
	if len(sig)+len(gc)+len(fs) == 0 {
		// Most groups add nothing: no need to walk their IR.
		w.uvarint(0)
		w.uvarint(0)
		w.uvarint(0)
		return nil
	}
	x := index()
	// gcsymset is a map: order its additions by their position in the
	// walk, which both sides share.
	sortTypes(gc, x)
	var err error
	for _, set := range [][]*types.Type{sig, gc} {
		w.uvarint(uint64(len(set)))
		for _, t := range set {
			if e := x.encode(w, t); e != nil && err == nil {
				err = e
			}
		}
	}
	w.uvarint(uint64(len(fs)))
	for _, n := range fs {
		i, ok := x.fidx[n]
		if !ok && err == nil {
			err = fmt.Errorf("function value %v is not reachable from the IR", n)
		}
		w.str(n.Sym().Name)
		w.uvarint(uint64(i))
	}
	return err
}

func sortTypes(ts []*types.Type, x *typeIndex) {
	key := func(t *types.Type) (int, int) {
		d := 0
		for {
			if i, ok := x.index[t]; ok {
				return i, d
			}
			if !t.IsPtr() || t.Elem() == nil {
				return len(x.list), d
			}
			t = t.Elem()
			d++
		}
	}
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0; j-- {
			a, da := key(ts[j-1])
			b, db := key(ts[j])
			if a < b || a == b && da <= db {
				break
			}
			ts[j-1], ts[j] = ts[j], ts[j-1]
		}
	}
}

// decodedTypes are a group's type side effects, decoded lazily: the
// client can resolve them only against its own IR for the group.
type decodedTypes struct {
	raw []byte
}

// resolve returns the types to add to signatset and gcsymset, and the
// functions that need function value symbols.
func (d decodedTypes) resolve(index func() *typeIndex) (sig, gc []*types.Type, fs []*ir.Name, err error) {
	r := &reader{buf: d.raw}
	if len(d.raw) == 3 && d.raw[0] == 0 && d.raw[1] == 0 && d.raw[2] == 0 {
		return nil, nil, nil, nil // nothing to resolve: no need to walk the IR
	}
	x := index()
	for k := 0; k < 2; k++ {
		n := r.count(3)
		for i := 0; i < n && r.err == nil; i++ {
			t, err := x.decode(r)
			if err != nil {
				return nil, nil, nil, err
			}
			if k == 0 {
				sig = append(sig, t)
			} else {
				gc = append(gc, t)
			}
		}
	}
	n := r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		name := r.str()
		j := r.uvarint()
		if r.err != nil {
			break
		}
		if j >= uint64(len(x.funcs)) || x.funcs[j].Sym().Name != name {
			return nil, nil, nil, fmt.Errorf("function value %d is not %s here", j, name)
		}
		fs = append(fs, x.funcs[j])
	}
	if err := r.done(); err != nil {
		return nil, nil, nil, err
	}
	return sig, gc, fs, nil
}

// replayTypes adds the types and functions to the client's sets the way
// the backend did.
func replayTypes(sig, gc []*types.Type, fs []*ir.Name) {
	for _, t := range sig {
		reflectdata.TypeLinksym(t)
	}
	for _, t := range gc {
		addGCSym(t)
	}
	for _, n := range fs {
		staticdata.FuncLinksym(n)
	}
}
