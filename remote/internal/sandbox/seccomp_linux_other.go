// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build linux && !amd64 && !arm64

package sandbox

// The filter knows the system calls of amd64 and arm64 only: elsewhere,
// SeccompAvailable says there is none.
const (
	nativeArch = 0
	x32Bit     = 0
)

var forkCalls []uint32
