// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// What the result's encoding and replay need of go1.27.3's internals
// that other versions name or shape differently.

import (
	"cmd/compile/internal/base"
	"cmd/compile/internal/reflectdata"
	"cmd/compile/internal/types"
	"cmd/internal/obj"
)

// flushplist assembles plist into base.Ctxt, as ssagen's Progs.Flush does.
func flushplist(plist *obj.Plist) {
	obj.Flushplist(base.Ctxt, plist, newProg)
}

// addFuncTypes adds the receiver, parameter and result types of the
// function type t to x.
func addFuncTypes(x *typeIndex, t *types.Type) {
	for _, f := range t.RecvParamsResults() {
		x.add(f.Type)
	}
}

// structFields returns the fields of the struct type t.
func structFields(t *types.Type) []*types.Field {
	return t.Fields()
}

// addGCSym adds t to reflectdata's set of GC symbols, as the backend does.
// Only the membership matters: the symbols are written at the end.
func addGCSym(t *types.Type) {
	reflectdata.GCSym(t, false)
}

// symAlign is a symbol's own alignment, which the backend sets on some
// FuncInfo content symbols (opendefer, arginfo, wrapinfo, ...).
func symAlign(s *obj.LSym) int16 { return s.Align }

func setSymAlign(s *obj.LSym, align int16) { s.Align = align }

// spillReg2 is a spill's second register.
func spillReg2(sp *obj.RegSpill) int16 { return sp.Reg2 }

func setSpillReg2(sp *obj.RegSpill, reg int16) { sp.Reg2 = reg }
