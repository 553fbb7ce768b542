// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package obj

// Accessors for cmd/compile/internal/distssa, which moves a function's
// Progs and FuncInfo between compiles before they are assembled.

// InlMarkProgs returns the Prog and the inlining index of each inline
// mark, in order.
func (fi *FuncInfo) InlMarkProgs() ([]*Prog, []int32) {
	ps := make([]*Prog, len(fi.InlMarks))
	ids := make([]int32, len(fi.InlMarks))
	for i, m := range fi.InlMarks {
		ps[i], ids[i] = m.p, m.id
	}
	return ps, ids
}

// Spills returns the register spills recorded with AddSpill, in order.
func (fi *FuncInfo) Spills() []RegSpill {
	return fi.spills
}

// NumNodes returns the number of nodes in the inlining tree.
func (tree *InlTree) NumNodes() int {
	return len(tree.nodes)
}
