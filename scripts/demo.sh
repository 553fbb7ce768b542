#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# demo.sh builds the distssa toolchain and shows its central promise on a
# real module: it compiles github.com/redis/go-redis/v9 (pinned in
# bench/corpus) and every dependency, std included, and checks each object
# against stock go1.21.6, byte for byte.
#
# The split backend (issue: core) and remote workers (issue: remote) are
# not built yet, so this demo compiles locally; -distssa=exec:N is accepted
# and shown to leave the output unchanged.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/src/make.bash"
"$repo/bin/go" version
exec "$repo/scripts/identity.sh" -args -distssa=exec:2 github.com/redis/go-redis/v9/...
