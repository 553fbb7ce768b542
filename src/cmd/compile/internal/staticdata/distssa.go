// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package staticdata

import "cmd/compile/internal/ir"

// FuncSymsSince returns the functions that were added to funcsyms (those
// that need function value symbols) after the first n, in order.
func FuncSymsSince(n int) []*ir.Name {
	funcsymsmu.Lock()
	defer funcsymsmu.Unlock()
	return append([]*ir.Name(nil), funcsyms[n:]...)
}
