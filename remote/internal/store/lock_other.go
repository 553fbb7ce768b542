// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build !unix

package store

import "os"

// flock is a no-op where there is no flock: nothing stops two workers
// sharing a directory there.
func flock(f *os.File) error { return nil }
