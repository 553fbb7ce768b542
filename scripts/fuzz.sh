#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# fuzz.sh is distssa's fuzzing campaign: it runs each fuzz target of the
# decoders, one after another, each with one fuzzing worker (-parallel=1).
#
#   scripts/fuzz.sh [-time 10m] [TARGET...]
#
# A TARGET is pkg.FuzzName (wire.FuzzDecode, agentclient.FuzzFrame) or a
# package name alone (all of its targets); without one, every target below
# runs. -time is each target's -fuzztime: a duration in s, m or h, or Nx
# for N executions. The remote/ targets are tested in the project module;
# the compiler's (the packages under src/cmd/compile/internal/distssa)
# inside the staged GOROOT, after the package's overlay files are copied
# there, so that the fuzzed code is the checked-out one.
#
# For each target it prints one line:
#
#   pkg Name: N execs, T, new interesting M, crashers C
#
# A crasher is written to the package's testdata/fuzz/Name/ (a compiler
# one is copied back from the staged tree into src/); keep it, it is the
# regression test of the fix. New interesting inputs stay in GOCACHE/fuzz.
# The last line is "K targets, C crashers, F failed" (failed: did not
# run, e.g. the toolchain was being rebuilt); the exit status is non-zero
# if a target found a crasher or failed.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export GOTOOLCHAIN=local
unset GOROOT GOBIN GOOS GOARCH GOEXPERIMENT GOAMD64

# pkg.Name, and the package directory relative to the repository.
targets=(
	wire.FuzzDecode:remote/internal/wire
	wire.FuzzDecompress:remote/internal/wire
	localproto.FuzzDecode:remote/internal/localproto
	hosts.FuzzParse:remote/internal/hosts
	cmdline.FuzzParse:remote/internal/cmdline
	store.FuzzActionRecord:remote/internal/store
	result.FuzzDecode:src/cmd/compile/internal/distssa/result
	result.FuzzDecodeResult:src/cmd/compile/internal/distssa/result
	agentclient.FuzzFrame:src/cmd/compile/internal/distssa/agentclient
)

usage() {
	echo "usage: scripts/fuzz.sh [-time 10m] [TARGET...]" >&2
	echo "targets:" "${targets[@]%%:*}" >&2
	exit 2
}

fuzztime=10m
while [[ $# -gt 0 ]]; do
	case $1 in
	-time | --time)
		[[ $# -ge 2 ]] || usage
		fuzztime=$2
		shift 2
		;;
	-time=* | --time=*)
		fuzztime=${1#*=}
		shift
		;;
	-h | -help | --help) usage ;;
	-*)
		echo "fuzz.sh: unknown flag $1" >&2
		usage
		;;
	*) break ;;
	esac
done

# go test's -timeout: the fuzzing time and 5 minutes for building and the
# seed corpus, so that a hung target ends.
if [[ $fuzztime =~ ^([0-9]+)(s|m|h)$ ]]; then
	n=${BASH_REMATCH[1]}
	case ${BASH_REMATCH[2]} in
	s) secs=$n ;;
	m) secs=$((n * 60)) ;;
	h) secs=$((n * 3600)) ;;
	esac
	timeout=$((secs + 300))s
elif [[ $fuzztime =~ ^[0-9]+x$ ]]; then
	timeout=30m
else
	echo "fuzz.sh: -time $fuzztime: want a duration such as 30s, 10m or 1h, or a count such as 1000x" >&2
	exit 2
fi

# The targets to run, in the order given.
run=()
if [[ $# -eq 0 ]]; then
	run=("${targets[@]}")
fi
for want in "$@"; do
	found=0
	for t in "${targets[@]}"; do
		name=${t%%:*}
		if [[ $want == "$name" || $want == "${name%%.*}" ]]; then
			run+=("$t")
			found=1
		fi
	done
	if [[ $found -eq 0 ]]; then
		echo "fuzz.sh: unknown target $want" >&2
		usage
	fi
done

go=$repo/bin/go
[[ -x $go ]] || {
	echo "fuzz.sh: $go not found: build the toolchain first (src/make.bash)" >&2
	exit 1
}

# stage copies the overlay package's files (and its fuzz corpus) from
# $overlay into the staged GOROOT's $staged, where make.bash put them.
stage() {
	[[ -d $staged ]] || {
		echo "fuzz.sh: $staged not found: build the toolchain first (src/make.bash)" >&2
		return 1
	}
	local f
	for f in "$overlay"/*.go; do
		cmp -s "$f" "$staged/${f##*/}" || cp "$f" "$staged/" || return 1
	done
	if [[ -d $overlay/testdata ]]; then
		mkdir -p "$staged/testdata" && cp -R "$overlay/testdata/." "$staged/testdata/" || return 1
	fi
}

total=0 crashers=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${run[@]}"; do
	name=${t%%:*}
	dir=${t#*:}
	pkg=${name%%.*}
	fn=${name#*.}
	total=$((total + 1))
	flags=(-run='^$' -fuzz="^$fn\$" -fuzztime="$fuzztime" -parallel=1 -timeout="$timeout")
	echo "=== $pkg $fn (-fuzztime=$fuzztime)"
	overlay= staged=
	if [[ $dir == src/* ]]; then
		overlay=$dir staged=goroot/$dir
		stage || exit 1
		# -fuzz wants a package of the main module: here the cmd module.
		(cd goroot/src/cmd && GOFLAGS= "$go" test "${flags[@]}" "${dir#src/}") >"$log" 2>&1
	else
		GOFLAGS=-buildvcs=false "$go" test "${flags[@]}" "./$dir" >"$log" 2>&1
	fi
	rc=$?

	# The last progress line: "fuzz: elapsed: 10m0s, execs: N (R/sec), new interesting: M (total: K)".
	last=$(grep '^fuzz: elapsed: .*execs: ' "$log" | tail -n 1)
	execs=$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' <<<"$last")
	elapsed=$(sed -n 's/^fuzz: elapsed: \([^,]*\),.*/\1/p' <<<"$last")
	interesting=$(sed -n 's/.*new interesting: \([0-9]*\).*/\1/p' <<<"$last")

	# A crasher: "Failing input written to testdata/fuzz/Name/HASH".
	c=0
	while read -r input; do
		[[ -n $input ]] || continue
		c=$((c + 1))
		if [[ -n $overlay ]]; then
			mkdir -p "$overlay/testdata/fuzz/$fn" &&
				cp "$staged/$input" "$overlay/$input" &&
				echo "crasher: $overlay/$input"
		else
			echo "crasher: $dir/$input"
		fi
	done < <(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' "$log")
	crashers=$((crashers + c))

	if [[ $rc -ne 0 || -z $last ]]; then
		if [[ $c -eq 0 ]]; then
			failed=$((failed + 1))
			echo "fuzz.sh: $pkg $fn failed (exit $rc):" >&2
		fi
		tail -n 40 "$log" >&2
	fi
	echo "$pkg $fn: ${execs:-0} execs, ${elapsed:-0s}, new interesting ${interesting:-0}, crashers $c"
done
echo "$total targets, $crashers crashers, $failed failed"
[[ $crashers -eq 0 && $failed -eq 0 ]]
