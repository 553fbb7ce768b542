#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# test.sh runs every distssa test, building the toolchain first if needed:
#
#   toolchain   src/make.bash (a no-op when nothing changed)
#   patches     scripts/check-patches.sh
#   make        scripts/test-make.sh: make.bash on bad input, and rerun
#   module      go vet + go test of the project module (remote/, scripts/, bench/)
#   compiler    go test of the overlay packages inside the staged GOROOT
#   gocmd       scripts/test-gocmd.sh: the go command's -distssa build flag
#   identity    scripts/identity.sh: std, go-redis and caddy (cmd/caddy and
#               its dependencies), fork vs stock go1.21.6, byte for byte;
#               its build cache is the local build that remote and faults
#               compare with, and its stock compiles serve the identity
#               steps below that make the same ones
#   split       std, cmd, go-redis and caddy compiled with -distssa=exec:2
#               (two worker processes) and -d=distssaforce=1 (no client
#               share): every function's Progs go through the result
#               encoding, so the in-process check of that encoding
#               (-d=distssaroundtrip=1) is not a step of its own
#   split-shared  std + go-redis with exec:2, the client's own share, and the
#               functions it takes back from workers that lag
#   split-nodwarf net/http and its dependencies forced, with -dwarf=false on
#               both sides
#   gotest      scripts/gotest-split.sh: go test of std packages and
#               go-redis unit tests, the packages under test compiled split
#               and verified; their dependencies come from the identity
#               step's cache, whose split objects the split step checked
#   deploy      scripts/test-deploy.sh: remote/deploy's systemd unit and
#               Containerfile checked (systemd-analyze, flags, paths) and
#               their worker command lines run on loopback
#   remote      scripts/test-remote.sh: GOFLAGS=-distssa=hosts.txt builds of
#               caddy and go-redis through two worker daemons on loopback,
#               identical to local builds; a worker killed mid-build, a wrong
#               token, another toolchain, a malformed hosts.txt
#   faults      scripts/faults.sh -rounds 1 -noclean: go-redis's test binary
#               built once through two workers that crash, stall and
#               corrupt, identical to the local build
#
# The series (README, "Go versions"): every step tests the default,
# go1.21.6, except patches, which checks that both series' patches apply
# strictly. The go1.27.3 series is not built here: its build alone takes
# about 12 minutes on the 2-core CI machine, over the budget with the
# steps above (about 50 minutes); it is checked by hand
# (DISTSSA_GO=1.27.3 scripts/identity.sh ...), as README says.
#
# The fuzz campaign (scripts/fuzz.sh) is not a step: module and compiler
# run the fuzz targets' seed corpora as plain tests.
#
# Each step prints its time, and the run its total. It ends with the line
# "N passed, M failed" and exits non-zero on any failure.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export GOTOOLCHAIN=local
# A test of remote/ that needs the distssa compile fails without it,
# rather than skipping (testutil.RequireEnv).
export DISTSSA_TEST_REQUIRE_COMPILE=1
unset GOROOT GOBIN GOOS GOARCH GOEXPERIMENT GOAMD64

passed=0 failed=0
failures=()
step() {
	local name=$1
	shift
	echo "=== $name: $*"
	local t=$SECONDS
	if "$@"; then
		echo "--- PASS $name ($((SECONDS - t))s)"
		passed=$((passed + 1))
	else
		echo "--- FAIL $name ($((SECONDS - t))s)"
		failed=$((failed + 1))
		failures+=("$name")
	fi
}

# The project module's packages. src/ holds overlay files for GOROOT, which
# build only inside the staged tree, so ./... is not used.
modpkgs=()
for d in scripts remote bench; do [[ -d $d ]] && modpkgs+=("./$d/..."); done

gotest_module() {
	GOFLAGS=-buildvcs=false "$repo/bin/go" vet "${modpkgs[@]}" &&
		GOFLAGS=-buildvcs=false "$repo/bin/go" test -count=1 "${modpkgs[@]}"
}

gotest_overlay() {
	# Every overlay directory with tests is a package of the staged tree.
	local pkgs
	pkgs=$(cd src && find . -name '*_test.go' -exec dirname {} \; | sed 's|^\./||' | LC_ALL=C sort -u)
	[[ -n $pkgs ]] || { echo "no overlay tests"; return 1; }
	# shellcheck disable=SC2086
	(cd goroot/src && GOFLAGS= "$repo/bin/go" vet $pkgs && GOFLAGS= "$repo/bin/go" test -count=1 $pkgs)
}

start=$SECONDS
step toolchain src/make.bash
if [[ $failed -gt 0 ]]; then
	echo "=== total $((SECONDS - start))s; failed: toolchain"
	echo "0 passed, 1 failed"
	exit 1
fi

# What the steps of one run share, removed at its end: the stock
# go1.21.6 compiles of the identity steps (identity.sh, DISTSSA_REFCACHE),
# and the build cache of the identity step, which holds what a local
# build compiles (DISTSSA_LOCAL_GOCACHE, for test-remote.sh and
# faults.sh).
shared=$(mktemp -d)
trap 'rm -rf "$shared"' EXIT
export DISTSSA_REFCACHE=$shared/stock DISTSSA_LOCAL_GOCACHE=$shared/gocache
step patches scripts/check-patches.sh
step make scripts/test-make.sh
step module gotest_module
step compiler gotest_overlay
step gocmd scripts/test-gocmd.sh
step identity scripts/identity.sh -cache "$DISTSSA_LOCAL_GOCACHE"
step split scripts/identity.sh -args "-distssa=exec:2 -d=distssaforce=1" std cmd/... github.com/redis/go-redis/v9/... github.com/caddyserver/caddy/v2/cmd/caddy
step split-shared scripts/identity.sh -args -distssa=exec:2 std github.com/redis/go-redis/v9/...
step split-nodwarf scripts/identity.sh -args "-distssa=exec:2 -d=distssaforce=1" -gcflags -dwarf=false net/http
step gotest scripts/gotest-split.sh
step deploy scripts/test-deploy.sh
step remote scripts/test-remote.sh
step faults scripts/faults.sh -rounds 1 -noclean

echo "=== total $((SECONDS - start))s${failures[*]:+; failed: ${failures[*]}}"
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
