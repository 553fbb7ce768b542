#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# remotebench.sh measures remote workers on one 2-core machine: the build
# (the go command and its compiles) pinned to CPU 0, one distssa-worker
# (1 slot) pinned to CPU 1 in a network namespace of its own, reached over
# a veth pair with netem delay 0.2 ms and rate 1 Gbit each way. Where the
# kernel has no sch_netem, tc tbf shapes the rate and bench/delayrelay, in
# the worker's namespace on CPU 1, adds the delay; the first line says
# which. It compares cold builds (fresh build cache) against stock
# go1.21.6:
#
#   stock   stock go1.21.6 pinned to CPU 0 (so -p is 1), fresh cache
#   stock2  stock go1.21.6 on CPUs 0 and 1 (-p 2), fresh cache
#   cold    distssa with -distssa=hosts.txt pinned to CPU 0, fresh build
#           cache, a new worker with an empty store
#   warm    the same again: fresh build cache, the worker's store warm
#           (its inputs and its result cache: whole compiles are hits)
#
# and prints wall time, CPU time of the build (user+system of the go
# command and its children; the worker's and the relay's CPU are reported
# apart), bytes sent and received (from the agent's summary), and the
# compiles by placement: whole (of which answered from the worker's
# result cache), split, local. Needs root (ip netns, tc) and iproute2.
#
# Usage: bench/remotebench.sh [-n ROUNDS] [PACKAGE...]   (default: 1 round;
#        go-redis and cmd/caddy, from bench/corpus)
#
# $REMOTEBENCH_FLAGS, if set, adds go command flags to the distssa builds
# (for example -p=2).
#
# The agents' cost history is one file for the whole run, empty at its
# start: the first cold build estimates from source sizes, the later
# builds from what the earlier ones measured (a team's builds have such
# a history; its first build on a machine does not).
#
# Each round runs stock, cold and warm back to back, with a new worker
# (empty store) for the cold build; a row per build, then the medians over
# the rounds and their ratios (this machine is noisy: interleaving keeps a
# slow spell from landing on one side only).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=1
if [[ ${1:-} == -n ]]; then
	rounds=$2
	shift 2
fi
pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(github.com/redis/go-redis/v9 github.com/caddyserver/caddy/v2/cmd/caddy)
gobin=$repo/bin/go
[[ -x $gobin ]] || { echo "remotebench: run src/make.bash first" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "remotebench: needs root for ip netns and tc" >&2; exit 2; }
export GOTOOLCHAIN=local
unset GOFLAGS GOROOT DISTSSA_TOKEN
tooldir=$("$gobin" env GOTOOLDIR)
stockroot=$(cd / && GOTOOLCHAIN=go1.21.6 go env GOROOT)

tmp=$(mktemp -d)
ns=dssa$$
vc=dsc$$
vw=dsw$$
wpid=
rpid=
cleanup() {
	[[ -n $wpid ]] && kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null || true
	[[ -n $rpid ]] && kill "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null || true
	ip link del "$vc" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip link add "$vc" type veth peer name "$vw"
ip link set "$vw" netns "$ns"
ip addr add 10.231.0.1/30 dev "$vc"
ip link set "$vc" up
ip netns exec "$ns" ip addr add 10.231.0.2/30 dev "$vw"
ip netns exec "$ns" ip link set "$vw" up
ip netns exec "$ns" ip link set lo up
shaping="netem delay 0.2 ms, rate 1 Gbit, each way"
relay=
if ! tc qdisc add dev "$vc" root netem delay 0.2ms rate 1gbit 2>/dev/null ||
	! ip netns exec "$ns" tc qdisc add dev "$vw" root netem delay 0.2ms rate 1gbit 2>/dev/null; then
	# No sch_netem in this kernel: shape the rate with tbf (in the kernel)
	# and add the latency with bench/delayrelay in the worker's namespace.
	tc qdisc del dev "$vc" root 2>/dev/null || true
	tc qdisc add dev "$vc" root tbf rate 1gbit burst 256kb latency 10ms
	ip netns exec "$ns" tc qdisc add dev "$vw" root tbf rate 1gbit burst 256kb latency 10ms
	(cd "$repo" && GOFLAGS=-buildvcs=false "$gobin" build -o "$tmp/delayrelay" ./bench/delayrelay)
	relay=1
	shaping="no sch_netem in this kernel: tc tbf rate 1 Gbit each way, delay 0.2 ms each way by bench/delayrelay (on CPU 1)"
fi
echo "remotebench: worker on CPU 1 in netns $ns, build on CPU 0; link: $shaping"

(umask 077; head -c 32 /dev/urandom | base64 >"$tmp/token")
# startworker DIR: a new worker with an empty store in DIR.
startworker() {
	if [[ -n $wpid ]]; then
		kill "$wpid" 2>/dev/null && wait "$wpid" 2>/dev/null || true
	fi
	ip netns exec "$ns" taskset -c 1 "$tooldir/distssa-worker" -listen=10.231.0.2:7070 -slots=1 \
		-token-file="$tmp/token" -cache="$1" 2>"$tmp/worker.log" &
	wpid=$!
	for _ in $(seq 50); do grep -q 'msg=listening' "$tmp/worker.log" && break; sleep 0.1; done
	grep -q 'msg=listening' "$tmp/worker.log" || { cat "$tmp/worker.log"; exit 1; }
}
waddr=10.231.0.2:7070
if [[ -n $relay ]]; then
	ip netns exec "$ns" taskset -c 1 "$tmp/delayrelay" -listen=10.231.0.2:7071 -to=10.231.0.2:7070 -delay=200us 2>"$tmp/relay.log" &
	rpid=$!
	for _ in $(seq 50); do grep -q 'delayrelay: ' "$tmp/relay.log" && break; sleep 0.1; done
	waddr=10.231.0.2:7071
fi
echo "$waddr/1,token=$tmp/token" >"$tmp/hosts.txt"

# run NAME GO FLAGS PKG [CPUS]: one build pinned to CPUS (default 0) with
# a fresh cache; prints wall and CPU seconds.
run() {
	local name=$1 go=$2 flags=$3 pkg=$4 cpus=${5:-0}
	local out=$tmp/$name.out
	(
		cd "$repo/bench/corpus"
		export GOCACHE=$tmp/cache-$name GOFLAGS="-mod=readonly $flags" DISTSSA_COSTS=$tmp/costs
		/usr/bin/time -f '%e %U %S' -o "$tmp/$name.time" taskset -c "$cpus" "$go" build -v -o "$tmp/$name.bin" "$pkg"
	) >"$out" 2>&1 || { cat "$out"; exit 1; }
	rm -rf "$tmp/cache-$name"
}
workercpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$wpid/stat"; } # itself and its reaped compiles
relaycpu() { if [[ -n $rpid ]]; then awk '{print $14 + $15}' "/proc/$rpid/stat"; else echo 0; fi; }

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

printf '%-44s %6s %8s %8s %11s %11s %-26s %s\n' package build wall cpu sent recv "whole(hits)/split/local" "worker/relay CPU"
for pkg in "${pkgs[@]}"; do
	rm -f "$tmp"/*.rows
	# Nothing measured may pay for a cold disk.
	(cd "$repo/bench/corpus" && "$repo/bench/warmsrc.sh" "$gobin" "$pkg" && "$repo/bench/warmsrc.sh" "$stockroot/bin/go" "$pkg")
	for round in $(seq "$rounds"); do
		run stock "$stockroot/bin/go" "" "$pkg"
		read -r sw su ss <"$tmp/stock.time"
		echo "$sw $(echo "$su + $ss" | bc)" >>"$tmp/stock.rows"
		printf '%-44s %6s %7.1fs %7.1fs\n' "$pkg" stock "$sw" "$(echo "$su + $ss" | bc)"
		run stock2 "$stockroot/bin/go" "" "$pkg" "0,1"
		read -r sw su ss <"$tmp/stock2.time"
		echo "$sw $(echo "$su + $ss" | bc)" >>"$tmp/stock2.rows"
		printf '%-44s %6s %7.1fs %7.1fs\n' "$pkg" stock2 "$sw" "$(echo "$su + $ss" | bc)"
		startworker "$tmp/worker-$round"
		for mode in cold warm; do
			w0=$(workercpu) r0=$(relaycpu)
			run "$mode" "$gobin" "-distssa=$tmp/hosts.txt ${REMOTEBENCH_FLAGS:-}" "$pkg"
			w1=$(workercpu) r1=$(relaycpu)
			read -r fw fu fs <"$tmp/$mode.time"
			sum=$(grep '^distssa-agent: ' "$tmp/$mode.out" | head -1)
			host=$(grep '^  10.231.0.2' "$tmp/$mode.out" | head -1)
			grep -m2 'failure:' "$tmp/$mode.out" | cut -c1-300 || true
			remote=$(sed -n 's/.* \([0-9]*\) whole (\([0-9]*\) from cache), \([0-9]*\) split, \([0-9]*\) local.*/\1(\2)\/\3\/\4/p' <<<"$sum")
			sent=$(sed -n 's/.*sent \([0-9]*\) B.*/\1/p' <<<"$host")
			recv=$(sed -n 's/.*received \([0-9]*\) B.*/\1/p' <<<"$host")
			echo "$fw $(echo "$fu + $fs" | bc) $sent $recv $remote" >>"$tmp/$mode.rows"
			printf '%-44s %6s %7.1fs %7.1fs %11s %11s %-26s %.1fs/%.1fs\n' "$pkg" "$mode" "$fw" "$(echo "$fu + $fs" | bc)" \
				"$sent" "$recv" "$remote" \
				"$(echo "($w1 - $w0) / $(getconf CLK_TCK)" | bc -l)" "$(echo "($r1 - $r0) / $(getconf CLK_TCK)" | bc -l)"
		done
		# Stock's binary differs in its version strings; the two distssa
		# builds must agree byte for byte (scripts/test-remote.sh checks
		# them against a local build). go build -o writes nothing for a
		# package that is not main.
		if [[ -e $tmp/cold.bin || -e $tmp/warm.bin ]]; then
			cmp "$tmp/cold.bin" "$tmp/warm.bin" || { echo "remotebench: cold and warm binaries differ" >&2; exit 1; }
		fi
		rm -f "$tmp"/*.bin
	done
	sw=$(cut -d' ' -f1 "$tmp/stock.rows" | median)
	sc=$(cut -d' ' -f2 "$tmp/stock.rows" | median)
	s2=$(cut -d' ' -f1 "$tmp/stock2.rows" | median)
	for mode in cold warm; do
		fw=$(cut -d' ' -f1 "$tmp/$mode.rows" | median)
		fc=$(cut -d' ' -f2 "$tmp/$mode.rows" | median)
		printf '%-44s %6s median of %d: wall %.1fs / stock CPU 0 %.1fs = %.2f, / stock CPUs 0-1 %.1fs = %.2f; CPU %.1fs / stock %.1fs = %.2f\n' "$pkg" "$mode" "$rounds" \
			"$fw" "$sw" "$(echo "$fw / $sw" | bc -l)" "$s2" "$(echo "$fw / $s2" | bc -l)" "$fc" "$sc" "$(echo "$fc / $sc" | bc -l)"
	done
done
