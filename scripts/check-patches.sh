#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# check-patches.sh checks every series versions/goX.Y.Z: that its patches/
# are a well-formed series that applies cleanly, in order, to pristine
# goX.Y.Z, that each patch is exactly what scripts/regen-patches.sh writes
# (minimal context), and that the overlay (src/ and versions/goX.Y.Z/src/)
# adds only new files. It stages a throwaway tree of each series with
# make.bash -go X.Y.Z -s.
#
# Usage: scripts/check-patches.sh [-go VERSION]   (default: every series)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "check-patches: $*" >&2; exit 1; }

only=
case ${1:-} in
-go) only=go${2#go} ;;
-go=*) only=go${1#-go=}; only=go${only#go} ;;
"") ;;
*) die "unknown argument $1 (usage: scripts/check-patches.sh [-go VERSION])" ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shopt -s nullglob

# check GOV checks the series versions/GOV.
check() {
	local gov=$1 vdir=$repo/versions/$1 rel=versions/$1/patches
	local i=0 p name want body
	for p in "$vdir"/patches/*; do
		i=$((i + 1))
		name=${p##*/}
		want=$(printf '%04d' "$i")
		[[ $name =~ ^[0-9]{4}-[A-Za-z0-9]+(-[A-Za-z0-9]+)+\.patch$ ]] ||
			die "$rel/$name: want a name like NNNN-area-slug.patch"
		[[ ${name:0:4} == "$want" ]] || die "$rel/$name: expected number $want (the series must be consecutive)"
		grep -q '^Subject: \[PATCH' "$p" || die "$rel/$name: not in git format-patch form (no Subject line)"
		body=$(sed -n '/^Subject:/,/^---$/p' "$p" | sed '1d;$d' | grep -cv '^[[:space:]]*$' || true)
		[[ $body -ge 1 ]] || die "$rel/$name: the commit message needs a body that explains the change"
		if grep -q '^+.*Copyright .* The Go Author[s]' "$p"; then
			die "$rel/$name adds an upstream copyright line; new files belong in the overlay with the project's header"
		fi
	done

	# Staging applies the series with git am (exact context, no fuzz) and
	# refuses overlay files that exist upstream.
	local g=$tmp/goroot-$gov
	DISTSSA_GOROOT=$g "$repo/src/make.bash" -go "$gov" -s >"$tmp/log" 2>&1 ||
		{ cat "$tmp/log" >&2; die "$gov: staging failed"; }
	local commits
	mapfile -t commits < <(git -C "$g" rev-list --reverse pristine..HEAD)
	[[ ${#commits[@]} == "$i" ]] || die "$gov: $i patch files but ${#commits[@]} commits applied"

	local j=0 regen
	for p in "$vdir"/patches/*.patch; do
		regen=$(git -C "$g" format-patch -1 --stdout --no-numbered --unified=1 --zero-commit \
			--no-signature --full-index "${commits[j]}")
		j=$((j + 1))
		if ! diff -u "$p" - <<<"$regen" >"$tmp/diff"; then
			head -20 "$tmp/diff" >&2
			die "$rel/${p##*/} is not in regenerated form (stage with src/make.bash -go ${gov#go} -s, then run scripts/regen-patches.sh -go ${gov#go})"
		fi
	done
	rm -rf "$g"
	echo "check-patches: $i patches apply cleanly to pristine $gov"
}

n=0
for vdir in "$repo"/versions/go*/; do
	gov=$(basename "$vdir")
	[[ -z $only || $only == "$gov" ]] || continue
	check "$gov"
	n=$((n + 1))
done
[[ $n -gt 0 ]] || die "no series ${only:+$only }in versions/"
