// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// What distssa needs of go1.21.6's compiler that other versions call or
// keep differently.

import (
	"cmd/compile/internal/ir"
	"cmd/compile/internal/ssagen"
	"cmd/compile/internal/typecheck"
)

// BeforeCompileFunctions is called as gc.compileFunctions begins, with the
// queue in its original (deterministic) order. It returns the functions
// to compile in this process. In worker mode it does the worker's job and
// exits.
func BeforeCompileFunctions(queue []*ir.Func) []*ir.Func {
	return beforeCompileFunctions(queue)
}

// compileFunc runs the backend on f in this goroutine.
func compileFunc(f *ir.Func) {
	ssagen.Compile(f, 0)
}

// hashDecls hashes the op and name of each of Target.Decls.
func hashDecls(h *fpHasher) {
	for _, n := range typecheck.Target.Decls {
		h.uvarint(uint64(n.Op()))
		if s := n.Sym(); s != nil {
			h.str(s.Name)
		}
	}
}
