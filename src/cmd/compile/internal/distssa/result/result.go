// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package result encodes what travels between a compile and its
// workers in a split backend: the job that names the functions a worker
// compiles (its shard), and the result that brings them back as Progs,
// with their runtime types, GC bitmaps, DWARF and the other state their
// backend left behind, for the client to replay and assemble.
//
// Jobs and results are frames (frame.go) of the encoding below; Prog
// lists are in progs.go, type side effects in types.go, DWARF in
// dwarf.go. The worker writes a result with an Encoder (encoder.go); the
// client decodes it with Decode and replays it group by group
// (replay.go). -d=distssaroundtrip sends every function through the
// encoding within one compile (roundtrip.go).
//
// The package must build with the bootstrap toolchain: std only, no
// generics.
package result

// Jobs and results of the split backend.
//
//	job    = frame(fingerprint:str n:uvarint name:str*n)
//	result = chunk* (the last one ends with the worker's phases)
//	chunk  = size:uint32le frame(fingerprint:str syms groups last:uvarint [phases])
//	groups = n:uvarint group*n
//	group  = name:str status:uvarint (reason:str | types:str nfuncs:uvarint func*nfuncs)
//	func   = name:str progs funcrefs spills csyms attr:uvarint dwarf wb relocs
//	wb     = pos n:uvarint (sym:uvarint pos)*n
//	relocs = base:uvarint n:uvarint (type:uvarint off:varint siz:uvarint add:varint sym:uvarint)*n
//	pos    = index:varint lc:uvarint
//	spills = n:uvarint (addr reg:varint spill:uvarint unspill:uvarint reg2:varint)*n
//	csyms  = n:uvarint (slot:uvarint sym:uvarint content)*n
//	content= p:str size:varint type:uvarint attr:uvarint align:varint nr:uvarint
//	         (type:uvarint off:varint siz:uvarint add:varint sym:uvarint)*nr
//
// reg2 (a spill's second register) and align (a symbol's own alignment)
// are 0 in versions that have neither (compat.go).
//
// A group is a top-level function with its closures, in the order the
// backend compiles them; types holds the runtime types and GC bitmaps its
// backend asked for (see types.go); dwarf is in dwarf.go. Its status
// says whether the worker compiled it (groupOK) or leaves it to the
// client (groupLocal, with a reason). phases are the worker's times
// (phases.go).
//
// A worker may send its result as it goes, a chunk per group, so that
// the client replays what came while the worker compiles the rest
// (ReadChunk). A chunk's syms are those its groups refer to first; a
// reference counts in the symbols of every chunk so far. size counts the
// frame's bytes. last is 1 in the last chunk only, which carries the
// phases.

import (
	"errors"
	"fmt"
	"time"

	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/internal/obj"
	"cmd/internal/objabi"
	"cmd/internal/src"
)

const (
	groupOK    = 0
	groupLocal = 1
)

// The FuncInfo symbols with content that the backend creates, by slot.
const (
	slotGCArgs = iota
	slotGCLocals
	slotStackObjects
	slotOpenCodedDeferInfo
	slotArgInfo
	slotArgLiveInfo
	slotWrapInfo
	numSlots
)

func funcInfoSlots(fi *obj.FuncInfo) [numSlots]**obj.LSym {
	return [numSlots]**obj.LSym{
		&fi.GCArgs, &fi.GCLocals, &fi.StackObjects, &fi.OpenCodedDeferInfo,
		&fi.ArgInfo, &fi.ArgLiveInfo, &fi.WrapInfo,
	}
}

// EncodeJob writes a job: the client's fingerprint and the keys of the
// top-level functions to compile.
func EncodeJob(fp [32]byte, names []string) []byte {
	var w writer
	w.str(string(fp[:]))
	w.uvarint(uint64(len(names)))
	for _, n := range names {
		w.str(n)
	}
	return seal(w.buf)
}

func DecodeJob(b []byte) (fp [32]byte, names []string, err error) {
	payload, err := unseal(b)
	if err != nil {
		return fp, nil, err
	}
	r := &reader{buf: payload}
	s := r.str()
	if r.err == nil && len(s) != len(fp) {
		r.fail("fingerprint of %d bytes", len(s))
	}
	copy(fp[:], s)
	n := r.count(1)
	for i := 0; i < n && r.err == nil; i++ {
		names = append(names, r.str())
	}
	return fp, names, r.done()
}

// resultEncoder accumulates a worker's result, chunk by chunk.
type resultEncoder struct {
	syms   symTable
	body   writer // the groups since the last chunk
	groups int
}

// localGroup records that the worker leaves a group to the client.
func (e *resultEncoder) localGroup(name, reason string) {
	e.groups++
	e.body.str(name)
	e.body.uvarint(groupLocal)
	e.body.str(reason)
}

// okGroup records a compiled group: its encoded type side effects and
// its encoded functions.
func (e *resultEncoder) okGroup(name string, types []byte, funcs [][]byte) {
	e.groups++
	e.body.str(name)
	e.body.uvarint(groupOK)
	e.body.str(string(types))
	e.body.uvarint(uint64(len(funcs)))
	for _, f := range funcs {
		e.body.buf = append(e.body.buf, f...)
	}
}

// chunk returns a chunk of the groups recorded since the last one, with
// the symbols they refer to first.
func (e *resultEncoder) chunk(fp [32]byte) []byte {
	var w writer
	e.head(&w, fp)
	w.uvarint(0)
	return sealChunk(w.buf)
}

// finish returns the last chunk. The worker's phases go at its end, as
// fill sets them once everything else is encoded.
func (e *resultEncoder) finish(fp [32]byte, fill func(*Phases)) []byte {
	var w writer
	e.head(&w, fp)
	w.uvarint(1)
	var ph Phases
	fill(&ph)
	ph.encode(&w)
	return sealChunk(w.buf)
}

// head writes what a chunk starts with, and starts the next chunk.
func (e *resultEncoder) head(w *writer, fp [32]byte) {
	w.str(string(fp[:]))
	e.syms.encode(w)
	w.uvarint(uint64(e.groups))
	w.buf = append(w.buf, e.body.buf...)
	e.body.buf, e.groups = e.body.buf[:0], 0
}

// encodeFuncRecord encodes one compiled function: its Progs (which start
// at text), the FuncInfo fields the backend set, and the content of the
// symbols it created, d, the function's DWARF (nil without DWARF), what
// the runtime's write-barrier checks (ssagen/nowb.go) read from fn (the
// position of its first write barrier and the calls it makes), and the
// relocations the backend added to the function symbol, which had
// relocBase before (R_USEIFACE marks from ssa/rewrite.go).
func (e *resultEncoder) encodeFuncRecord(text *obj.Prog, d *dwarfFunc, fn *ir.Func, relocBase int) ([]byte, error) {
	fnSym := text.From.Sym
	fi := fnSym.Func()
	pe := progEncoder{syms: &e.syms}
	pe.w.str(fnSym.Name)
	if err := pe.encodeProgs(text); err != nil {
		return nil, err
	}
	if err := pe.encodeFuncRefs(fi); err != nil {
		return nil, err
	}
	spills := fi.Spills()
	pe.w.uvarint(uint64(len(spills)))
	for i := range spills {
		if err := pe.encodeAddr(&spills[i].Addr); err != nil {
			return nil, fmt.Errorf("spill %d: %v", i, err)
		}
		pe.w.varint(int64(spills[i].Reg))
		pe.w.uvarint(uint64(spills[i].Spill))
		pe.w.uvarint(uint64(spills[i].Unspill))
		pe.w.varint(int64(spillReg2(&spills[i])))
	}
	var slots []int
	for i, p := range funcInfoSlots(fi) {
		if *p != nil {
			slots = append(slots, i)
		}
	}
	pe.w.uvarint(uint64(len(slots)))
	for _, i := range slots {
		s := *funcInfoSlots(fi)[i]
		ref, err := e.syms.ref(s)
		if err != nil {
			return nil, err
		}
		pe.w.uvarint(uint64(i))
		pe.w.uvarint(ref)
		if err := encodeContent(&pe.w, &e.syms, s); err != nil {
			return nil, fmt.Errorf("%s: %v", s.Name, err)
		}
	}
	pe.w.uvarint(uint64(fnSym.Attribute))
	if err := encodeDwarf(&pe.w, &e.syms, d); err != nil {
		return nil, fmt.Errorf("DWARF: %v", err)
	}
	var wb src.XPos
	var calls []ir.SymAndPos
	if fn != nil {
		wb = fn.WBPos
		if fn.NWBRCalls != nil {
			calls = *fn.NWBRCalls
		}
	}
	encodePos(&pe.w, wb)
	pe.w.uvarint(uint64(len(calls)))
	for _, c := range calls {
		ref, err := e.syms.ref(c.Sym)
		if err != nil {
			return nil, err
		}
		pe.w.uvarint(ref)
		encodePos(&pe.w, c.Pos)
	}
	if relocBase > len(fnSym.R) {
		return nil, fmt.Errorf("%d relocations before the backend, %d after", relocBase, len(fnSym.R))
	}
	pe.w.uvarint(uint64(relocBase))
	if err := encodeRelocs(&pe.w, &e.syms, fnSym.R[relocBase:]); err != nil {
		return nil, err
	}
	return pe.w.buf, nil
}

// encodeRelocs writes n (type off siz add sym)*n.
func encodeRelocs(w *writer, syms *symTable, rs []obj.Reloc) error {
	w.uvarint(uint64(len(rs)))
	for _, r := range rs {
		ref, err := syms.ref(r.Sym)
		if err != nil {
			return err
		}
		w.uvarint(uint64(r.Type))
		w.varint(int64(r.Off))
		w.uvarint(uint64(r.Siz))
		w.varint(r.Add)
		w.uvarint(ref)
	}
	return nil
}

func decodeRelocs(r *reader, syms []*obj.LSym) []obj.Reloc {
	var rs []obj.Reloc
	n := r.count(5)
	for i := 0; i < n && r.err == nil; i++ {
		var rel obj.Reloc
		rel.Type = objabi.RelocType(r.uintN(16))
		rel.Off = int32(r.intN(32))
		rel.Siz = uint8(r.uintN(8))
		rel.Add = r.varint()
		rel.Sym = symAt(r, syms)
		rs = append(rs, rel)
	}
	return rs
}

func encodePos(w *writer, p src.XPos) {
	idx, lc := p.Raw()
	w.varint(int64(idx))
	w.uvarint(uint64(lc))
}

func decodePos(r *reader) src.XPos {
	idx := r.intN(32)
	lc := r.uintN(32)
	if r.err == nil && (idx < 0 || idx > 0 && int(idx) >= len(base.Ctxt.PosTable.Bases())) {
		r.fail("position base %d out of range", idx)
		return src.NoXPos
	}
	return src.XPosFromRaw(int32(idx), uint32(lc))
}

func encodeContent(w *writer, syms *symTable, s *obj.LSym) error {
	if s.Extra != nil {
		return fmt.Errorf("symbol has extra info")
	}
	w.str(string(s.P))
	w.varint(s.Size)
	w.uvarint(uint64(s.Type))
	w.uvarint(uint64(s.Attribute))
	w.varint(int64(symAlign(s)))
	return encodeRelocs(w, syms, s.R)
}

// content is a decoded data symbol.
type content struct {
	sym   *obj.LSym
	p     []byte
	size  int64
	typ   objabi.SymKind
	attr  obj.Attribute
	align int16 // the symbol's own alignment, where the version has one (symAlign)
	r     []obj.Reloc
}

func decodeContent(r *reader, syms []*obj.LSym) content {
	var c content
	c.p = []byte(r.str())
	c.size = r.varint()
	c.typ = objabi.SymKind(r.uintN(8))
	c.attr = obj.Attribute(r.uintN(32))
	c.align = int16(r.intN(16))
	c.r = decodeRelocs(r, syms)
	return c
}

// decodedRecord is a decoded function of a group.
type decodedRecord struct {
	name   string
	progs  []*obj.Prog
	refs   funcRefs
	spills []obj.RegSpill
	slots  [numSlots]*content
	attr   obj.Attribute
	dwarf  *dwarfFunc     // nil without DWARF
	wbPos  src.XPos       // ir.Func.WBPos after the backend
	nwbr   []ir.SymAndPos // calls the backend recorded in ir.Func.NWBRCalls
	rbase  int            // relocations of the function symbol before the backend
	relocs []obj.Reloc    // and those the backend added
}

// Group is a decoded group of a result.
type Group struct {
	Name   string // the FuncKey of its top-level function
	Reason string // non-empty: the worker left it to the client
	types  decodedTypes
	funcs  []*decodedRecord
}

// Result is a decoded worker result.
type Result struct {
	Fingerprint [32]byte // the front-end fingerprint of the worker
	Groups      []*Group // in the order of the job's names
	Phases      Phases   // the worker's times
	rv          *resolver

	// Assembly is the time that Replay spent in the assembler, so far.
	Assembly time.Duration
}

// newProg allocates a Prog for a decoded or assembled function.
func newProg() *obj.Prog { return &obj.Prog{Ctxt: base.Ctxt} }

// Decode decodes a worker's whole result: every chunk, the last one
// included.
func Decode(b []byte) (*Result, error) {
	d := NewDecoder()
	for len(b) > 0 {
		frame, rest, err := NextChunk(b)
		if err != nil {
			return nil, err
		}
		if _, err := d.Chunk(frame); err != nil {
			return nil, err
		}
		b = rest
	}
	if !d.Ended() {
		return nil, fmt.Errorf("%w: no last chunk", ErrTruncated)
	}
	return d.Result(), nil
}

// A Decoder decodes a result chunk by chunk, as it arrives. Its
// symbols are placeholders, made real only for the groups that the
// client replays (see resolver): looking a symbol up creates it, and a
// content-addressed symbol such as gclocals·… created empty would stay
// empty when the local backend makes it later.
type Decoder struct {
	res   *Result
	syms  []*obj.LSym // of every chunk so far
	fp    bool        // the first chunk set res.Fingerprint
	ended bool
	err   error
}

// NewDecoder returns a Decoder for one result.
func NewDecoder() *Decoder {
	rv := &resolver{placeholder: make(map[*obj.LSym]bool), real: make(map[*obj.LSym]*obj.LSym)}
	return &Decoder{res: &Result{rv: rv}}
}

// Result is the result decoded so far. Its Phases are set once the last
// chunk is decoded.
func (d *Decoder) Result() *Result { return d.res }

// Ended reports whether the last chunk was decoded.
func (d *Decoder) Ended() bool { return d.ended }

// Chunk decodes a chunk's frame (NextChunk, ReadChunk) and returns its
// groups, which it also appends to the Result's. After an error, or
// after the last chunk, every call fails.
func (d *Decoder) Chunk(frame []byte) ([]*Group, error) {
	if d.err == nil && d.ended {
		d.err = errors.New("a chunk after the last one")
	}
	if d.err != nil {
		return nil, d.err
	}
	groups, err := d.chunk(frame)
	d.err = err
	return groups, err
}

func (d *Decoder) chunk(frame []byte) ([]*Group, error) {
	payload, err := unseal(frame)
	if err != nil {
		return nil, err
	}
	r := &reader{buf: payload}
	res := d.res
	s := r.str()
	if r.err == nil && len(s) != len(res.Fingerprint) {
		r.fail("fingerprint of %d bytes", len(s))
	}
	if r.err == nil && d.fp && s != string(res.Fingerprint[:]) {
		r.fail("fingerprint differs from the first chunk's")
	}
	copy(res.Fingerprint[:], s)
	d.fp = true
	d.syms = append(d.syms, decodeSyms(r, res.rv.placeholderSym)...)
	syms := d.syms
	var groups []*Group
	n := r.count(2)
	for i := 0; i < n && r.err == nil; i++ {
		g := &Group{Name: r.str()}
		switch st := r.uvarint(); st {
		case groupLocal:
			g.Reason = r.str()
			if r.err == nil && g.Reason == "" {
				r.fail("group %q: local without a reason", g.Name)
			}
		case groupOK:
			g.types = decodedTypes{raw: []byte(r.str())}
			k := r.count(6)
			if r.err == nil && k == 0 {
				r.fail("group %q: no functions", g.Name)
			}
			for j := 0; j < k && r.err == nil; j++ {
				g.funcs = append(g.funcs, decodeRecord(r, syms))
			}
		default:
			r.fail("group %q: bad status %d", g.Name, st)
		}
		groups = append(groups, g)
	}
	switch last := r.uvarint(); {
	case r.err != nil:
	case last == 1:
		res.Phases = decodePhases(r)
		d.ended = true
	case last != 0:
		r.fail("bad last-chunk mark %d", last)
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	res.Groups = append(res.Groups, groups...)
	return groups, nil
}

// resolver maps a result's placeholder symbols to real ones.
type resolver struct {
	placeholder map[*obj.LSym]bool
	real        map[*obj.LSym]*obj.LSym
}

func (rv *resolver) placeholderSym(name string, abi obj.ABI, pkg string) *obj.LSym {
	s := &obj.LSym{Name: name, Pkg: pkg}
	s.SetABI(abi)
	rv.placeholder[s] = true
	return s
}

// existing returns the real symbol for s if it exists already.
func (rv *resolver) existing(s *obj.LSym) *obj.LSym {
	if s == nil || !rv.placeholder[s] {
		return s
	}
	if r := rv.real[s]; r != nil {
		return r
	}
	return base.Ctxt.LookupExisting(s.Name, s.ABI())
}

// sym returns the real symbol for s, creating it if need be.
func (rv *resolver) sym(s *obj.LSym) *obj.LSym {
	if s == nil || !rv.placeholder[s] {
		return s
	}
	r := rv.real[s]
	if r == nil {
		r = lookupSym(s.Name, s.ABI(), s.Pkg)
		rv.real[s] = r
	}
	return r
}

// content returns the real symbol for a content symbol, creating it with
// that content if it does not exist yet.
func (rv *resolver) content(c *content) *obj.LSym {
	s := c.sym
	r := rv.real[s]
	if r == nil {
		// Resolve the relocations first: the init function runs with the
		// symbol table locked.
		rels := make([]obj.Reloc, len(c.r))
		for i, rel := range c.r {
			rel.Sym = rv.sym(rel.Sym)
			rels[i] = rel
		}
		r = base.Ctxt.LookupABIInit(s.Name, s.ABI(), func(r *obj.LSym) {
			r.Pkg = s.Pkg
			r.P = c.p
			r.Size = c.size
			r.Type = c.typ
			r.Attribute = c.attr
			setSymAlign(r, c.align)
			r.R = rels
		})
		rv.real[s] = r
	}
	return r
}

func (rv *resolver) addr(a *obj.Addr) {
	a.Sym = rv.sym(a.Sym)
}

func decodeRecord(r *reader, syms []*obj.LSym) *decodedRecord {
	d := &decodedRecord{name: r.str()}
	d.progs = decodeProgs(r, syms, newProg)
	if r.err != nil {
		return d
	}
	d.refs = decodeFuncRefs(r, syms, d.progs)
	n := r.count(4)
	for i := 0; i < n && r.err == nil; i++ {
		var sp obj.RegSpill
		decodeAddr(r, syms, nil, &sp.Addr)
		sp.Reg = int16(r.intN(16))
		sp.Spill = obj.As(r.uintN(16))
		sp.Unspill = obj.As(r.uintN(16))
		setSpillReg2(&sp, int16(r.intN(16)))
		d.spills = append(d.spills, sp)
	}
	n = r.count(7)
	for i := 0; i < n && r.err == nil; i++ {
		slot := r.uvarint()
		sym := symAt(r, syms)
		if r.err == nil && (slot >= numSlots || d.slots[slot] != nil || sym == nil) {
			r.fail("function %q: bad FuncInfo symbol slot %d", d.name, slot)
			break
		}
		c := decodeContent(r, syms)
		c.sym = sym
		if r.err == nil {
			d.slots[slot] = &c
		}
	}
	d.attr = obj.Attribute(r.uintN(32))
	d.dwarf = decodeDwarf(r, syms, len(d.progs))
	d.wbPos = decodePos(r)
	n = r.count(3)
	for i := 0; i < n && r.err == nil; i++ {
		c := ir.SymAndPos{Sym: symAt(r, syms)} // nil for a call through a register
		c.Pos = decodePos(r)
		d.nwbr = append(d.nwbr, c)
	}
	d.rbase = int(r.uintN(31))
	d.relocs = decodeRelocs(r, syms)
	if r.err == nil && (d.progs[0].As != obj.ATEXT || d.progs[0].From.Sym == nil || d.progs[0].From.Sym.Name != d.name) {
		r.fail("function %q: list does not start with its ATEXT", d.name)
	}
	return d
}
