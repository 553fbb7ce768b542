#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# gotest-split.sh runs 'go test -short' on a set of std packages and on
# go-redis's unit tests that need no server, with the packages under test
# (their test variants and test mains included) compiled through the
# split backend: -distssa=exec:2 with the client's share forced to zero,
# and verify mode, which compiles each split package again locally and
# fails the compile on any byte difference. So the tests show that linked
# programs built from distributed objects work, and verify that those
# objects are the local ones.
#
# The dependencies compile locally. Their split objects are what the
# identity steps of scripts/test.sh compare with stock, so with
# DISTSSA_LOCAL_GOCACHE naming a build cache that holds a local build's
# objects (test.sh passes the one of its identity step), the build starts
# from a copy of it and compiles only the packages under test. Otherwise
# it starts from an empty cache.
#
# runtime's tests run in part (-run "$runtimetests" below, about 90 of
# its 500): the whole set takes minutes, mostly spent building and
# running helper programs with the plain compiler, which tests nothing of
# the split.
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
if [[ -n ${DISTSSA_LOCAL_GOCACHE:-} && -d $DISTSSA_LOCAL_GOCACHE ]]; then
	# Hard links: the go command writes new entries to new files and
	# never rewrites an entry it finds valid.
	cp -al "$DISTSSA_LOCAL_GOCACHE" "$GOCACHE"
fi
# Some tests run "go" from PATH.
export PATH=$repo/bin:$PATH
unset GOROOT GOBIN GOOS GOARCH GOEXPERIMENT GOAMD64
flags="-distssa=exec:2 -d=distssaforce=1,distssastats=1,distssaverify=1"
runtimetests='^Test(GcSys|GC|Stack|Map|Chan|Select|Defer|Append|Hash|Memmove|String|Timer|Sema|Float|Int64|Uint64|Gcd|Callers)'
others=()
for p in "${pkgs[@]}"; do [[ $p == runtime ]] || others+=("$p"); done
start=$SECONDS
status=0
{
	if [[ ${#others[@]} != "${#pkgs[@]}" ]]; then
		"$gobin" test -count=1 -short -timeout 20m "-gcflags=$flags" -run "$runtimetests" runtime || status=$?
	fi
	if [[ ${#others[@]} -gt 0 ]]; then
		"$gobin" test -count=1 -short -timeout 20m "-gcflags=$flags" "${others[@]}" || status=$?
	fi
} >"$tmp/log" 2>&1
# The compiles print statistics lines each (their phases too), under a
# "# package" header.
grep -v -e '^distssa: .* functions remote' -e '^distssa: .*: phases: ' -e '^distssa: .*: worker [0-9]*: ' -e '^# ' "$tmp/log" || true
if [[ $status != 0 ]]; then
	echo "gotest-split: go test failed (exit $status); its output without statistics is above"
	exit 1
fi
# The statistics lines prove the packages were split.
read -r n remote funcs < <(awk '/^distssa: .* functions remote/ {
	split($3, a, "/"); r += a[1]; f += a[2]; n++ } END { print n+0, r+0, f+0 }' "$tmp/log")
echo "gotest-split: ${#pkgs[@]} test packages passed; $n compiles split, $remote of $funcs functions remote, each verified against a local compile, in $((SECONDS - start))s"
[[ $n -gt 0 && $remote -gt 0 ]] || { echo "gotest-split: nothing was compiled remotely"; exit 1; }
