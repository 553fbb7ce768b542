#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# test-make.sh checks how src/make.bash treats bad input, on throwaway
# copies of the repository (staging only, nothing is built), and that a
# second run on the built tree is a no-op.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# copy makes a fresh copy of the repository's inputs to make.bash.
copy() {
	rm -rf "$tmp/r"
	mkdir -p "$tmp/r"
	(cd "$repo" && cp -R versions go.mod src scripts "$tmp/r/")
}

# expect NAME WANT-REGEXP [ARGS...]: make.bash -s ARGS must fail and print
# WANT.
expect() {
	local name=$1 want=$2 out
	shift 2
	if out=$(DISTSSA_GOROOT=$tmp/goroot "$tmp/r/src/make.bash" -s "$@" 2>&1); then
		echo "FAIL $name: make.bash succeeded"
		fails=$((fails + 1))
	elif ! grep -Eq "$want" <<<"$out"; then
		echo "FAIL $name: output lacks /$want/:"
		sed 's/^/    /' <<<"$out" | tail -5
		fails=$((fails + 1))
	else
		echo "ok   $name: $(grep -E "$want" <<<"$out" | head -1)"
	fi
}

copy
cat >"$tmp/r/versions/go1.21.6/patches/0002-cmd-compile-broken.patch" <<'PATCH'
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: test <test@localhost>
Date: Sat, 21 Nov 2026 00:00:00 +0000
Subject: [PATCH] cmd/compile: a patch whose context is not upstream

This must not apply.
---
 src/cmd/compile/main.go | 1 +
 1 file changed, 1 insertion(+)

diff --git a/src/cmd/compile/main.go b/src/cmd/compile/main.go
--- a/src/cmd/compile/main.go
+++ b/src/cmd/compile/main.go
@@ -10,2 +10,3 @@
 this line is not in upstream
+added
 nor is this one
PATCH
expect "broken patch" 'patch versions/go1\.21\.6/patches/0002-cmd-compile-broken\.patch does not apply'

copy
mkdir -p "$tmp/r/src/cmd/compile"
echo "package main" >"$tmp/r/src/cmd/compile/main.go"
expect "overlay over upstream" 'overlay file src/cmd/compile/main\.go already exists upstream'

copy
sed -i 's/h1:[A-Za-z0-9+\/]*=/h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=/' "$tmp/r/versions/go1.21.6/upstream.sum"
expect "checksum pin" 'checksum mismatch for golang\.org/toolchain@v0\.0\.1-go1\.21\.6\.linux-amd64'

copy
echo "go1.22.0-distssa.1" >"$tmp/r/versions/go1.21.6/VERSION"
expect "version form" "VERSION: 'go1\.22\.0-distssa\.1' must be 'go1\.21\.6-SUFFIX'"

copy
mkdir -p "$tmp/r/versions/go1.21.6/src/cmd/compile/internal/distssa"
cp "$tmp/r/src/cmd/compile/internal/distssa/hooks.go" "$tmp/r/versions/go1.21.6/src/cmd/compile/internal/distssa/"
expect "overlay in two places" 'overlay file versions/go1\.21\.6/src/cmd/compile/internal/distssa/hooks\.go is also in the shared overlay'

copy
expect "unknown series" "no versions/go1\.99\.0 \(have: $(cd "$repo/versions" && echo go*)\)" -go 1.99.0
expect "bad -go" 'make\.bash: -go go1\.x: want a version like 1\.27\.3' -go=1.x

copy
mkdir -p "$tmp/r/versions/go1.21.7"
cp -R "$tmp/r/versions/go1.21.6/." "$tmp/r/versions/go1.21.7/"
expect "series and pin differ" 'versions/go1\.21\.7/upstream\.sum: pins go1\.21\.6, but the series is go1\.21\.7' -go go1.21.7

# The built tree: a second run changes nothing.
if out=$("$repo/src/make.bash" 2>&1) && grep -q 'is up to date' <<<"$out"; then
	echo "ok   rerun: $out"
else
	echo "FAIL rerun: make.bash did not report an up-to-date tree:"
	sed 's/^/    /' <<<"$out" | tail -5
	fails=$((fails + 1))
fi

[[ $fails == 0 ]]
