#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# faults.sh is distssa's fault campaign: builds through workers that
# fail in every way we know of must succeed, byte-identical to a local
# build.
#
# Two workers listen on loopback, each in its own mount namespace with
# its cache on a small tmpfs, each behind scripts/cmd/distssa-faultproxy,
# which cuts, truncates, stalls or flips a bit of a fraction of the
# connections (agent → worker and back). Meanwhile a chaos loop, every
# seconds, does one of:
#   kill    kill -9 a worker, and start it again on its address
#   corrupt overwrite a byte in the middle of a stored blob or action record
#   full    fill the worker's disk for a few seconds
# Each round builds go-redis's test binary (and with -full, caddy) with a
# fresh build cache and free placement, and compares it with a local
# build. The summary line is
#   faults N, builds ok N, wrong objects N, extra wall time S (X per fault)
# where the extra wall time is the rounds' total past that of one clean
# round through the same workers. With -noclean there is no clean round,
# so the first round finds the workers' caches empty, and the extra wall
# time is not measured.
#
# The local build compiles only what DISTSSA_LOCAL_GOCACHE lacks, when
# that names a build cache that holds a local build's objects already
# (scripts/test.sh passes the one of its identity step).
#
# Usage: scripts/faults.sh [-rounds N] [-full] [-noclean] [-seed N]
# Full-disk faults need root (a tmpfs per worker in its own mount
# namespace); without root the other faults run.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=4 full=0 noclean=0 seed=$RANDOM
while [[ $# -gt 0 ]]; do
	case $1 in
	-rounds) rounds=$2; shift ;;
	-full) full=1 ;;
	-noclean) noclean=1 ;;
	-seed) seed=$2; shift ;;
	*) echo "usage: scripts/faults.sh [-rounds N] [-full] [-noclean] [-seed N]" >&2; exit 2 ;;
	esac
	shift
done
gobin=$repo/bin/go
[[ -x $gobin ]] || { echo "faults: no $gobin; run src/make.bash first" >&2; exit 2; }
# Full disks need a tmpfs per worker, in a mount namespace: root only.
ns=0
if [[ $(id -u) == 0 ]] && unshare -m true 2>/dev/null; then
	ns=1
else
	echo "faults: not root (or no mount namespaces): no full-disk faults"
fi
export GOTOOLCHAIN=local
unset GOROOT GOBIN GOOS GOARCH GOEXPERIMENT GOAMD64 GOFLAGS DISTSSA_TOKEN DISTSSA_STRICT DISTSSA_KIND
tooldir=$("$gobin" env GOTOOLDIR)
tmp=$(mktemp -d)
# The agents' cost history: this run's own, not the user's.
export DISTSSA_COSTS=$tmp/costs
pids=()
cleanup() {
	exec 2>/dev/null # no job notices for the daemons killed below
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	pkill -9 -f -- "-cache=$tmp/" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
RANDOM=$seed
echo "faults: seed $seed, $rounds rounds$([[ $full == 1 ]] && echo ", caddy too")"

(cd "$repo" && GOFLAGS=-buildvcs=false "$gobin" build -o "$tmp/faultproxy" ./scripts/cmd/distssa-faultproxy)
(umask 077; head -c 32 /dev/urandom | base64 >"$tmp/token")

# gocache NAME is the build cache of round NAME.
gocache() {
	if [[ $1 == ref && -n ${DISTSSA_LOCAL_GOCACHE:-} ]]; then
		echo "$DISTSSA_LOCAL_GOCACHE"
	else
		echo "$tmp/cache-$1"
	fi
}
# build NAME HOSTS: the round's outputs in $tmp/NAME, its log in NAME.out.
build() {
	local name=$1 hosts=$2
	local flags=-mod=readonly
	[[ -n $hosts ]] && flags+=" -distssa=$hosts"
	mkdir -p "$tmp/$name"
	(
		cd "$repo/bench/corpus"
		export GOCACHE=$(gocache "$name") GOFLAGS=$flags
		if [[ $full == 1 ]]; then
			timeout 1200 "$gobin" build -v -o "$tmp/$name/caddy" github.com/caddyserver/caddy/v2/cmd/caddy
		fi
		timeout 600 "$gobin" build -v github.com/redis/go-redis/v9 &&
			timeout 600 "$gobin" test -c -o "$tmp/$name/redis.test" github.com/redis/go-redis/v9
	) >"$tmp/$name.out" 2>&1
}

# exports NAME lists "importpath archive" for every package of round
# NAME's build, from its build cache (go list -export finds them there).
exports() {
	(
		cd "$repo/bench/corpus"
		export GOCACHE=$(gocache "$1") GOFLAGS=-mod=readonly
		pkgs=github.com/redis/go-redis/v9
		[[ $full == 1 ]] && pkgs+=" github.com/caddyserver/caddy/v2/cmd/caddy"
		# shellcheck disable=SC2086
		"$gobin" list -export -deps -test -f '{{.ImportPath}} {{.Export}}' $pkgs
	) | sort
}

# differing NAME prints the packages whose archives differ from the
# reference build's.
differing() {
	join <(exports ref) <(exports "$1") | while read -r p a b; do
		cmp -s "$a" "$b" || echo "$p"
	done
}

# worker NAME [ADDR] starts (or restarts) a worker in its own mount
# namespace, its cache dir on a 256 MiB tmpfs, on ADDR (default: any
# loopback port); it sets pid_NAME and addr_NAME, or returns 1.
worker() {
	local name=$1 listen=${2:-127.0.0.1:0}
	local dir=$tmp/w-$name log=$tmp/w-$name.log
	mkdir -p "$dir"
	: >"$log"
	local wrap=(unshare -m --propagation private sh -c 'mount -t tmpfs -o size=256m tmpfs "$1" && shift && exec "$@"' sh "$dir")
	[[ $ns == 1 ]] || wrap=()
	"${wrap[@]}" "$tooldir/distssa-worker" -listen="$listen" -slots=2 -cache="$dir" -cache-size=1073741824 \
		-token-file="$tmp/token" 2>>"$log" &
	local pid=$!
	pids+=("$pid")
	eval "pid_$name=$pid"
	local a=
	for _ in $(seq 100); do
		a=$(sed -n 's/.*msg=listening addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$log" | head -1)
		[[ -n $a ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[[ -n $a ]] || { echo "faults: worker $name did not start:"; cat "$log"; return 1; }
	eval "addr_$name=$a"
}

# restart NAME kills worker NAME with SIGKILL and starts it again on its
# address, once the old process is gone and the port is free.
restart() {
	local name=$1 pid addr
	pid=$(eval echo "\$pid_$name")
	addr=$(eval echo "\$addr_$name")
	kill -9 "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	for _ in $(seq 20); do
		worker "$name" "$addr" >/dev/null && return 0
		sleep 0.5
	done
	echo "faults: worker $name did not start again on $addr:"
	cat "$tmp/w-$name.log"
	return 1
}

# proxy NAME: a fault proxy in front of worker NAME; sets paddr_NAME.
proxy() {
	local name=$1 to
	to=$(eval echo "\$addr_$name")
	: >"$tmp/p-$name.addr"
	"$tmp/faultproxy" -to="$to" -rate="${RATE:-0.6}" -kinds="${KINDS:-cut,trunc,stall,flip}" -stall=20s -seed="$RANDOM" \
		>"$tmp/p-$name.addr" 2>>"$tmp/faults.log" &
	pids+=($!)
	local a=
	for _ in $(seq 50); do
		a=$(sed -n 's/^listening //p' "$tmp/p-$name.addr")
		[[ -n $a ]] && break
		sleep 0.1
	done
	[[ -n $a ]] || { echo "faults: proxy for $name did not start"; exit 1; }
	eval "paddr_$name=$a"
}

# chaos runs one fault on a random worker every 1 to 4 seconds, logging
# a line per fault to faults.log, until its stop file appears.
chaos() {
	local w pid dir enter
	while [[ ! -e $tmp/stop ]]; do
		sleep $((1 + RANDOM % 4))
		[[ -e $tmp/stop ]] && break
		w=$([[ $((RANDOM % 2)) == 0 ]] && echo a || echo b)
		pid=$(eval echo "\$pid_$w")
		dir=$tmp/w-$w
		enter=(nsenter -t "$pid" -m --)
		[[ $ns == 1 ]] || enter=()
		case $((RANDOM % (3 + ns))) in
		0)
			restart "$w" || break
			echo "fault kill worker=$w" >>"$tmp/faults.log"
			;;
		1 | 2)
			# A byte in the middle of a stored file, through the worker's
			# mount namespace (its tmpfs is visible only there).
			if "${enter[@]}" sh -c '
				f=$(find "$1/store/blobs" "$1/store/actions" -type f 2>/dev/null | shuf -n 1)
				[ -n "$f" ] || exit 1
				n=$(stat -c %s "$f"); [ "$n" -gt 0 ] || exit 1
				printf "\\252" | dd of="$f" bs=1 seek=$((n / 2)) conv=notrunc 2>/dev/null' sh "$dir"; then
				echo "fault corrupt worker=$w" >>"$tmp/faults.log"
			fi
			;;
		3)
			if "${enter[@]}" sh -c '
				dd if=/dev/zero of="$1/fill" bs=1M 2>/dev/null
				sleep 3
				rm -f "$1/fill"' sh "$dir"; then
				echo "fault full worker=$w" >>"$tmp/faults.log"
			fi
			;;
		esac
	done
}

echo "faults: local reference build"
build ref "" || { tail -20 "$tmp/ref.out"; exit 1; }

worker a || exit 1
worker b || exit 1
proxy a
proxy b
printf '%s/2,token=%s\n%s/2,token=%s\n' "$paddr_a" "$tmp/token" "$paddr_b" "$tmp/token" >"$tmp/hosts.txt"
printf '%s/2,token=%s\n%s/2,token=%s\n' "$addr_a" "$tmp/token" "$addr_b" "$tmp/token" >"$tmp/hosts-clean.txt"

# One clean round through the same workers, for the extra wall time.
clean=
if [[ $noclean == 0 ]]; then
	t0=$SECONDS
	build clean "$tmp/hosts-clean.txt" || { tail -20 "$tmp/clean.out"; exit 1; }
	clean=$((SECONDS - t0))
	rm -rf "$tmp/cache-clean"
fi
: >"$tmp/faults.log"

chaos &
chaospid=$!
ok=0 wrong=0 failed=0 spent=0
for r in $(seq "$rounds"); do
	t0=$SECONDS
	if build "r$r" "$tmp/hosts.txt"; then
		bad=0
		for f in "$tmp/ref"/*; do
			if ! cmp -s "$f" "$tmp/r$r/${f##*/}"; then
				echo "faults: round $r: ${f##*/} differs from the local build"
				bad=1
			fi
		done
		if [[ $bad == 0 ]]; then
			ok=$((ok + 1))
		else
			d=$(differing "r$r")
			echo "faults: round $r: packages that differ: ${d:-none (the link differs)}"
			wrong=$((wrong + $(grep -c . <<<"$d" || echo 1)))
		fi
	else
		echo "faults: round $r: the build failed:"
		tail -15 "$tmp/r$r.out"
		failed=$((failed + 1))
	fi
	spent=$((spent + SECONDS - t0))
	rm -rf "$tmp/cache-r$r"
	echo "faults: round $r: $((SECONDS - t0))s, $(wc -l <"$tmp/faults.log") faults so far; $(grep -m1 '^distssa-agent: ' "$tmp/r$r.out" || true)"
done
touch "$tmp/stop"
wait "$chaospid" 2>/dev/null || true

nfaults=$(wc -l <"$tmp/faults.log")
echo "faults: by kind: $(awk '{print $2}' "$tmp/faults.log" | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')${clean:+clean round ${clean}s}"
if [[ -n $clean ]]; then
	extra=$((spent - rounds * clean))
	per=$(awk -v e="$extra" -v n="$nfaults" 'BEGIN { if (n > 0) printf "%.2fs", e / n; else print "-" }')
	extra="${extra}s ($per per fault)"
else
	extra="not measured (-noclean; the rounds took ${spent}s)"
fi
echo "faults $nfaults, builds ok $ok, wrong objects $wrong, failed builds $failed, extra wall time $extra"
if [[ $wrong -gt 0 || $failed -gt 0 || $ok != "$rounds" ]]; then
	exit 1
fi
