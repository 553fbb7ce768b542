#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# splitstats.sh builds packages (default: std, go-redis and caddy, from
# bench/corpus) with -distssa=exec:N -d=distssastats=1 in a fresh cache and
# sums the per-package statistics lines: functions remote, the remote
# share of estimated cost, result bytes, and why functions stayed local.
#
# Usage: bench/splitstats.sh [-n N] [-gcflags FLAGS] [PACKAGES...]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=2
gcflags=
while [[ $# -gt 0 ]]; do
	case $1 in
	-n) n=$2; shift 2 ;;
	-gcflags) gcflags=$2; shift 2 ;;
	*) break ;;
	esac
done
pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(std github.com/redis/go-redis/v9/... github.com/caddyserver/caddy/v2/cmd/caddy)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$repo/bench/corpus"
GOCACHE=$tmp/cache GOFLAGS=-mod=readonly GOTOOLCHAIN=local "$repo/bin/go" build -a \
	"-gcflags=all=-distssa=exec:$n -d=distssastats=1 $gcflags" "${pkgs[@]}" 2>"$tmp/log" || { cat "$tmp/log"; exit 1; }
grep '^distssa: .* functions remote' "$tmp/log" | awk -v flags="exec:$n $gcflags" '
{
	line = $0
	match(line, /: [0-9]+\/[0-9]+ functions remote/); split(substr(line, RSTART + 2, RLENGTH), f, /[\/ ]/)
	remote += f[1]; total += f[2]
	match(line, /\([0-9]+\/[0-9]+\)/); split(substr(line, RSTART + 1, RLENGTH - 2), c, "/")
	rcost += c[1]; tcost += c[2]
	match(line, /[0-9]+ result bytes/); bytes += substr(line, RSTART, RLENGTH) + 0
	pkgs++
	sub(/.*; local: /, "", line)
	m = split(line, rs, /, /)
	for (i = 1; i <= m; i++) { k = rs[i]; v = k; sub(/=[0-9]+$/, "", k); sub(/.*=/, "", v); local[k] += v }
}
END {
	printf "%d packages (%s): %d of %d functions remote (%.1f%%), %.1f%% of estimated cost, %d result bytes (%.0f per remote function)\n", pkgs, flags, remote, total, 100*remote/total, 100*rcost/tcost, bytes, bytes/(remote?remote:1)
	for (k in local) if (local[k] > 0) printf "  local: %-28s %d\n", k, local[k]
}'
