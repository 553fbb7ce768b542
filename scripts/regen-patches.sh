#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# regen-patches.sh rewrites patches/ from the commits in the staged tree.
#
# make.bash stages goroot/ as a git repository: the pristine tree is tagged
# "pristine" and every patch is one commit on top of it. To change the
# series, edit files under goroot/, commit (one commit per concern; use
# 'git commit --fixup' and 'git rebase -i --autosquash pristine' to amend an
# existing patch), then run this script and commit patches/ in distssa.
# Overlay files (new files from src/) are excluded in goroot/.git/info/exclude
# and never enter patches.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
goroot=${DISTSSA_GOROOT:-$repo/goroot}
die() { echo "regen-patches: $*" >&2; exit 2; }

git -C "$goroot" rev-parse -q --verify pristine >/dev/null 2>&1 ||
	die "$goroot is not a staged tree (run src/make.bash -s first)"
dirty=$(git -C "$goroot" status --porcelain --untracked-files=no)
[[ -z $dirty ]] || die "uncommitted changes in $goroot; commit them first:
$dirty"
n=$(git -C "$goroot" rev-list --count pristine..HEAD)
merges=$(git -C "$goroot" rev-list --merges pristine..HEAD | wc -l)
[[ $merges == 0 ]] || die "the series must be linear (found $merges merge commits)"
if git -C "$goroot" diff --name-only pristine HEAD | grep -qx VERSION; then
	die "a commit changes VERSION; the fork's version comes from distssa's VERSION file, not from a patch"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Minimal context keeps our changes readable and upstream text out of git.
git -C "$goroot" format-patch -q --no-numbered --unified=1 --zero-commit --no-signature \
	--full-index -o "$tmp" pristine..HEAD
rm -f "$repo"/patches/*.patch
mkdir -p "$repo/patches"
cp "$tmp"/*.patch "$repo/patches/" 2>/dev/null || true
echo "regen-patches: wrote $n patches to patches/:"
ls "$repo/patches" | sed 's/^/    /'
