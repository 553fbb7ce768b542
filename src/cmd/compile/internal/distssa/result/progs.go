// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// Encoding of a function's Prog list as genssa leaves it, before the
// assembler (obj.Flushplist) runs.
//
//	func     = progs funcrefs
//	progs    = n:uvarint prog*n
//	prog     = as:uvarint mask:uvarint pcdelta:varint posindexdelta:varint lico:uvarint
//	           [reg:varint] [regto2:varint] [scond:uvarint] [mark:uvarint]
//	           [spadj:varint] [from:addr] [to:addr] [nrest:uvarint (addr pos:varint)*nrest]
//	addr     = mask:uvarint [reg] [index] [scale] [type] [name] [class] [offset] [sym] [val]
//	val      = tag:uvarint (int32:varint | float64:8 bytes | string | prog index:uvarint)
//	funcrefs = ninl:uvarint (prog:uvarint id:varint)*ninl
//	           njt:uvarint (sym:uvarint attr:uvarint ntargets:uvarint prog:uvarint*ntargets)*njt
//
// Prog i links to Prog i+1; the last one is the trailing AEND Prog that
// objw.Progs keeps as pp.Next. Branch targets and the Progs referred to by
// the FuncInfo are indices into the list. Symbols are indices into the
// result's symbol table (0 means nil). Fields that only the assembler
// sets must still be zero, and encoding fails if they are not.

import (
	"fmt"
	"math"

	"cmd/compile/internal/base"
	"cmd/internal/obj"
	"cmd/internal/src"
)

// symTable numbers the symbols that a result refers to.
type symTable struct {
	list  []*obj.LSym
	index map[*obj.LSym]int
	sent  int // the symbols that encode wrote so far
}

// ref returns the reference for s: 0 for nil, else its index + 1.
func (t *symTable) ref(s *obj.LSym) (uint64, error) {
	if s == nil {
		return 0, nil
	}
	if i, ok := t.index[s]; ok {
		return uint64(i + 1), nil
	}
	if s.Name == "" {
		return 0, fmt.Errorf("reference to an unnamed symbol")
	}
	if t.index == nil {
		t.index = make(map[*obj.LSym]int)
	}
	t.index[s] = len(t.list)
	t.list = append(t.list, s)
	return uint64(len(t.list)), nil
}

// encode writes the symbols added since its last call (all of them,
// the first time): n (name abi pkg)*n.
func (t *symTable) encode(w *writer) {
	w.uvarint(uint64(len(t.list) - t.sent))
	for _, s := range t.list[t.sent:] {
		w.str(s.Name)
		w.uvarint(uint64(s.ABI()))
		w.str(s.Pkg)
	}
	t.sent = len(t.list)
}

// decodeSyms reads a symbol table and gives each entry to resolve.
func decodeSyms(r *reader, resolve func(name string, abi obj.ABI, pkg string) *obj.LSym) []*obj.LSym {
	n := r.count(3)
	syms := make([]*obj.LSym, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		name := r.str()
		abi := r.uvarint()
		pkg := r.str()
		if r.err != nil {
			break
		}
		if name == "" {
			r.fail("symbol %d has no name", i)
			break
		}
		if abi >= uint64(obj.ABICount) {
			r.fail("symbol %q: bad ABI %d", name, abi)
			break
		}
		syms = append(syms, resolve(name, obj.ABI(abi), pkg))
	}
	return syms
}

// lookupSym finds or creates a symbol in base.Ctxt the way
// base.PkgLinksym does.
func lookupSym(name string, abi obj.ABI, pkg string) *obj.LSym {
	return base.Ctxt.LookupABIInit(name, abi, func(s *obj.LSym) { s.Pkg = pkg })
}

func symAt(r *reader, syms []*obj.LSym) *obj.LSym {
	i := r.uvarint()
	if i == 0 || r.err != nil {
		return nil
	}
	if i > uint64(len(syms)) {
		r.fail("symbol reference %d out of range (%d symbols)", i, len(syms))
		return nil
	}
	return syms[i-1]
}

// Prog field mask bits.
const (
	pReg = 1 << iota
	pRegTo2
	pScond
	pMark
	pSpadj
	pFrom
	pTo
	pRest
)

// Addr field mask bits.
const (
	aReg = 1 << iota
	aIndex
	aScale
	aType
	aName
	aClass
	aOffset
	aSym
	aVal
)

// Addr.Val tags.
const (
	valInt32 = 1 + iota
	valFloat64
	valString
	valBranch
)

type progEncoder struct {
	w     writer
	syms  *symTable
	index map[*obj.Prog]int
}

// encodeProgs writes the list that starts at text.
func (e *progEncoder) encodeProgs(text *obj.Prog) error {
	e.index = make(map[*obj.Prog]int)
	var list []*obj.Prog
	for p := text; p != nil; p = p.Link {
		if _, dup := e.index[p]; dup {
			return fmt.Errorf("Prog list has a cycle at Prog %d", len(list))
		}
		e.index[p] = len(list)
		list = append(list, p)
	}
	e.w.uvarint(uint64(len(list)))
	var pc int64
	var posIndex int32
	for i, p := range list {
		if p.Ctxt != base.Ctxt {
			return fmt.Errorf("Prog %d (%v): foreign Ctxt", i, p.As)
		}
		if p.Pool != nil || p.Forwd != nil || p.Rel != nil || p.Optab != 0 || p.Back != 0 || p.Ft != 0 || p.Tt != 0 || p.Isize != 0 {
			return fmt.Errorf("Prog %d (%v): assembler fields already set", i, p.As)
		}
		var mask uint64
		if p.Reg != 0 {
			mask |= pReg
		}
		if p.RegTo2 != 0 {
			mask |= pRegTo2
		}
		if p.Scond != 0 {
			mask |= pScond
		}
		if p.Mark != 0 {
			mask |= pMark
		}
		if p.Spadj != 0 {
			mask |= pSpadj
		}
		if p.From != (obj.Addr{}) {
			mask |= pFrom
		}
		if p.To != (obj.Addr{}) {
			mask |= pTo
		}
		if len(p.RestArgs) != 0 {
			mask |= pRest
		}
		e.w.uvarint(uint64(p.As))
		e.w.uvarint(mask)
		e.w.varint(p.Pc - pc)
		pc = p.Pc
		idx, lc := p.Pos.Raw()
		e.w.varint(int64(idx) - int64(posIndex))
		posIndex = idx
		e.w.uvarint(uint64(lc))
		if mask&pReg != 0 {
			e.w.varint(int64(p.Reg))
		}
		if mask&pRegTo2 != 0 {
			e.w.varint(int64(p.RegTo2))
		}
		if mask&pScond != 0 {
			e.w.uvarint(uint64(p.Scond))
		}
		if mask&pMark != 0 {
			e.w.uvarint(uint64(p.Mark))
		}
		if mask&pSpadj != 0 {
			e.w.varint(int64(p.Spadj))
		}
		if mask&pFrom != 0 {
			if err := e.encodeAddr(&p.From); err != nil {
				return fmt.Errorf("Prog %d (%v) From: %v", i, p.As, err)
			}
		}
		if mask&pTo != 0 {
			if err := e.encodeAddr(&p.To); err != nil {
				return fmt.Errorf("Prog %d (%v) To: %v", i, p.As, err)
			}
		}
		if mask&pRest != 0 {
			e.w.uvarint(uint64(len(p.RestArgs)))
			for j := range p.RestArgs {
				if err := e.encodeAddr(&p.RestArgs[j].Addr); err != nil {
					return fmt.Errorf("Prog %d (%v) RestArgs[%d]: %v", i, p.As, j, err)
				}
				e.w.varint(int64(p.RestArgs[j].Pos))
			}
		}
	}
	return nil
}

func (e *progEncoder) encodeAddr(a *obj.Addr) error {
	var mask uint64
	if a.Reg != 0 {
		mask |= aReg
	}
	if a.Index != 0 {
		mask |= aIndex
	}
	if a.Scale != 0 {
		mask |= aScale
	}
	if a.Type != 0 {
		mask |= aType
	}
	if a.Name != 0 {
		mask |= aName
	}
	if a.Class != 0 {
		mask |= aClass
	}
	if a.Offset != 0 {
		mask |= aOffset
	}
	if a.Sym != nil {
		mask |= aSym
	}
	if a.Val != nil {
		mask |= aVal
	}
	e.w.uvarint(mask)
	if mask&aReg != 0 {
		e.w.varint(int64(a.Reg))
	}
	if mask&aIndex != 0 {
		e.w.varint(int64(a.Index))
	}
	if mask&aScale != 0 {
		e.w.varint(int64(a.Scale))
	}
	if mask&aType != 0 {
		e.w.uvarint(uint64(a.Type))
	}
	if mask&aName != 0 {
		e.w.varint(int64(a.Name))
	}
	if mask&aClass != 0 {
		e.w.varint(int64(a.Class))
	}
	if mask&aOffset != 0 {
		e.w.varint(a.Offset)
	}
	if mask&aSym != 0 {
		ref, err := e.syms.ref(a.Sym)
		if err != nil {
			return err
		}
		e.w.uvarint(ref)
	}
	if mask&aVal != 0 {
		switch v := a.Val.(type) {
		case int32:
			e.w.uvarint(valInt32)
			e.w.varint(int64(v))
		case float64:
			e.w.uvarint(valFloat64)
			e.w.float64(v)
		case string:
			e.w.uvarint(valString)
			e.w.str(v)
		case *obj.Prog:
			i, ok := e.index[v]
			if !ok {
				return fmt.Errorf("branch target outside the function's Prog list")
			}
			e.w.uvarint(valBranch)
			e.w.uvarint(uint64(i))
		default:
			return fmt.Errorf("unsupported Val type %T", a.Val)
		}
	}
	return nil
}

// encodeFuncRefs writes the FuncInfo fields that point into the list:
// inline marks and jump tables.
func (e *progEncoder) encodeFuncRefs(fi *obj.FuncInfo) error {
	progs, ids := fi.InlMarkProgs()
	e.w.uvarint(uint64(len(progs)))
	for i, p := range progs {
		j, ok := e.index[p]
		if !ok {
			return fmt.Errorf("inline mark %d: Prog outside the list", i)
		}
		e.w.uvarint(uint64(j))
		e.w.varint(int64(ids[i]))
	}
	e.w.uvarint(uint64(len(fi.JumpTables)))
	for i, jt := range fi.JumpTables {
		ref, err := e.syms.ref(jt.Sym)
		if err != nil {
			return fmt.Errorf("jump table %d: %v", i, err)
		}
		e.w.uvarint(ref)
		e.w.uvarint(uint64(jt.Sym.Attribute)) // DUPOK|Local, set by the backend
		e.w.uvarint(uint64(len(jt.Targets)))
		for _, t := range jt.Targets {
			j, ok := e.index[t]
			if !ok {
				return fmt.Errorf("jump table %d: target outside the list", i)
			}
			e.w.uvarint(uint64(j))
		}
	}
	return nil
}

// decodeProgs reads a list into Progs obtained from alloc, which it
// clears first. It returns the list in order.
func decodeProgs(r *reader, syms []*obj.LSym, alloc func() *obj.Prog) []*obj.Prog {
	n := r.count(5)
	if r.err != nil {
		return nil
	}
	if n == 0 {
		r.fail("empty Prog list")
		return nil
	}
	list := make([]*obj.Prog, n)
	for i := range list {
		p := alloc()
		*p = obj.Prog{Ctxt: base.Ctxt}
		list[i] = p
		if i > 0 {
			list[i-1].Link = p
		}
	}
	var pc int64
	var posIndex int64
	for _, p := range list {
		p.As = obj.As(r.uintN(16))
		mask := r.uvarint()
		if mask >= pRest<<1 {
			r.fail("bad Prog field mask %#x", mask)
		}
		pc += r.varint()
		p.Pc = pc
		posIndex += r.varint()
		lc := r.uintN(32)
		if posIndex < 0 || posIndex > math.MaxInt32 {
			r.fail("bad position index %d", posIndex)
		} else if posIndex > 0 && posIndex >= int64(len(base.Ctxt.PosTable.Bases())) {
			// An index past the compile's own position table would
			// crash the assembler or the DWARF writer later.
			r.fail("position base %d out of range", posIndex)
		}
		p.Pos = src.XPosFromRaw(int32(posIndex), uint32(lc))
		if mask&pReg != 0 {
			p.Reg = int16(r.intN(16))
		}
		if mask&pRegTo2 != 0 {
			p.RegTo2 = int16(r.intN(16))
		}
		if mask&pScond != 0 {
			p.Scond = uint8(r.uintN(8))
		}
		if mask&pMark != 0 {
			p.Mark = uint16(r.uintN(16))
		}
		if mask&pSpadj != 0 {
			p.Spadj = int32(r.intN(32))
		}
		if mask&pFrom != 0 {
			decodeAddr(r, syms, list, &p.From)
		}
		if mask&pTo != 0 {
			decodeAddr(r, syms, list, &p.To)
		}
		if mask&pRest != 0 {
			k := r.count(2)
			if k == 0 {
				r.fail("empty RestArgs with its mask bit set")
			}
			if r.err == nil {
				p.RestArgs = make([]obj.AddrPos, k)
				for j := range p.RestArgs {
					decodeAddr(r, syms, list, &p.RestArgs[j].Addr)
					p.RestArgs[j].Pos = obj.OperandPos(r.intN(8))
				}
			}
		}
		if r.err != nil {
			return nil
		}
	}
	return list
}

func decodeAddr(r *reader, syms []*obj.LSym, list []*obj.Prog, a *obj.Addr) {
	mask := r.uvarint()
	if mask == 0 || mask >= aVal<<1 {
		r.fail("bad Addr field mask %#x", mask)
		return
	}
	if mask&aReg != 0 {
		a.Reg = int16(r.intN(16))
	}
	if mask&aIndex != 0 {
		a.Index = int16(r.intN(16))
	}
	if mask&aScale != 0 {
		a.Scale = int16(r.intN(16))
	}
	if mask&aType != 0 {
		a.Type = obj.AddrType(r.uintN(8))
	}
	if mask&aName != 0 {
		a.Name = obj.AddrName(r.intN(8))
	}
	if mask&aClass != 0 {
		a.Class = int8(r.intN(8))
	}
	if mask&aOffset != 0 {
		a.Offset = r.varint()
	}
	if mask&aSym != 0 {
		a.Sym = symAt(r, syms)
		if a.Sym == nil {
			r.fail("nil symbol with its mask bit set")
		}
	}
	if mask&aVal != 0 {
		switch tag := r.uvarint(); tag {
		case valInt32:
			a.Val = int32(r.intN(32))
		case valFloat64:
			a.Val = r.float64()
		case valString:
			a.Val = r.str()
		case valBranch:
			i := r.uvarint()
			if i >= uint64(len(list)) {
				r.fail("branch target %d out of range (%d Progs)", i, len(list))
				return
			}
			a.Val = list[i]
		default:
			r.fail("bad Val tag %d", tag)
		}
	}
}

// funcRefs are the FuncInfo fields that point into a decoded list.
type funcRefs struct {
	inlProgs   []*obj.Prog
	inlIDs     []int32
	jumpTables []obj.JumpTable
	jumpAttrs  []obj.Attribute // the attributes of each table's symbol
}

func decodeFuncRefs(r *reader, syms []*obj.LSym, list []*obj.Prog) funcRefs {
	var fr funcRefs
	at := func() *obj.Prog {
		i := r.uvarint()
		if r.err == nil && i >= uint64(len(list)) {
			r.fail("Prog index %d out of range (%d Progs)", i, len(list))
		}
		if r.err != nil {
			return nil
		}
		return list[i]
	}
	n := r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		p := at()
		id := int32(r.intN(32))
		fr.inlProgs = append(fr.inlProgs, p)
		fr.inlIDs = append(fr.inlIDs, id)
	}
	n = r.count(3)
	for i := 0; i < n && r.err == nil; i++ {
		s := symAt(r, syms)
		if s == nil && r.err == nil {
			r.fail("jump table %d has no symbol", i)
		}
		fr.jumpAttrs = append(fr.jumpAttrs, obj.Attribute(r.uintN(32)))
		k := r.count(1)
		jt := obj.JumpTable{Sym: s}
		for j := 0; j < k && r.err == nil; j++ {
			jt.Targets = append(jt.Targets, at())
		}
		fr.jumpTables = append(fr.jumpTables, jt)
	}
	return fr
}
