#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# gotest-split.sh runs 'go test -short' on a set of std packages and on
# go-redis's unit tests that need no server, with every package (test
# binaries' dependencies included) compiled through the split backend:
# -distssa=exec:2 with the client's share forced to zero, and verify mode,
# which compiles each split package again locally and fails the compile
# on any byte difference. So the tests show that linked programs built
# from distributed objects work, and verify that those objects are the
# local ones. A fresh build cache makes every package compile.
#
# Usage: scripts/gotest-split.sh [PACKAGES...]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkgs=("$@")
if [[ ${#pkgs[@]} -eq 0 ]]; then
	# runtime's and go/types' tests type-check std from export data that
	# they find with "go list -export", run in GOROOT: that needs the
	# go.work that make.bash writes in goroot/ (see there).
	pkgs=(runtime go/types strconv sort encoding/json regexp net/http bytes strings fmt math/big
		github.com/redis/go-redis/v9/internal github.com/redis/go-redis/v9/internal/hashtag
		github.com/redis/go-redis/v9/internal/hscan github.com/redis/go-redis/v9/internal/proto
		github.com/redis/go-redis/v9/internal/pool)
fi
gobin=$repo/bin/go
[[ -x $gobin ]] || { echo "gotest-split: no $gobin; run src/make.bash first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$repo/bench/corpus"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly GOCACHE=$tmp/cache
# Some tests run "go" from PATH.
export PATH=$repo/bin:$PATH
unset GOROOT GOBIN GOOS GOARCH GOEXPERIMENT GOAMD64
flags="-distssa=exec:2 -d=distssaforce=1,distssastats=1,distssaverify=1"
start=$SECONDS
status=0
"$gobin" test -short -timeout 20m "-gcflags=all=$flags" "${pkgs[@]}" >"$tmp/log" 2>&1 || status=$?
# The compiles print a statistics line each, under a "# package" header.
grep -v -e '^distssa: .* functions remote' -e '^# ' "$tmp/log" || true
if [[ $status != 0 ]]; then
	echo "gotest-split: go test failed (exit $status); its output without statistics is above"
	exit 1
fi
# The statistics lines prove the packages were split.
read -r n remote funcs < <(awk '/^distssa: .* functions remote/ {
	split($3, a, "/"); r += a[1]; f += a[2]; n++ } END { print n+0, r+0, f+0 }' "$tmp/log")
echo "gotest-split: ${#pkgs[@]} test packages passed; $n compiles split, $remote of $funcs functions remote, each verified against a local compile, in $((SECONDS - start))s"
[[ $n -gt 0 && $remote -gt 0 ]] || { echo "gotest-split: nothing was compiled remotely"; exit 1; }
