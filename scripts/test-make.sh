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
	(cd "$repo" && cp -R VERSION upstream.sum go.mod patches src scripts "$tmp/r/")
}

# expect NAME WANT-REGEXP: make.bash -s must fail and print WANT.
expect() {
	local name=$1 want=$2 out
	if out=$(DISTSSA_GOROOT=$tmp/goroot "$tmp/r/src/make.bash" -s 2>&1); then
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
cat >"$tmp/r/patches/0002-cmd-compile-broken.patch" <<'PATCH'
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
expect "broken patch" 'patch patches/0002-cmd-compile-broken\.patch does not apply'

copy
mkdir -p "$tmp/r/src/cmd/compile"
echo "package main" >"$tmp/r/src/cmd/compile/main.go"
expect "overlay over upstream" 'overlay file src/cmd/compile/main\.go already exists upstream'

copy
sed -i 's/h1:[A-Za-z0-9+\/]*=/h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=/' "$tmp/r/upstream.sum"
expect "checksum pin" 'checksum mismatch for golang\.org/toolchain@v0\.0\.1-go1\.21\.6\.linux-amd64'

copy
echo "go1.22.0-distssa.1" >"$tmp/r/VERSION"
expect "version form" "VERSION: 'go1\.22\.0-distssa\.1' must be 'go1\.21\.6-SUFFIX'"

# The built tree: a second run changes nothing.
if out=$("$repo/src/make.bash" 2>&1) && grep -q 'is up to date' <<<"$out"; then
	echo "ok   rerun: $out"
else
	echo "FAIL rerun: make.bash did not report an up-to-date tree:"
	sed 's/^/    /' <<<"$out" | tail -5
	fails=$((fails + 1))
fi

[[ $fails == 0 ]]
