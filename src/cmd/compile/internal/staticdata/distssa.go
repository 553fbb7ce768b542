// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package staticdata

// NumFuncSyms returns how many functions need function value symbols
// (funcsyms) so far, for distssa's side-effect accounting.
func NumFuncSyms() int {
	funcsymsmu.Lock()
	defer funcsymsmu.Unlock()
	return len(funcsyms)
}
