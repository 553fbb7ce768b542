// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build !linux

package work

import (
	"errors"
	"os"
	"time"
)

// distssaDial is Linux-only, as distssa is: elsewhere local processes
// run without a token.
func distssaDial(path string, timeout time.Duration) (*os.File, error) {
	return nil, errors.New("distssa: unix sockets are dialed on Linux only")
}
