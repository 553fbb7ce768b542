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
//   - the names of Target.Decls;
//   - the compile queue: each function's symbol and its Dcl (name, class,
//     type, position);
//   - the names of Ctxt.Text, and the names, sizes and relocation counts
//     of Ctxt.Data;
//   - the names of the runtime types needed so far (reflectdata signatset).

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"

	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/reflectdata"
	"cmd/compile/internal/typecheck"
	"cmd/internal/src"
)

type fpHasher struct {
	w   writer
	sum [32]byte
}

func (h *fpHasher) section(name string) { h.w.str(name) }

func (h *fpHasher) pos(p src.XPos) {
	i, l := p.Raw()
	h.w.varint(int64(i))
	h.w.uvarint(uint64(l))
}

// Fingerprint hashes the front end's state for the given compile queue.
func Fingerprint(queue []*ir.Func) [32]byte {
	var h fpHasher
	h.section("posbases")
	for _, b := range base.Ctxt.PosTable.Bases() {
		if b == nil {
			h.w.str("<nil>")
			continue
		}
		h.w.str(b.Filename())
		h.w.str(b.AbsFilename())
		h.w.uvarint(uint64(b.Line()))
		h.w.uvarint(uint64(b.Col()))
		h.w.varint(int64(b.InliningIndex()))
		if p := b.Pos(); p != nil {
			h.w.str(p.Filename())
			h.w.uvarint(uint64(p.Line()))
			h.w.uvarint(uint64(p.Col()))
		}
	}
	h.section("inltree")
	tree := &base.Ctxt.InlTree
	for i, n := 0, tree.NumNodes(); i < n; i++ {
		h.w.varint(int64(tree.Parent(i)))
		h.pos(tree.CallPos(i))
		if s := tree.InlinedFunction(i); s != nil {
			h.w.str(s.Name)
		}
	}
	h.section("decls")
	for _, n := range typecheck.Target.Decls {
		h.w.uvarint(uint64(n.Op()))
		if s := n.Sym(); s != nil {
			h.w.str(s.Name)
		}
	}
	h.section("queue")
	for _, fn := range queue {
		h.w.str(fn.LSym.Name)
		for _, n := range fn.Dcl {
			if s := n.Sym(); s != nil {
				h.w.str(s.Name)
			}
			h.w.uvarint(uint64(n.Class))
			if t := n.Type(); t != nil {
				h.w.str(t.LinkString())
			}
			h.pos(n.Pos())
		}
		h.w.uvarint(uint64(len(fn.Closures)))
	}
	h.section("text")
	for _, s := range base.Ctxt.Text {
		h.w.str(s.Name)
	}
	h.section("data")
	for _, s := range base.Ctxt.Data {
		h.w.str(s.Name)
		h.w.varint(s.Size)
		h.w.uvarint(uint64(len(s.R)))
	}
	h.section("signatset")
	for _, name := range reflectdata.NeededTypeNames() {
		h.w.str(name)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(h.w.buf)))
	return sha256.Sum256(append(h.w.buf, n[:]...))
}

// BeforeCompileFunctions is called as gc.compileFunctions begins, with the
// queue in its original (deterministic) order. It returns the functions
// to compile in this process. In worker mode it does the worker's job and
// exits.
func BeforeCompileFunctions(queue []*ir.Func) []*ir.Func {
	if base.Flag.DistSSAWorker != "" {
		runWorker(queue)
	}
	if base.Debug.DistSSAFingerprint != 0 {
		fp := Fingerprint(queue)
		fmt.Fprintf(os.Stderr, "distssa: %s: fingerprint %s, %d functions\n", base.Ctxt.Pkgpath, hex.EncodeToString(fp[:]), len(queue))
	}
	return planSplit(queue)
}

// AfterCompileFunctions is called by gc.compileFunctions once the local
// share is compiled, before it tears down the backend's state. It
// assembles the workers' functions and compiles locally those they did
// not deliver.
func AfterCompileFunctions() {
	finishSplit()
	finishAgent()
}
