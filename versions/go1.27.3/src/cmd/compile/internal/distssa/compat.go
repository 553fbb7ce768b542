// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// What distssa needs of go1.27.3's compiler that other versions call or
// keep differently.

import (
	"cmd/compile/internal/base"
	"cmd/compile/internal/ir"
	"cmd/compile/internal/pgoir"
	"cmd/compile/internal/ssagen"
	"cmd/compile/internal/typecheck"
)

// pgoProfile is the profile that compileFunctions got: the backend reads
// it (hot blocks), so a worker compiles with the same one.
var pgoProfile *pgoir.Profile

// BeforeCompileFunctions is called as gc.compileFunctions begins, with the
// queue in its original (deterministic) order and the PGO profile, if
// any. It returns the functions to compile in this process. In worker
// mode it does the worker's job and exits.
func BeforeCompileFunctions(queue []*ir.Func, profile *pgoir.Profile) []*ir.Func {
	pgoProfile = profile
	return beforeCompileFunctions(queue)
}

// compileFunc runs the backend on f in this goroutine.
func compileFunc(f *ir.Func) {
	ssagen.Compile(f, 0, pgoProfile)
}

// hashDecls hashes the op and name of each of Target.Funcs and
// Target.Externs, and Ctxt.DwTextCount, the front end's count of
// functions, which sizes DWARF 5's address indices.
func hashDecls(h *fpHasher) {
	for _, fn := range typecheck.Target.Funcs {
		h.uvarint(uint64(fn.Op()))
		if s := fn.Sym(); s != nil {
			h.str(s.Name)
		}
	}
	for _, n := range typecheck.Target.Externs {
		h.uvarint(uint64(n.Op()))
		if s := n.Sym(); s != nil {
			h.str(s.Name)
		}
	}
	h.uvarint(uint64(base.Ctxt.DwTextCount))
}
