#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# demo.sh builds the distssa toolchain and shows the split backend on a
# real module: it compiles github.com/redis/go-redis/v9 (pinned in
# bench/corpus) and every dependency, std included, with
# -distssa=exec:2 (two worker processes of the compiler on this machine),
# checks each object against stock go1.21.6 byte for byte, and sums how
# much of the work the workers did.
#
# -dwarf=false is set on both sides (scripts/test.sh checks the split
# with DWARF on too). Remote workers over the network are shown by
# README.md, "Using it".
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/src/make.bash"
"$repo/bin/go" version
"$repo/scripts/identity.sh" -args -distssa=exec:2 -gcflags -dwarf=false github.com/redis/go-redis/v9/...
exec "$repo/bench/splitstats.sh" -n 2 -gcflags -dwarf=false github.com/redis/go-redis/v9/...
