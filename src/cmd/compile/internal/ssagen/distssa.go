// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package ssagen

import (
	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/objw"
	"cmd/compile/internal/types"
)

// BeforeFlush, if not nil, is called by Compile with each function's
// Progs after genssa and before they are assembled. If it returns false,
// Compile does not assemble them. It is set by cmd/compile/internal/distssa
// and may be called from several backend workers at once.
var BeforeFlush func(fn *ir.Func, pp *objw.Progs) bool

// NumLargeStackFrames returns how many functions have been found to have
// frames too large to compile, for distssa's side-effect accounting.
func NumLargeStackFrames() int {
	largeStackFramesMu.Lock()
	defer largeStackFramesMu.Unlock()
	return len(largeStackFrames)
}

// AfterFlush does for fn, whose Progs distssa assembled itself, what
// Compile does after pp.Flush: it weakens the package init function's
// relocations to outlined map initializers and records the fields that
// fn tracks.
func AfterFlush(fn *ir.Func) {
	if fn.IsPackageInit() && base.Debug.WrapGlobalMapCtl != 1 {
		weakenGlobalMapInitRelocs(fn)
	}
	fieldtrack(fn.LSym, fn.FieldTrack)
}

// DeferStruct returns a new type of the defer record that the backend
// builds for a defer it does not open-code. distssa makes the type again
// on the client, as the backend would, when a worker's backend asked for
// its runtime type.
func DeferStruct() *types.Type {
	return deferstruct()
}

// IsDeferStruct reports whether t is such a defer record type.
func IsDeferStruct(t *types.Type) bool {
	if !t.IsStruct() || !t.Noalg() || t.Sym() != nil {
		return false
	}
	d := deferstruct()
	if t.NumFields() != d.NumFields() {
		return false
	}
	for i, f := range distssaFields(t) {
		g := d.Field(i)
		if f.Sym == nil || f.Sym.Name != g.Sym.Name || f.Sym.Pkg != g.Sym.Pkg || f.Type != g.Type || f.Offset != g.Offset {
			return false
		}
	}
	return true
}
