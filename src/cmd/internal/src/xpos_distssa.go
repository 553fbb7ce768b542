// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package src

// Raw returns the two words of p: the index of its position base in the
// PosTable and its packed line, column and flags. distssa ships positions
// this way between compiles that built identical PosTables.
func (p XPos) Raw() (index int32, lc uint32) {
	return p.index, uint32(p.lico)
}

// XPosFromRaw is the inverse of XPos.Raw.
func XPosFromRaw(index int32, lc uint32) XPos {
	return XPos{index: index, lico: lico(lc)}
}

// Bases returns the position bases of t, indexed as XPos indexes them.
// The slice belongs to t.
func (t *PosTable) Bases() []*PosBase {
	return t.baseList
}
