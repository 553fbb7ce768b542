#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# compilebench.sh measures single-package compiles with the Go team's
# compiler benchmark, golang.org/x/tools/cmd/compilebench, and compares
# them with golang.org/x/perf/cmd/benchstat. Each mode is one compile of
# one package, timed by compilebench as it times any compiler:
#
#   stock   stock go1.21.6's compile, -c=1, pinned to CPU 0 (taskset -c 0),
#           importing stock's export data (compilebench -go stock's go)
#   split   distssa's compile -c=1 -distssa=exec:1 pinned to CPU 0, its
#           worker process pinned to CPU 1 (DISTSSA_WORKER_CPUS=1), as
#           bench/splitbench does
#   whole   distssa's compile -c=1 -distssa=unix:SOCK pinned to CPU 0,
#           talking to a distssa-agent started here (CPU 0, one local
#           token, DISTSSA_KIND=whole) whose hosts file names one
#           distssa-worker with one slot on 127.0.0.1, pinned to CPU 1
#   remote  distssa's compile -c=1 -distssa=unix:SOCK pinned to CPU 0,
#           split through a second agent (DISTSSA_KIND=split) over the
#           same worker: the split as a build runs it, its result
#           streamed through the worker daemon and the agent
#   fork    (only when asked for with -modes) distssa's compile -c=1
#           without -distssa, pinned to CPU 0: the fork against stock
#
# The distssa modes import the fork's export data (compilebench -go
# bin/go), as a build with the fork would. In every mode compilebench
# runs the compile through bench/compilebench-importcfg.sh, which
# completes compilebench's import config as the go command writes it
# (importmap lines for vendored packages, so that net/http compiles; an
# empty config for a package without imports, which a worker requires)
# and execs the compile.
#
# compilebench reports wall time (ns/op) and the user time of the compile
# and its reaped children (user-ns/op), which for split includes its
# worker process. For whole the compile runs on the worker, which is not
# the compile's child (its user-ns/op is the client's, a few ms): this
# script adds all-user-ns/op to every line, the user time of every
# process of the mode (stock and split: user-ns/op; whole and remote:
# the client compile's plus its agent's and the worker daemon's with its
# compiles, from /proc/PID/stat, 10 ms ticks).
#
# whole is measured with the worker's blob store warm (an untimed
# warm-up round uploads the inputs) and its result cache emptied before
# every compile (the store's actions/ directory: the worker reads its
# records from disk), so every timed whole compile really compiles. The
# worker is on loopback, with no link shaping (bench/remotebench.sh
# shapes the link for whole builds). The script checks the agent's
# summary at the end: no whole compile answered from the cache, none
# local.
#
# Rounds are interleaved (each round runs every package in every mode, one
# compilebench run per package and mode, -count 1) so that a slow spell
# of this shared machine does not land on one mode only. Then benchstat
# tables of each mode against stock and, per package, the ratios of the
# medians: wall and all-user time against stock -c=1 (the goal for split
# with one worker: wall ≤ 0.70 on the large packages,
# cmd/compile/internal/ssa, net/http, go/types).
#
# Usage: bench/compilebench.sh [-n ROUNDS] [-modes stock,split,whole,remote] [-o DIR] [BENCH...]
#
# BENCH is a compilebench benchmark name (BenchmarkGoTypes, -run
# '^NAME$') or an import path (compilebench -pkg PATH, reported as
# BenchmarkPkg/PATH; its link benchmark is dropped). Default: 10 rounds;
# compilebench's compile benchmarks but BenchmarkReflect, and net/http.
# (compilebench compiles in the package's source directory and, for a
# package with assembly, writes go_asm.h and symabis there: in the fork's
# goroot/src/reflect that would change reflect's build-cache key for
# every build on the machine while it runs.) DIR (default a new
# /tmp/compilebench-*) keeps each mode's raw results, MODE.txt, and the
# agent's and worker's logs.
#
# compilebench and benchstat are pinned (versions below, the newest that
# the module proxy lists and go1.21.6 builds) and installed with go1.21.6
# into ${XDG_CACHE_HOME:-~/.cache}/distssa/bench/bin, outside the module.
#
# A full run takes 20 to 25 minutes on the 2-core development machine
# (most of it cmd/compile/internal/ssa, about 15 s a compile); run it when
# the machine is quiet.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

compilebenchV=v0.24.0                         # golang.org/x/tools, go 1.19; v0.25.0 needs go 1.22
benchstatV=v0.0.0-20230113213139-801c7ef9e5c5 # golang.org/x/perf, go 1.15; the proxy's next (2025-08) needs go 1.24
defaultBenches=(BenchmarkTemplate BenchmarkUnicode BenchmarkGoTypes BenchmarkCompiler BenchmarkSSA
	BenchmarkFlate BenchmarkGoParser BenchmarkTar BenchmarkXML net/http)
large='^(BenchmarkSSA|BenchmarkGoTypes|BenchmarkPkg/net/http)$'

rounds=10
modes=stock,split,whole
out=
while [[ $# -gt 0 ]]; do
	case $1 in
	-n) rounds=$2; shift 2 ;;
	-modes) modes=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-*) echo "compilebench.sh: unknown flag $1 (usage: bench/compilebench.sh [-n ROUNDS] [-modes stock,split,whole] [-o DIR] [BENCH...])" >&2; exit 2 ;;
	*) break ;;
	esac
done
benches=("$@")
[[ ${#benches[@]} -gt 0 ]] || benches=("${defaultBenches[@]}")
IFS=, read -r -a modelist <<<"$modes"
for m in "${modelist[@]}"; do
	case $m in
	stock | split | whole | remote | fork) ;;
	*) echo "compilebench.sh: -modes: unknown mode $m (want stock, split, whole, remote or fork)" >&2; exit 2 ;;
	esac
done
[[ ${modelist[0]} == stock ]] || { echo "compilebench.sh: -modes: the first mode must be stock, the base of the comparison" >&2; exit 2; }

forkgo=$repo/bin/go
tooldir=$repo/goroot/pkg/tool/linux_amd64
[[ -x $forkgo && -x $tooldir/compile ]] || { echo "compilebench.sh: no $forkgo or $tooldir/compile: run src/make.bash first" >&2; exit 2; }
unset GOFLAGS GOROOT DISTSSA_TOKEN DISTSSA_KIND DISTSSA_VERIFY DISTSSA_STRICT DISTSSA_WORKER_CPUS
stockroot=$(cd / && GOTOOLCHAIN=go1.21.6 go env GOROOT)
export GOTOOLCHAIN=local

# The pinned tools, installed once.
bin=${XDG_CACHE_HOME:-$HOME/.cache}/distssa/bench/bin
pin() { # pin BINARY MODULE VERSION PACKAGE
	if ! go version -m "$bin/$1" 2>/dev/null | grep -q "^[[:space:]]mod[[:space:]]$2[[:space:]]$3[[:space:]]"; then
		echo "compilebench.sh: installing $4@$3 into $bin" >&2
		(cd / && GOTOOLCHAIN=go1.21.6 GOFLAGS= GOBIN=$bin go install "$4@$3")
	fi
}
mkdir -p "$bin"
pin compilebench golang.org/x/tools "$compilebenchV" golang.org/x/tools/cmd/compilebench
pin benchstat golang.org/x/perf "$benchstatV" golang.org/x/perf/cmd/benchstat

[[ -n $out ]] || out=$(mktemp -d /tmp/compilebench-XXXXXX)
mkdir -p "$out"
tmp=$(mktemp -d)
wpid=
apid=
spid=
cleanup() {
	exec 3>&- 4>&- 2>/dev/null || true
	[[ -n $apid ]] && kill "$apid" 2>/dev/null && wait "$apid" 2>/dev/null || true
	[[ -n $spid ]] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
	[[ -n $wpid ]] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
for m in "${modelist[@]}"; do : >"$out/$m.txt"; done
echo '# import config' >"$tmp/empty.importcfg"

# The worker of the whole and remote modes, and an agent for each, for
# the whole run. startagent KIND SOCKET FD: an agent forcing KIND on
# SOCKET, pinned to CPU 0, that runs until descriptor FD closes; its
# pid in agentpid, its log in $out/KIND-agent.log.
startagent() {
	mkfifo "$tmp/$1.in"
	# Not the other agent's input: it would never see its end.
	DISTSSA_KIND=$1 DISTSSA_COSTS=off taskset -c 0 "$tooldir/distssa-agent" -hosts="$tmp/hosts.txt" -socket="$2" -local=1 -v \
		<"$tmp/$1.in" >"$tmp/$1.out" 2>"$out/$1-agent.log" 3>&- 4>&- &
	agentpid=$!
	eval "exec $3>\"\$tmp/\$1.in\""
	for _ in $(seq 100); do grep -q '^ready' "$tmp/$1.out" && break; sleep 0.1; done
	grep -q '^ready' "$tmp/$1.out" || { cat "$out/$1-agent.log" >&2; echo "compilebench.sh: distssa-agent did not start" >&2; exit 1; }
}
if [[ ,$modes, == *,whole,* || ,$modes, == *,remote,* ]]; then
	taskset -c 1 "$tooldir/distssa-worker" -listen=127.0.0.1:0 -slots=1 -cache="$tmp/worker" 2>"$out/worker.log" &
	wpid=$!
	for _ in $(seq 100); do grep -q 'msg=listening' "$out/worker.log" && break; sleep 0.1; done
	waddr=$(sed -n 's/.*msg=listening addr=\([^ ]*\).*/\1/p' "$out/worker.log")
	[[ -n $waddr ]] || { cat "$out/worker.log" >&2; echo "compilebench.sh: distssa-worker did not start" >&2; exit 1; }
	echo "$waddr/1" >"$tmp/hosts.txt"
fi
if [[ ,$modes, == *,whole,* ]]; then
	startagent whole "$tmp/agent.sock" 3
	apid=$agentpid
fi
if [[ ,$modes, == *,remote,* ]]; then
	startagent split "$tmp/split.sock" 4
	spid=$agentpid
fi

# usert PID: user time of PID and its reaped children, in clock ticks.
usert() { awk '{print $14 + $16}' "/proc/$1/stat"; }
tick=$((1000000000 / $(getconf CLK_TCK)))

# bench MODE BENCH: one compilebench run of one package in one mode;
# prints its benchmark line with all-user-ns/op added.
bench() {
	local mode=$1 b=$2 goCmd=$forkgo flags=-c=1 env=() sel
	case $mode in
	stock) goCmd=$stockroot/bin/go ;;
	split) flags="-c=1 -distssa=exec:1" env=(DISTSSA_WORKER_CPUS=1) ;;
	whole) flags="-c=1 -distssa=unix:$tmp/agent.sock"
		rm -rf "$tmp/worker/store/actions"/* ;;
	remote) flags="-c=1 -distssa=unix:$tmp/split.sock" ;;
	esac
	if [[ $b == Benchmark* ]]; then sel=(-run "^$b\$"); else sel=(-pkg "$b"); fi
	env+=(COMPILEBENCH_COMPILE="$("$goCmd" tool -n compile)" COMPILEBENCH_EMPTYCFG="$tmp/empty.importcfg")
	local a0=0 w0=0 a1=0 w1=0
	if [[ $mode == whole ]]; then a0=$(usert "$apid") w0=$(usert "$wpid"); fi
	if [[ $mode == remote ]]; then a0=$(usert "$spid") w0=$(usert "$wpid"); fi
	(cd "$tmp" && env "${env[@]}" taskset -c 0 "$bin/compilebench" -go "$goCmd" -compile "$repo/bench/compilebench-importcfg.sh" \
		-compileflags "$flags" "${sel[@]}" -count 1) >"$tmp/line" 2>"$tmp/err" || true
	if [[ $mode == whole ]]; then a1=$(usert "$apid") w1=$(usert "$wpid"); fi
	if [[ $mode == remote ]]; then a1=$(usert "$spid") w1=$(usert "$wpid"); fi
	local line
	if [[ $b == Benchmark* ]]; then
		line=$(grep "^$b 1 " "$tmp/line" || true)
	else
		line=$(grep '^BenchmarkPkg 1 ' "$tmp/line" | sed "s|^BenchmarkPkg |BenchmarkPkg/$b |" || true)
	fi
	if [[ -z $line ]]; then
		echo "compilebench.sh: $mode $b: no result" >&2
		cat "$tmp/line" "$tmp/err" >&2
		exit 1
	fi
	awk -v extra=$(((a1 - a0 + w1 - w0) * tick)) '{
		for (i = 3; i < NF; i++) if ($(i+1) == "user-ns/op") u = $i
		printf "%s %.0f all-user-ns/op\n", $0, u + extra
	}' <<<"$line"
}

echo "compilebench.sh: $rounds rounds of ${benches[*]}; modes $modes; results in $out" >&2
echo "compilebench.sh: compilebench $compilebenchV, benchstat $benchstatV, stock $stockroot" >&2
for round in $(seq 0 "$rounds"); do # round 0 warms up: page cache, export data, the worker's store
	for b in "${benches[@]}"; do
		for m in "${modelist[@]}"; do
			l=$(bench "$m" "$b")
			if [[ $round -gt 0 ]]; then
				echo "$l" >>"$out/$m.txt"
				echo "round $round $m $l" >&2
			fi
		done
	done
done

# endagent KIND FD PID PATTERN WHAT: ends the agent forcing KIND (its
# input FD closes) and checks that its summary matches PATTERN, or says
# that the mode's compiles were not all WHAT.
endagent() {
	eval "exec $2>&-"
	wait "$3" || true
	local sum
	sum=$(grep '^distssa-agent: ' "$out/$1-agent.log" | head -1)
	echo "$sum" >&2
	if ! grep -q "$4" <<<"$sum"; then
		echo "compilebench.sh: the $1 agent's compiles were not all $5 (see $out/$1-agent.log)" >&2
		exit 1
	fi
}
if [[ -n $apid ]]; then
	p=$apid apid=
	endagent whole 3 "$p" ' whole (0 from cache), 0 split, 0 local' "compiled whole on the worker"
fi
if [[ -n $spid ]]; then
	p=$spid spid=
	endagent split 4 "$p" ' 0 whole (0 from cache), [0-9]* split, 0 local' split
fi

# benchstat reads seconds: this version leaves a value of 0 ns untidied, a
# unit of its own (the whole mode's client can take 0 ns of user time).
args=()
for m in "${modelist[@]}"; do
	awk '{
		for (i = 3; i < NF; i++) if ($(i+1) ~ /ns\/op$/) { $i = sprintf("%.9f", $i / 1e9); sub(/ns\/op$/, "sec/op", $(i+1)) }
		print
	}' "$out/$m.txt" >"$tmp/$m"
	args+=("$m=$tmp/$m")
done
echo
"$bin/benchstat" "${args[@]}" | tee "$out/benchstat.txt"

# Ratios of the medians against stock, per package.
echo
printf '%-34s' "ratio of medians to stock" | tee "$out/ratios.txt"
for m in "${modelist[@]:1}"; do printf ' %12s %16s' "$m wall" "$m all-user" | tee -a "$out/ratios.txt"; done
echo | tee -a "$out/ratios.txt"
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
metric() { # metric FILE NAME UNIT
	awk -v n="$2" -v u="$3" '$1 == n { for (i = 3; i < NF; i++) if ($(i+1) == u) print $i }' "$1" | median
}
for b in $(awk '{print $1}' "$out/stock.txt" | awk '!seen[$0]++'); do
	sw=$(metric "$out/stock.txt" "$b" ns/op) su=$(metric "$out/stock.txt" "$b" all-user-ns/op)
	goal=
	printf '%-34s' "$b" | tee -a "$out/ratios.txt"
	for m in "${modelist[@]:1}"; do
		r=$(awk -v a="$(metric "$out/$m.txt" "$b" ns/op)" -v s="$sw" 'BEGIN {printf "%.2f", a / s}')
		printf ' %12s %16s' "$r" "$(awk -v a="$(metric "$out/$m.txt" "$b" all-user-ns/op)" -v s="$su" 'BEGIN {printf "%.2f", a / s}')" | tee -a "$out/ratios.txt"
		if [[ $m == split && $b =~ $large ]]; then
			goal=$(awk -v r="$r" 'BEGIN {print (r <= 0.70) ? "  split goal (≤ 0.70) met" : "  split goal (≤ 0.70) not met"}')
		fi
	done
	echo "$goal" | tee -a "$out/ratios.txt"
done
echo "compilebench.sh: results in $out" >&2
