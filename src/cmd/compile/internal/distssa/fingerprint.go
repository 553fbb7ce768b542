// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// The front-end fingerprint. A worker reruns the client's front end and
// must arrive at the same state before it compiles anything; both sides
// hash that state as compileFunctions begins, and a worker whose hash
// differs refuses the job. The hash covers what the backend's output
// depends on and what a divergence in the front end would disturb
// (see shared/design/backend-state-study.md, section 3):
//
//   - the position bases and the inline tree, which Prog positions index;
//   - the names of the package's declarations (Target.Decls, or what
//     a version keeps instead: compat.go);
//   - the compile queue: each function's symbol and its Dcl (name, class,
//     type, position);
//   - the names of Ctxt.Text, and the names, sizes and relocation counts
//     of Ctxt.Data;
//   - the names of the runtime types needed so far (reflectdata signatset).

import (
	"crypto/sha256"
	"encoding/binary"

	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/reflectdata"
	"cmd/internal/src"
)

// fpHasher collects what the fingerprint hashes: varints and
// length-prefixed strings, as a result encodes them.
type fpHasher struct {
	buf []byte
}

func (h *fpHasher) uvarint(v uint64) {
	var b [binary.MaxVarintLen64]byte
	h.buf = append(h.buf, b[:binary.PutUvarint(b[:], v)]...)
}

func (h *fpHasher) varint(v int64) {
	var b [binary.MaxVarintLen64]byte
	h.buf = append(h.buf, b[:binary.PutVarint(b[:], v)]...)
}

func (h *fpHasher) str(s string) {
	h.uvarint(uint64(len(s)))
	h.buf = append(h.buf, s...)
}

func (h *fpHasher) section(name string) { h.str(name) }

func (h *fpHasher) pos(p src.XPos) {
	i, l := p.Raw()
	h.varint(int64(i))
	h.uvarint(uint64(l))
}

// Fingerprint hashes the front end's state for the given compile queue.
func Fingerprint(queue []*ir.Func) [32]byte {
	var h fpHasher
	h.section("posbases")
	for _, b := range base.Ctxt.PosTable.Bases() {
		if b == nil {
			h.str("<nil>")
			continue
		}
		h.str(b.Filename())
		h.str(b.AbsFilename())
		h.uvarint(uint64(b.Line()))
		h.uvarint(uint64(b.Col()))
		h.varint(int64(b.InliningIndex()))
		if p := b.Pos(); p != nil {
			h.str(p.Filename())
			h.uvarint(uint64(p.Line()))
			h.uvarint(uint64(p.Col()))
		}
	}
	h.section("inltree")
	tree := &base.Ctxt.InlTree
	for i, n := 0, tree.NumNodes(); i < n; i++ {
		h.varint(int64(tree.Parent(i)))
		h.pos(tree.CallPos(i))
		if s := tree.InlinedFunction(i); s != nil {
			h.str(s.Name)
		}
	}
	h.section("decls")
	hashDecls(&h)
	h.section("queue")
	for _, fn := range queue {
		h.str(fn.LSym.Name)
		for _, n := range fn.Dcl {
			if s := n.Sym(); s != nil {
				h.str(s.Name)
			}
			h.uvarint(uint64(n.Class))
			if t := n.Type(); t != nil {
				h.str(t.LinkString())
			}
			h.pos(n.Pos())
		}
		h.uvarint(uint64(len(fn.Closures)))
	}
	h.section("text")
	for _, s := range base.Ctxt.Text {
		h.str(s.Name)
	}
	h.section("data")
	for _, s := range base.Ctxt.Data {
		h.str(s.Name)
		h.varint(s.Size)
		h.uvarint(uint64(len(s.R)))
	}
	h.section("signatset")
	for _, name := range reflectdata.NeededTypeNames() {
		h.str(name)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(h.buf)))
	return sha256.Sum256(append(h.buf, n[:]...))
}
