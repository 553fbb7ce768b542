// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package ssagen

import "cmd/compile/internal/types"

// distssaFields returns the fields of the struct type t.
func distssaFields(t *types.Type) []*types.Field {
	return t.FieldSlice()
}
