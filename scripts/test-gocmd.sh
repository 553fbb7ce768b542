#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# test-gocmd.sh tests the go command's -distssa build flag (patch "cmd/go:
# add the -distssa build flag", src/cmd/go/internal/work/distssa.go)
# against the contract of remote/PROTOCOL.md §2:
#
#   - go help build documents -distssa;
#   - -x shows the agent's command line, -v passes -v to the agent, -n
#     shows it without running anything;
#   - every compile gets -distssa=unix:$WORK/distssa.sock, and through
#     the agent some functions go to workers; the binary is identical to
#     a local build's;
#   - -distssa does not change the build cache key: a build with it after
#     one without it compiles nothing;
#   - go build, run, test and vet work with it;
#   - an agent that exits before "ready" (missing hosts file; with the
#     real agent also a malformed line) stops the build before any
#     compile, with the agent's message naming the file;
#   - with DISTSSA_STRICT=1 a remote failure fails the build; without
#     it, it does not;
#   - -debug-trace holds the agent's tracks (local tokens, host slots);
#   - the agent gets the action graph (-graph) and finds every compile in
#     it, and its cost history learns each compile;
#   - no agent outlives the go command.
#
# It uses the toolchain's agent ($GOTOOLDIR/distssa-agent, which
# src/make.bash builds from remote/cmd/distssa-agent).
#
# Usage: scripts/test-gocmd.sh   (DISTSSA_GOROOT selects the toolchain)
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
goroot=${DISTSSA_GOROOT:-$repo/goroot}
[[ -x $goroot/bin/go ]] || { echo "test-gocmd: no toolchain at $goroot (run src/make.bash)" >&2; exit 2; }
export GOTOOLCHAIN=local GOFLAGS= GO111MODULE=on GOPROXY=off CGO_ENABLED=0
unset GOROOT GOBIN GOOS GOARCH GOEXPERIMENT GOAMD64 GOTOOLDIR

tmp=$(mktemp -d -p "$(dirname "$goroot")" .test-gocmd.XXXXXX)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# gorun LOG ARGS...: runs the go command, bounded, with stdout+stderr in LOG.
gorun() {
	local log=$1
	shift
	(cd "$tmp/mod" && timeout 300 "$gobin" "$@") >"$log" 2>&1
}

tooldir=$(GOFLAGS= "$goroot/bin/go" env GOTOOLDIR)
[[ -x $tooldir/distssa-agent ]] || { echo "test-gocmd: no $tooldir/distssa-agent (run src/make.bash)" >&2; exit 2; }
gobin=$goroot/bin/go
export GOCACHE=$tmp/cache GOPATH=$tmp/gopath GOTMPDIR=
# The agent's cost history: the test's own, not the user's.
export DISTSSA_COSTS=$tmp/costs

mkdir -p "$tmp/mod"
cat >"$tmp/mod/go.mod" <<'EOF'
module example.com/m

go 1.21
EOF
# No imports beyond the runtime, which stays local: few compiles.
cat >"$tmp/mod/main.go" <<'EOF'
package main

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func poly(x float64) float64 { return ((3*x-2)*x+1)*x - 0.5 }

func sw(n int) int {
	switch n {
	case 0:
		return 5
	case 1:
		return 7
	case 2:
		return 11
	case 3:
		return 13
	}
	return -1
}

func main() { println(gcd(12, 18), poly(2) > 0, sw(2)) }
EOF
cat >"$tmp/mod/main_test.go" <<'EOF'
package main

import "testing"

func TestGcd(t *testing.T) {
	if gcd(12, 18) != 6 {
		t.Fatal("gcd")
	}
}
EOF
# A host that refuses connections: the checks below need the agent to
# start, not to reach a worker (scripts/test-remote.sh has workers).
hosts=$tmp/hosts.txt
echo "127.0.0.1:1" >"$hosts"
noagent() {
	if pgrep -f -- "-hosts=$tmp/" >/dev/null; then
		fail "$1: an agent outlived the go command"
	fi
}

# 1. go help build.
if grep -q -- '-distssa file' <<<"$("$gobin" help build)"; then pass "go help build documents -distssa"; else fail "go help build does not document -distssa"; fi

# 1b. The fork's cache keys follow its tools: compile -V=full names the
# content ID of its binary (the last part of its build ID, a hash of the
# binary), and the go command keys compiled packages by that line. A
# -toolexec wrapper that changes the ID in -V=full's answer (and nothing
# else) must make a cached build compile again.
vfull=$("$tooldir/compile" -V=full)
bid=$("$gobin" tool buildid "$tooldir/compile")
if [[ $vfull == *" contentID=${bid##*/}" ]]; then pass "compile -V=full names its content ID"; else fail "compile -V=full: $vfull (build ID $bid)"; fi
cat >"$tmp/idwrap" <<'EOF'
#!/bin/sh
case "$*" in
*-V=full*) if [ -n "$FAKEID" ]; then "$@" | sed 's/contentID=[^ ]*/contentID=fake/'; exit; fi ;;
esac
exec "$@"
EOF
chmod +x "$tmp/idwrap"
ncompiles() { grep -c '/compile ' "$1" || true; }
GOCACHE=$tmp/cache-id gorun "$tmp/id1.log" build -x -toolexec="$tmp/idwrap" -o "$tmp/id.bin" . &&
	GOCACHE=$tmp/cache-id gorun "$tmp/id2.log" build -x -toolexec="$tmp/idwrap" -o "$tmp/id.bin" . &&
	FAKEID=1 GOCACHE=$tmp/cache-id gorun "$tmp/id3.log" build -x -toolexec="$tmp/idwrap" -o "$tmp/id.bin" .
rc=$?
n1=$(ncompiles "$tmp/id1.log") n2=$(ncompiles "$tmp/id2.log") n3=$(ncompiles "$tmp/id3.log")
if [[ $rc == 0 && $n1 -gt 0 && $n2 == 0 && $n3 == "$n1" ]]; then
	pass "another compile content ID misses the build cache: $n1 compiles, then $n2, then $n3"
else
	fail "build ID and cache keys (rc=$rc): $n1 compiles, then $n2 (cached), then $n3 with another ID"
fi

# 2. -n: the agent's command line and the compile flag, nothing run.
gorun "$tmp/n.log" build -n -a -distssa=../hosts.txt -o "$tmp/n.bin" .
if grep -q "distssa-agent -hosts=$hosts -socket=\$WORK/distssa.sock -local=[0-9]* -work=\$WORK -graph=\$WORK/distssa-graph.json" "$tmp/n.log" &&
	grep -q -- '-distssa=unix:$WORK/distssa.sock' "$tmp/n.log"; then
	pass "-n shows the agent (relative hosts path made absolute) and each compile's -distssa"
else
	fail "-n: agent or compile flag missing:"; head -5 "$tmp/n.log"
fi

# 3. A local build, then the same with -distssa: fully cached.
gorun "$tmp/local.log" build -o "$tmp/local.bin" . || { fail "local build"; cat "$tmp/local.log"; }
gorun "$tmp/cached.log" build -x -distssa="$hosts" -o "$tmp/cached.bin" .
rc=$?
if [[ $rc == 0 ]] && grep -q "distssa-agent -hosts=$hosts -socket=\$WORK/distssa.sock -local=[0-9]* -work=\$WORK -graph=\$WORK/distssa-graph.json &" "$tmp/cached.log" &&
	! grep -q '/compile ' "$tmp/cached.log"; then
	pass "-distssa after a local build: -x shows the agent, no compile runs (same cache keys)"
else
	fail "-distssa after a local build (rc=$rc):"; grep -E 'distssa-agent|/compile ' "$tmp/cached.log" | head -5
fi
cmp -s "$tmp/local.bin" "$tmp/cached.bin" && pass "cached binary identical" || fail "cached binary differs"
noagent "cached build"

# 4. A cold build with -distssa and -v: compiles get the flag, functions
# go remote, and the binary is the local build's.
gflags=-gcflags=all=-dwarf=false
GOCACHE=$tmp/cache-ref gorun "$tmp/ref.log" build "$gflags -d=distssastats=1" -o "$tmp/ref.bin" . || { fail "reference build"; cat "$tmp/ref.log"; }
GOCACHE=$tmp/cache-dist gorun "$tmp/dist.log" build -x -v "$gflags -d=distssastats=1" -distssa="$hosts" -o "$tmp/dist.bin" .
rc=$?
ncomp=$(grep -c '/compile .*-distssa=unix:\$WORK/distssa.sock' "$tmp/dist.log")
if [[ $rc == 0 && $ncomp -gt 0 ]] && ! grep -qv -- '-distssa=unix:' <<<"$(grep '/compile ' "$tmp/dist.log")"; then
	pass "cold build: all $ncomp compiles get -distssa=unix:\$WORK/distssa.sock"
else
	fail "cold build (rc=$rc, $ncomp compiles with the flag):"; tail -5 "$tmp/dist.log"
fi
if grep -q -- "distssa-agent -hosts=$hosts -socket=\$WORK/distssa.sock -local=[0-9]* -work=\$WORK -graph=\$WORK/distssa-graph.json -v" "$tmp/dist.log"; then pass "-v passes -v to the agent"; else fail "-v not passed to the agent"; fi
if grep -q "^distssa-agent: $ncomp compiles: 0 whole" "$tmp/dist.log"; then
	pass "the agent placed every compile: $(grep -m1 '^distssa-agent: ' "$tmp/dist.log" | cut -c1-100)"
else
	fail "the agent's summary does not count the $ncomp compiles:"; grep '^distssa-agent' "$tmp/dist.log"
fi
cmp -s "$tmp/ref.bin" "$tmp/dist.bin" && pass "binary built with -distssa identical to the local build" || fail "binary built with -distssa differs"
# The agent read the action graph and found every compile in it; each
# compile's time entered the history (DISTSSA_COSTS).
if grep -q "^  estimates: 0 compiles from the cost history ([0-9]* entries), $ncomp from their source size; $ncomp in the build graph" "$tmp/dist.log" &&
	[[ $(grep -c " $("$gobin" env GOOS)/$("$gobin" env GOARCH) " "$tmp/costs" 2>/dev/null) -ge $ncomp ]]; then
	pass "the agent found all $ncomp compiles in the action graph, and learned their times"
else
	fail "action graph or cost history:"; grep '^  estimates\|^  note' "$tmp/dist.log"; head -3 "$tmp/costs"
fi
noagent "cold build"

# 5. run, test, vet.
gorun "$tmp/run.log" run -distssa="$hosts" . && grep -q '^6 true 11' "$tmp/run.log" && pass "go run -distssa" || { fail "go run -distssa"; cat "$tmp/run.log"; }
gorun "$tmp/test.log" test -count=1 -distssa="$hosts" . && pass "go test -distssa" || { fail "go test -distssa"; cat "$tmp/test.log"; }
gorun "$tmp/vet.log" vet -distssa="$hosts" . && pass "go vet -distssa" || { fail "go vet -distssa"; cat "$tmp/vet.log"; }
GOFLAGS=-distssa=$hosts gorun "$tmp/goflags.log" build -x -a -o "$tmp/goflags.bin" . &&
	grep -q 'distssa-agent' "$tmp/goflags.log" && pass "GOFLAGS=-distssa=FILE" || { fail "GOFLAGS=-distssa=FILE"; tail -3 "$tmp/goflags.log"; }
GOFLAGS=-distssa=$hosts gorun "$tmp/env.log" env GOARCH && pass "go env with GOFLAGS=-distssa" || { fail "go env with GOFLAGS=-distssa"; cat "$tmp/env.log"; }
noagent "run/test/vet"

# 5b. DISTSSA_TOKEN goes to the agent alone: no tool the go command runs
# after it (logged by a -toolexec wrapper; the -V=full probes of tool
# IDs may come first) and no test binary sees it.
cat >"$tmp/envwrap" <<EOF
#!/bin/sh
case "\$*" in *-V=full*) ;; *) echo "\${1##*/} \${DISTSSA_TOKEN-unset}" >>"$tmp/envwrap.log" ;; esac
for a in "\$@"; do
	case "\$a" in -distssa=unix:*) s=\${a#-distssa=unix:}; stat -c %a "\${s%/*}" >>"$tmp/sockdir.log" ;; esac
done
exec "\$@"
EOF
chmod +x "$tmp/envwrap"
cat >"$tmp/mod/env_test.go" <<'EOF'
package main

import (
	"os"
	"testing"
)

func TestNoToken(t *testing.T) {
	if v, ok := os.LookupEnv("DISTSSA_TOKEN"); ok {
		t.Fatalf("the test binary has DISTSSA_TOKEN=%q", v)
	}
}
EOF
DISTSSA_TOKEN=test-token-0123456789abcdef gorun "$tmp/tokenenv.log" test -count=1 -a -toolexec="$tmp/envwrap" -distssa="$hosts" -run TestNoToken .
rc=$?
ntools=$(grep -c ' unset$' "$tmp/envwrap.log" 2>/dev/null || true)
if [[ $rc == 0 ]] && [[ $ntools -gt 0 ]] && ! grep -qv ' unset$' "$tmp/envwrap.log"; then
	pass "DISTSSA_TOKEN: none of $ntools tool processes nor the test binary sees it"
else
	fail "DISTSSA_TOKEN leaks (rc=$rc):"; grep -v ' unset$' "$tmp/envwrap.log" | sort | uniq -c | head; tail -5 "$tmp/tokenenv.log"
fi
# The agent's socket lets whoever connects have files read and sent:
# only the build's user may reach it (its directory is 0700).
modes=$(sort -u "$tmp/sockdir.log" 2>/dev/null | tr '\n' ' ')
if [[ $modes == "700 " ]]; then
	pass "the agent's socket is in a 0700 directory ($(wc -l <"$tmp/sockdir.log") compiles)"
else
	fail "the agent's socket directory modes: '${modes}', want 700"
fi
rm "$tmp/mod/env_test.go"

# 6. An agent that exits before ready stops the build before any compile.
gorun "$tmp/missing.log" build -x -a -distssa="$tmp/missing.txt" -o "$tmp/missing.bin" .
rc=$?
if [[ $rc != 0 ]] && grep -q 'missing.txt' "$tmp/missing.log" && grep -q 'before it was ready' "$tmp/missing.log" &&
	! grep -q '/compile ' "$tmp/missing.log" && [[ ! -e $tmp/missing.bin ]]; then
	pass "missing hosts file: the build stops before any compile with the agent's message"
else
	fail "missing hosts file (rc=$rc):"; cat "$tmp/missing.log"
fi
{
	printf '# comment\n127.0.0.1:x\n' >"$tmp/bad-hosts.txt"
	gorun "$tmp/bad.log" build -x -a -distssa="$tmp/bad-hosts.txt" -o "$tmp/bad.bin" .
	rc=$?
	if [[ $rc != 0 ]] && grep -q 'bad-hosts.txt:2' "$tmp/bad.log" && ! grep -q '/compile ' "$tmp/bad.log"; then
		pass "malformed hosts file: the build stops before any compile with file:line"
	else
		fail "malformed hosts file (rc=$rc):"; cat "$tmp/bad.log"
	fi
}
noagent "failed builds"

# 7. Strict mode: remote failure fails the build (the output is still
# built, locally); without DISTSSA_STRICT the same failure is no error.
# The compile is sent whole to a worker (DISTSSA_KIND: alone in its
# build it is on the critical path, which the scheduler keeps here); the
# only host refuses connections.
{
	mkdir -p "$tmp/big"
	cp "$tmp/mod/go.mod" "$tmp/big/"
	{
		echo 'package main'
		for i in $(seq 400); do
			echo "func f$i(a, b int) int { for b != 0 { a, b = b, a%b + $i }; return a * $i }"
		done
		echo 'func main() { println(f1(12, 18) + f400(3, 5)) }'
	} >"$tmp/big/main.go"
	echo "127.0.0.1:1" >"$tmp/refused-hosts.txt"
	(cd "$tmp/big" && DISTSSA_KIND=whole DISTSSA_STRICT=1 timeout 300 "$gobin" build -distssa="$tmp/refused-hosts.txt" -o "$tmp/strict.bin" .) >"$tmp/strict.log" 2>&1
	rc=$?
	if [[ $rc == 1 ]] && grep -q 'go: -distssa: strict mode' "$tmp/strict.log" &&
		grep -q 'distssa-agent: strict mode: .*127.0.0.1:1' "$tmp/strict.log" && [[ -x $tmp/strict.bin ]]; then
		pass "strict mode: a remote failure fails the build, naming the host"
	else
		fail "strict mode (rc=$rc):"; cat "$tmp/strict.log"
	fi
	echo '// changed, so that it compiles again' >>"$tmp/big/main.go"
	(cd "$tmp/big" && DISTSSA_KIND=whole timeout 300 "$gobin" build -distssa="$tmp/refused-hosts.txt" -o "$tmp/lax.bin" .) >"$tmp/lax.log" 2>&1
	rc=$?
	if [[ $rc == 0 ]] && ! grep -q 'strict' "$tmp/lax.log" && [[ -x $tmp/lax.bin ]]; then
		pass "without strict mode the same remote failure is no error"
	else
		fail "without strict mode (rc=$rc):"; cat "$tmp/lax.log"
	fi
	noagent "strict mode"
}

# 8. -debug-trace: the agent's tracks join the go command's trace, and the
# file is one JSON array.
GOCACHE=$tmp/cache-trace gorun "$tmp/trace.log" build -debug-trace="$tmp/trace.json" -distssa="$hosts" -o "$tmp/trace.bin" .
rc=$?
if [[ $rc == 0 ]] && python3 -c '
import json, sys
ev = json.load(open(sys.argv[1]))
names = {e["args"]["name"] for e in ev if e.get("ph") == "M" and e.get("name") == "process_name"}
spans = [e for e in ev if e.get("ph") == "X" and e.get("pid", 0) >= 1000]
assert "local tokens" in names and spans, (names, len(spans))
' "$tmp/trace.json"; then
	pass "-debug-trace holds the agent's local token track"
else
	fail "-debug-trace (rc=$rc):"; tail -3 "$tmp/trace.log"
fi
noagent "trace"

echo "test-gocmd: $fails failed"
[[ $fails == 0 ]]
