// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build !linux

package agentclient

import (
	"errors"
	"os"
	"time"
)

func dialUnix(path string, timeout time.Duration) (*os.File, error) {
	return nil, errors.New("the agent transport is implemented on linux only")
}
