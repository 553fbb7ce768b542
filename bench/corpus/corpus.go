// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build corpus

// Package corpus pins the third-party modules that distssa's identity
// tests and benchmarks compile. Its go.sum fixes their exact contents.
package corpus

import (
	// What github.com/caddyserver/caddy/v2/cmd/caddy imports.
	_ "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/redis/go-redis/v9"
)
