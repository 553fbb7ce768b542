#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# identity.sh checks that the distssa toolchain compiles byte-for-byte like
# stock Go of the same version. It builds the packages (default: std and the
# pinned corpus module github.com/redis/go-redis/v9) and all their
# dependencies with 'go build -a' in a fresh build cache, and distssa-objcmp
# runs the stock compiler beside every compile with the same arguments and
# compares objects, assembly headers, stdout, stderr and exit status.
#
# DISTSSA_GO=1.27.3 checks the toolchain of that series (goroot-1.27.3/)
# against stock go1.27.3; the default is versions/default's (goroot/).
#
# Usage: scripts/identity.sh [-args "FLAGS"] [-gcflags "FLAGS"] [-cache DIR] [PACKAGES...]
#   -args     compiler flags for the distssa compile only (e.g. -distssa=exec:2)
#   -gcflags  compiler flags for both compiles (go build -gcflags=all=FLAGS)
#   -cache    the build cache, empty or absent, which is kept (default: a
#             fresh one, removed); without -args and -gcflags it holds what
#             a local build compiles, for later builds to reuse
#
# With DISTSSA_REFCACHE=DIR (scripts/test.sh sets it), the runs share
# their stock compiles through DIR (distssa-objcmp -refcache): a stock
# compile of the same inputs with the same arguments that an earlier
# run made is not made again.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "identity: $*" >&2; exit 2; }

extra=
gcflags=
cache=
while [[ $# -gt 0 ]]; do
	case $1 in
	-args) extra=$2; shift 2 ;;
	-gcflags) gcflags=$2; shift 2 ;;
	-cache) cache=$2; shift 2 ;;
	*) break ;;
	esac
done
pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(std github.com/redis/go-redis/v9/... github.com/caddyserver/caddy/v2/cmd/caddy)

# shellcheck source=lib/series.sh
. "$repo/scripts/lib/series.sh"
[[ -x $gobin ]] || die "no $gobin; run src/make.bash${DISTSSA_GO:+ -go ${series#go}} first"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
unset GOROOT GOBIN GOOS GOARCH GOEXPERIMENT GOAMD64
tooldir=$("$gobin" env GOTOOLDIR)
objcmp=$tooldir/distssa-objcmp
[[ -x $objcmp ]] || die "no $objcmp; run src/make.bash"

# Stock Go (the pinned upstream), through the go on PATH and GOTOOLCHAIN.
stockroot=$(cd / && GOTOOLCHAIN=$upgo GOFLAGS= go env GOROOT) ||
	die "cannot run stock $upgo with GOTOOLCHAIN=$upgo (need a go >= 1.21 on PATH and the module proxy)"
stockvers=$(GOFLAGS= "$stockroot/bin/go" env GOVERSION)
[[ $stockvers == "$upgo" ]] || die "$stockroot/bin/go is $stockvers, want $upgo"
stock=$stockroot/pkg/tool/$("$gobin" env GOOS)_$("$gobin" env GOARCH)/compile
[[ -x $stock ]] || die "no stock compiler at $stock"
forkvers=$("$gobin" env GOVERSION)
[[ $forkvers != "$stockvers" ]] || die "$gobin reports $forkvers, the same as stock; is VERSION set?"

work=$(mktemp -d)
[[ -n ${DISTSSA_KEEP:-} ]] && echo "identity: keeping $work" || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/log"
if [[ -n $cache ]]; then
	[[ -z $(ls -A "$cache" 2>/dev/null) ]] || die "-cache $cache is not empty"
	mkdir -p "$cache"
	cache=$(cd "$cache" && pwd)
else
	cache=$work/cache
fi
cd "$corpus"
"$gobin" mod download
# A main package compiles as -p main, which is what distssa-objcmp records;
# a variant ("p [cmd/compile]", built with cmd/compile's PGO profile) is p.
mapfile -t want < <("$gobin" list -deps -f '{{if and (ne .ImportPath "unsafe") (or .GoFiles .CgoFiles)}}{{if eq .Name "main"}}main{{else}}{{.ImportPath}}{{end}}{{end}}' "${pkgs[@]}" | sed 's/ \[.*\]$//' | grep -vx -e '' -e unsafe | LC_ALL=C sort -u)

echo "identity: $forkvers vs $stockvers ($stock), ${#want[@]} packages: ${pkgs[*]}${extra:+, distssa flags: $extra}${gcflags:+, both: $gcflags}"
start=$SECONDS
status=0
toolexec="$objcmp -ref=$stock -log=$work/log"
for a in $extra; do toolexec+=" -args=$a"; done
[[ -n ${DISTSSA_REFCACHE:-} ]] && toolexec+=" -refcache=$DISTSSA_REFCACHE"
GOCACHE=$cache "$gobin" build -a ${gcflags:+"-gcflags=all=$gcflags"} -toolexec "$toolexec" "${pkgs[@]}" || status=$?
results=$work/log/results
[[ -f $results ]] || die "no compile went through distssa-objcmp"

ok=$(grep -c '^ok ' "$results" || true)
fail=$(grep -c '^FAIL ' "$results" || true)
mapfile -t got < <(sed -n 's/^\(ok\|FAIL\) \([^:]*\).*/\2/p' "$results" | LC_ALL=C sort -u)
missing=$(LC_ALL=C comm -23 <(printf '%s\n' "${want[@]}") <(printf '%s\n' "${got[@]}"))
if [[ $fail -gt 0 ]]; then
	echo "identity: objects that differ from stock:"
	grep -A8 '^FAIL ' "$results" | head -100
fi
if [[ -n $missing ]]; then
	echo "identity: packages that were not compared:"
	sed 's/^/    /' <<<"$missing"
fi
hits=
if [[ -n ${DISTSSA_REFCACHE:-} ]]; then
	n=0
	[[ -f $work/log/refhits ]] && n=$(wc -l <"$work/log/refhits")
	hits=" ($n stock compiles from earlier runs)"
fi
echo "identity: $ok packages identical, $fail differ, $(grep -c . <<<"$missing" || true) not compared, in $((SECONDS - start))s$hits"
[[ $status == 0 ]] || die "go build failed (exit $status)"
[[ $fail == 0 && -z $missing ]]
