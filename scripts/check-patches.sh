#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# check-patches.sh checks that patches/ is a well-formed series that applies
# cleanly, in order, to pristine go1.21.6, that each patch is exactly what
# scripts/regen-patches.sh writes (minimal context), and that the src/
# overlay adds only new files. It stages a throwaway tree with make.bash -s.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "check-patches: $*" >&2; exit 1; }

shopt -s nullglob
i=0
for p in "$repo"/patches/*; do
	i=$((i + 1))
	name=${p##*/}
	want=$(printf '%04d' "$i")
	[[ $name =~ ^[0-9]{4}-[A-Za-z0-9]+(-[A-Za-z0-9]+)+\.patch$ ]] ||
		die "patches/$name: want a name like NNNN-area-slug.patch"
	[[ ${name:0:4} == "$want" ]] || die "patches/$name: expected number $want (the series must be consecutive)"
	grep -q '^Subject: \[PATCH' "$p" || die "patches/$name: not in git format-patch form (no Subject line)"
	body=$(sed -n '/^Subject:/,/^---$/p' "$p" | sed '1d;$d' | grep -cv '^[[:space:]]*$' || true)
	[[ $body -ge 1 ]] || die "patches/$name: the commit message needs a body that explains the change"
	if grep -q '^+.*Copyright .* The Go Author[s]' "$p"; then
		die "patches/$name adds an upstream copyright line; new files belong in the src/ overlay with the project's header"
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Staging applies the series with git am (exact context, no fuzz) and
# refuses overlay files that exist upstream.
DISTSSA_GOROOT=$tmp/goroot "$repo/src/make.bash" -s >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; die "staging failed"; }
mapfile -t commits < <(git -C "$tmp/goroot" rev-list --reverse pristine..HEAD)
[[ ${#commits[@]} == "$i" ]] || die "$i patch files but ${#commits[@]} commits applied"

j=0
for p in "$repo"/patches/*.patch; do
	regen=$(git -C "$tmp/goroot" format-patch -1 --stdout --no-numbered --unified=1 --zero-commit \
		--no-signature --full-index "${commits[j]}")
	j=$((j + 1))
	if ! diff -u "$p" - <<<"$regen" >"$tmp/diff"; then
		head -20 "$tmp/diff" >&2
		die "patches/${p##*/} is not in regenerated form (stage with src/make.bash -s, then run scripts/regen-patches.sh)"
	fi
done
echo "check-patches: $i patches apply cleanly to pristine go1.21.6"
