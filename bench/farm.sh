#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# farm.sh measures an EMULATED farm of 1 to 32 worker slots on this
# 2-core machine. It is an emulation: no remote CPU runs the compiles.
#
#  1. Recording (once per toolchain and package, kept in
#     ~/.cache/distssa/farm, or $DISTSSA_FARM_DIR): a real cold build
#     with every compile that can go whole forced whole (DISTSSA_KIND=whole)
#     on one real 1-slot distssa-worker pinned to CPU 1, the build pinned
#     to CPU 0. The worker's result cache keeps each compile's outputs and
#     its run time on that core.
#  2. Replays: for each slot count, a distssa-worker in replay mode
#     (-replay=SCALE, bench only, loopback only) serves that store with N
#     slots: it answers a whole compile with the recorded outputs after
#     holding a slot for the recorded run time × SCALE, and runs nothing.
#     Everything else is real and shares the 2 cores: the go command, the
#     agent and its scheduler (free to choose; the hosts line says
#     split=false, since split jobs cannot be replayed), every local
#     compile, cgo, asm and the link, and the worker's serving of results.
#     Each replayed build is cold (empty build cache) and its binary must
#     be byte-identical to the recording's.
#  3. The stock baselines: stock go1.21.6 on CPUs 0–1 (the speedups'
#     denominator, measured every round), and once stock -p=1 on CPU 0 with
#     -debug-trace, whose action times and the package graph (go list)
#     give the bound: stock2 / max(critical path + link, work / (slots +
#     2)), computed by bench/farmbound.
#
# Output: a table (medians over the rounds, interleaved), and in OUTDIR
# (default bench/farm): farm.dat and, with gnuplot, farm.png.
#
# Usage: bench/farm.sh [-n ROUNDS] [-slots "1 2 4 8 16 32"] [-scale S]
#                      [-o OUTDIR] [-record] [PACKAGE]
#        bench/farm.sh -trace N [-o OUTDIR] [PACKAGE]
#
# -record records again even if a recording exists. -trace N makes only
# the N-slot replay, with -debug-trace=OUTDIR/trace-N.json (open it in
# ui.perfetto.dev). PACKAGE defaults to caddy's command, from bench/corpus.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=1
slotlist="1 2 4 8 16 32"
scale=1
outdir=$repo/bench/farm
rerecord=
traceslots=
while [[ $# -gt 0 ]]; do
	case $1 in
	-n) rounds=$2; shift 2 ;;
	-slots) slotlist=$2; shift 2 ;;
	-scale) scale=$2; shift 2 ;;
	-o) outdir=$2; shift 2 ;;
	-record) rerecord=1; shift ;;
	-trace) traceslots=$2; shift 2 ;;
	-*) echo "farm: unknown flag $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
pkg=${1:-github.com/caddyserver/caddy/v2/cmd/caddy}
gobin=$repo/bin/go
[[ -x $gobin ]] || { echo "farm: run src/make.bash first" >&2; exit 2; }
export GOTOOLCHAIN=local
unset GOFLAGS GOROOT DISTSSA_TOKEN DISTSSA_KIND DISTSSA_VERIFY GOMAXPROCS
tooldir=$("$gobin" env GOTOOLDIR)
stockroot=$(cd / && GOTOOLCHAIN=go1.21.6 go env GOROOT)
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

tmp=$(mktemp -d)
wpid=
stopworker() {
	if [[ -n $wpid ]]; then
		kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null || true
		wpid=
	fi
}
cleanup() {
	stopworker
	rm -rf "$tmp"
}
trap cleanup EXIT

# The recording is keyed by the compile binary and the package: another
# toolchain's results would all miss.
key=$( (sha256sum "$tooldir/compile" | cut -c1-64; echo "$pkg"; cat "$repo/bench/corpus/go.sum") | sha256sum | cut -c1-16)
rec=${DISTSSA_FARM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/distssa/farm}/$key
mkdir -p "$rec"

# startworker LOG ARGS...: a worker on an ephemeral loopback port; sets
# wpid and waddr.
startworker() {
	local log=$1
	shift
	"$@" -listen=127.0.0.1:0 -cache="$rec/store" 2>"$log" &
	wpid=$!
	for _ in $(seq 100); do grep -q 'msg=listening' "$log" && break; sleep 0.1; done
	waddr=$(sed -n 's/.*msg=listening addr=\([0-9.:]*\).*/\1/p' "$log" | head -1)
	[[ -n $waddr ]] || { cat "$log" >&2; exit 1; }
}

# build NAME GO CPUS FLAGS...: a cold build of pkg with go pinned to
# CPUS; wall and CPU seconds go to $tmp/NAME.time, its output to
# $tmp/NAME.out, its binary to $tmp/NAME.bin.
build() {
	local name=$1 go=$2 cpus=$3
	shift 3
	rm -rf "$tmp/gocache"
	(
		cd "$repo/bench/corpus"
		export GOCACHE=$tmp/gocache GOFLAGS=-mod=readonly
		/usr/bin/time -f '%e %U %S' -o "$tmp/$name.time" taskset -c "$cpus" "$go" build -v "$@" -o "$tmp/$name.bin" "$pkg"
	) >"$tmp/$name.out" 2>&1 || { tail -30 "$tmp/$name.out" >&2; echo "farm: build $name failed" >&2; exit 1; }
}
secs() { read -r w u s <"$tmp/$1.time"; echo "$w $(echo "$u + $s" | bc)"; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

if [[ -n $rerecord || ! -e $rec/done ]]; then
	echo "farm: recording $pkg in $rec (a real cold build, every compile forced whole onto one 1-slot worker on CPU 1)"
	rm -rf "$rec"/*
	startworker "$rec/worker.log" taskset -c 1 "$tooldir/distssa-worker" -slots=1
	echo "$waddr/1,split=false" >"$tmp/hosts.txt"
	# -p=2 with GOMAXPROCS=2 gives the compiles -c=2, as in the replays
	# on two CPUs: the flags, and so the action keys, are the same.
	GOMAXPROCS=2 DISTSSA_KIND=whole DISTSSA_COSTS=$rec/costs.record build record "$gobin" 0 -p=2 -distssa="$tmp/hosts.txt"
	stopworker
	cp "$tmp/record.bin" "$rec/record.bin"
	grep '^distssa-agent: ' "$tmp/record.out" >"$rec/summary"
	echo "farm: recording: $(secs record | cut -d' ' -f1)s; $(cat "$rec/summary")"
	echo "farm: stock go1.21.6 -p=1 on CPU 0, with -debug-trace, for the bound"
	build stock1 "$stockroot/bin/go" 0 -p=1 -debug-trace="$rec/stock1.json"
	secs stock1 >"$rec/stock1.secs"
	(cd "$repo/bench/corpus" && GOFLAGS=-mod=readonly "$stockroot/bin/go" list -deps -f '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}' "$pkg") >"$rec/deps"
	touch "$rec/done"
fi
echo "farm: recording $rec: $(cat "$rec/summary")"

# replay NAME SLOTS [FLAGS...]: a cold build against a replay worker of
# SLOTS slots, checked against the recording's binary. Its agent starts
# from the cost history that one earlier build learned ($rec/costs), the
# same for every replay.
replay() {
	local name=$1 n=$2
	shift 2
	startworker "$tmp/$name.worker" "$tooldir/distssa-worker" -slots="$n" -replay="$scale"
	echo "$waddr/$n,split=false" >"$tmp/hosts.txt"
	if [[ -e $rec/costs ]]; then cp "$rec/costs" "$tmp/costs"; else rm -f "$tmp/costs"; fi
	DISTSSA_COSTS=$tmp/costs build "$name" "$gobin" 0,1 -distssa="$tmp/hosts.txt" "$@"
	stopworker
	cmp -s "$tmp/$name.bin" "$rec/record.bin" || { echo "farm: $name: binary differs from the recording's" >&2; exit 1; }
}

# Nothing measured, nor the cost history, may pay for a cold disk.
(cd "$repo/bench/corpus" && "$repo/bench/warmsrc.sh" "$gobin" "$pkg" && "$repo/bench/warmsrc.sh" "$stockroot/bin/go" "$pkg")

if [[ ! -e $rec/costs ]]; then
	# The history of one earlier build on this machine: a replay with
	# the most slots, whose local compiles and link it measures here.
	max=$(tr ' ' '\n' <<<"$slotlist" | sort -n | tail -1)
	echo "farm: learning a cost history: one replay with $max slots"
	replay learn "$max"
	cp "$tmp/costs" "$rec/costs"
fi

if [[ -n $traceslots ]]; then
	replay trace "$traceslots" -debug-trace="$outdir/trace-$traceslots.json"
	echo "farm: $(secs trace | cut -d' ' -f1)s; trace in $outdir/trace-$traceslots.json (EMULATED farm of $traceslots slots)"
	grep -A3 '^distssa-agent: ' "$tmp/trace.out"
	exit 0
fi

printf '%-6s %8s %8s %-30s %s\n' slots wall cpu "whole/split/local(fell back)" "slots busy"
for round in $(seq "$rounds"); do
	build stock2 "$stockroot/bin/go" 0,1
	secs stock2 >>"$tmp/stock2.rows"
	printf '%-6s %7.1fs %7.1fs\n' stock2 $(secs stock2)
	for n in $slotlist; do
		replay "r$n" "$n"
		sum=$(grep '^distssa-agent: ' "$tmp/r$n.out" | head -1)
		occ=$(grep '^  slots: ' "$tmp/r$n.out" | head -1 | sed 's/^  slots: //; s/ over .*//')
		kinds=$(sed -n 's/.* \([0-9]*\) whole ([0-9]* from cache), \([0-9]*\) split, \([0-9]*\) local (\([0-9]*\) after.*/\1\/\2\/\3(\4)/p' <<<"$sum")
		echo "$(secs "r$n") $kinds" >>"$tmp/r$n.rows"
		printf '%-6s %7.1fs %7.1fs %-30s %s\n' "$n" $(secs "r$n") "$kinds" "$occ"
	done
done

s2=$(cut -d' ' -f1 "$tmp/stock2.rows" | median)
GOFLAGS=-buildvcs=false "$gobin" build -o "$tmp/farmbound" "$repo/bench/farmbound"
# shellcheck disable=SC2086
"$tmp/farmbound" -trace "$rec/stock1.json" -recorded "$rec/worker.log" -deps "$rec/deps" -main "$pkg" -stock2 "$s2" -local 2 $slotlist >"$tmp/bound" 2>"$tmp/bound.log"
cat "$tmp/bound.log"
{
	echo "# bench/farm.sh, EMULATED farm (replayed compile times), $pkg, $rounds round(s), scale $scale"
	echo "# stock go1.21.6 on CPUs 0-1: ${s2}s (median); stock -p=1 on CPU 0: $(cut -d' ' -f1 "$rec/stock1.secs")s"
	echo "# slots wall speedup bound critical-path-bound"
} >"$outdir/farm.dat"
echo
printf 'EMULATED farm, medians of %d round(s); stock go1.21.6 on CPUs 0-1: %.1fs\n' "$rounds" "$s2"
printf '%-6s %8s %8s %8s %8s\n' slots wall speedup bound "path"
while read -r n b cp; do
	w=$(cut -d' ' -f1 "$tmp/r$n.rows" | median)
	sp=$(echo "$s2 / $w" | bc -l)
	printf '%-6s %7.1fs %7.2fx %7.2fx %7.2fx\n' "$n" "$w" "$sp" "$b" "$cp"
	printf '%s %.2f %.3f %s %s\n' "$n" "$w" "$sp" "$b" "$cp" >>"$outdir/farm.dat"
done <"$tmp/bound"

if command -v gnuplot >/dev/null; then
	gnuplot <<EOT
set terminal pngcairo size 800,500 noenhanced
set output "$outdir/farm.png"
set title "EMULATED farm: cold build of $pkg on 2 local cores"
set xlabel "remote worker slots (emulated: recorded compile times replayed)"
set ylabel "speedup over stock go1.21.6 on the same 2 cores"
set logscale x 2
set xtics (1, 2, 4, 8, 16, 32)
set key right bottom
set yrange [0:*]
set grid
plot "$outdir/farm.dat" using 1:3 with linespoints lw 2 pt 7 title "distssa (emulated farm)", \
     "$outdir/farm.dat" using 1:4 with lines dt 2 lw 2 title "bound: critical path + link, work / (slots + 2)", \
     1 with lines lc rgb "gray" title "stock"
EOT
	echo "farm: plot in $outdir/farm.png"
else
	echo "farm: no gnuplot; the figures are in $outdir/farm.dat"
fi
