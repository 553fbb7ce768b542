// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build unix

package store

import (
	"os"
	"syscall"
)

// flock takes f's exclusive lock without waiting. The kernel releases it
// when the process exits, however it exits.
func flock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
