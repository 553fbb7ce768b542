// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// Groups, the unit of a job and of a result, and the keys that name them.

import (
	"cmd/compile/internal/ir"
	"cmd/internal/obj"
)

// GroupFuncs returns fn and its closures, in the order in which
// gc.compileFunctions compiles them: a group.
func GroupFuncs(fn *ir.Func) []*ir.Func {
	fns := []*ir.Func{fn}
	for _, c := range fn.Closures {
		fns = append(fns, GroupFuncs(c)...)
	}
	return fns
}

// FuncKey names a function in jobs and results: its symbol name and ABI
// (an ABI wrapper has the name of the function it wraps).
func FuncKey(s *obj.LSym) string {
	return s.Name + "<" + s.ABI().String() + ">"
}
