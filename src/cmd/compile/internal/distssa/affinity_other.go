// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build !linux

package distssa

import "fmt"

func setAffinity(list string) error {
	return fmt.Errorf("pinning to CPUs %s: only on Linux", list)
}
