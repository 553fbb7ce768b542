// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package base

// NumMessages returns the number of errors and warnings reported and not
// yet flushed, for distssa's side-effect accounting.
func NumMessages() int {
	return len(errorMsgs)
}
