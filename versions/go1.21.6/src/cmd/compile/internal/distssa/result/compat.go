// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// What the result's encoding and replay need of go1.21.6's internals
// that other versions name or shape differently.

import (
	"cmd/compile/internal/base"
	"cmd/compile/internal/reflectdata"
	"cmd/compile/internal/types"
	"cmd/internal/obj"
)

// flushplist assembles plist into base.Ctxt, as ssagen's Progs.Flush does.
func flushplist(plist *obj.Plist) {
	obj.Flushplist(base.Ctxt, plist, newProg, base.Ctxt.Pkgpath)
}

// addFuncTypes adds the receiver, parameter and result types of the
// function type t to x, as the funarg structs that go1.21.6 keeps them in.
func addFuncTypes(x *typeIndex, t *types.Type) {
	x.add(t.Recvs())
	x.add(t.Params())
	x.add(t.Results())
}

// structFields returns the fields of the struct type t.
func structFields(t *types.Type) []*types.Field {
	return t.FieldSlice()
}

// addGCSym adds t to reflectdata's set of GC symbols, as the backend does.
func addGCSym(t *types.Type) {
	reflectdata.GCSym(t)
}

// symAlign is a symbol's own alignment: go1.21.6 keeps none on data
// symbols (a function's is FuncInfo.Align, which the assembler sets).
func symAlign(s *obj.LSym) int16 { return 0 }

func setSymAlign(s *obj.LSym, align int16) {}

// spillReg2 is a spill's second register: go1.21.6 has none.
func spillReg2(sp *obj.RegSpill) int16 { return 0 }

func setSpillReg2(sp *obj.RegSpill, reg int16) {}
