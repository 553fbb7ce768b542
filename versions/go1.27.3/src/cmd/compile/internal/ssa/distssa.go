// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package ssa

import "cmd/internal/obj"

// CaptureLocList, if not nil, is called first by PutLocationList; if it
// returns true, PutLocationList writes nothing. distssa's worker uses it
// to take a variable's location list in its structured form.
var CaptureLocList func(listSym *obj.LSym, entries []LocListEntry) bool
