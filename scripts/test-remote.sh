#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# test-remote.sh tests remote workers end to end, the way a user runs
# them: two distssa-worker daemons on 127.0.0.1 (ephemeral ports, a shared
# token), a hosts.txt naming them, and GOFLAGS=-distssa=hosts.txt go build.
#
#   identical   caddy (cmd/caddy) and go-redis's test binary, built cold
#               through the workers, are byte-identical to local builds,
#               and the agent's summary shows compiles sent to workers
#   kinds       go-redis's test binary with every compile forced whole
#               (through one worker), and forced split (DISTSSA_KIND),
#               identical
#   verify      the forced whole build verifies every remote compile here
#               (DISTSSA_VERIFY=1): all identical
#   cache       a second client's build through that worker is answered
#               from its result cache (all whole compiles hit); a changed
#               flag misses for its package only
#   errors      a compile error through a worker: the same messages and
#               exit status as a local build; -gcflags=-m output the same
#   tokens      with -p 1, no two local processes (asm, link, compiles
#               placed here) ever run at once, though the go command runs
#               five actions
#   kill        a worker killed with SIGKILL in the middle of a build (of
#               go-redis's test binary, as the ones below): the build
#               succeeds and its output is identical
#   token       one build through two hosts that refuse it: a wrong token
#   toolchain   and a worker whose compile binary differs. The agent names
#               both failures, the build falls back to local compiles,
#               identical output
#   hosts       a malformed hosts.txt stops the build before any compile,
#               naming file and line; a missing one names the file
#
# Every build uses a fresh build cache and a time bound, but when
# DISTSSA_LOCAL_GOCACHE names a build cache that holds a local build's
# objects already (scripts/test.sh passes the one of its identity step):
# then the local reference build compiles only what that one lacks, and
# the errors builds start from a copy of it. Servers listen on loopback
# only.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gobin=$repo/bin/go
[[ -x $gobin ]] || { echo "test-remote: no $gobin; run src/make.bash first" >&2; exit 2; }
export GOTOOLCHAIN=local
unset GOROOT GOBIN GOOS GOARCH GOEXPERIMENT GOAMD64 GOFLAGS DISTSSA_TOKEN DISTSSA_STRICT
tooldir=$("$gobin" env GOTOOLDIR)
tmp=$(mktemp -d)
# The agents' cost history: this run's own, not the user's.
export DISTSSA_COSTS=$tmp/costs
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

(umask 077; head -c 32 /dev/urandom | base64 >"$tmp/token")
(umask 077; head -c 32 /dev/urandom | base64 >"$tmp/badtoken")

# worker NAME [FLAGS...] starts a daemon on an ephemeral loopback port and
# sets $addr to its address.
worker() {
	local name=$1
	shift
	"$tooldir/distssa-worker" -listen=127.0.0.1:0 -slots=2 -cache="$tmp/$name" \
		-token-file="$tmp/token" "$@" 2>"$tmp/$name.log" &
	pids+=($!)
	eval "pid_$name=$!"
	addr=
	for _ in $(seq 100); do
		addr=$(sed -n 's/.*msg=listening addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$tmp/$name.log" | head -1)
		[[ -n $addr ]] && return 0
		sleep 0.1
	done
	echo "test-remote: worker $name did not start:"
	cat "$tmp/$name.log"
	exit 1
}

# build NAME HOSTS [caddy] builds go-redis's test binary (and with
# "caddy", cmd/caddy) with a fresh cache (HOSTS empty: a local build) and
# puts the outputs in $tmp/NAME. $BUILDFLAGS adds go command flags.
build() {
	local name=$1 hosts=$2 caddy=${3:-}
	local flags="-mod=readonly ${BUILDFLAGS:-}"
	[[ -n $hosts ]] && flags+=" -distssa=$hosts"
	local cache=$tmp/cache-$name
	[[ -z $hosts && -n ${DISTSSA_LOCAL_GOCACHE:-} ]] && cache=$DISTSSA_LOCAL_GOCACHE
	mkdir -p "$tmp/$name"
	(
		cd "$repo/bench/corpus"
		export GOCACHE=$cache GOFLAGS=$flags
		if [[ -n $caddy ]]; then
			timeout 1200 "$gobin" build -v -o "$tmp/$name/caddy" github.com/caddyserver/caddy/v2/cmd/caddy
		fi
		# go build -v makes the agent print its summary (go test -v does
		# not: there -v is the test binary's); the test binary then links
		# from the same cache.
		timeout 600 "$gobin" build -v github.com/redis/go-redis/v9 &&
			timeout 600 "$gobin" test -c -o "$tmp/$name/redis.test" github.com/redis/go-redis/v9
	) >"$tmp/$name.out" 2>&1
}

# same A B compares the outputs of two builds.
same() {
	local f
	for f in "$tmp/$1"/*; do
		cmp "$f" "$tmp/$2/${f##*/}" || return 1
	done
}

# remote NAME reports the agent's count of compiles that sent work to
# workers (whole and split); whole NAME and hits NAME the whole ones and
# those answered from a worker's result cache.
summary() { sed -n 's/^distssa-agent: [0-9]* compiles: \([0-9]*\) whole (\([0-9]*\) from cache), \([0-9]*\) split.*/\1 \2 \3/p' "$tmp/$1.out" | head -1; }
remote() { summary "$1" | awk '{print $1 + $3 + 0}'; }
whole() { summary "$1" | awk '{print $1 + 0}'; }
hits() { summary "$1" | awk '{print $2 + 0}'; }

start=$SECONDS
echo "test-remote: local reference build"
build local "" caddy || { cat "$tmp/local.out"; exit 1; }
mkdir -p "$tmp/redis"
cp "$tmp/local/redis.test" "$tmp/redis/"

worker a
a=$addr
worker b
b=$addr
printf '# two workers on loopback\n%s/2,token=%s\n%s/2,token=%s\n' "$a" "$tmp/token" "$b" "$tmp/token" >"$tmp/hosts.txt"

t0=$SECONDS
if build farm "$tmp/hosts.txt" caddy && same local farm && [[ $(remote farm) -gt 0 ]]; then
	pass "identical: caddy and redis.test through 2 workers, $(remote farm) compiles sent to workers, in $((SECONDS - t0))s"
	grep '^distssa-agent\|^  ' "$tmp/farm.out" | sed 's/^/     /' | head -12
else
	fail "identical: remote build failed, differs or did no remote work"
	tail -30 "$tmp/farm.out"
fi

# Forced whole compiles go to worker b alone, whose result cache the
# second client's build below then finds full. The forced whole build
# verifies at rate 1 (DISTSSA_VERIFY=1): every remote compile is compiled
# here too and compared; all are identical, and the objects are the local
# ones.
printf '%s/2,token=%s\n' "$b" "$tmp/token" >"$tmp/hosts-b.txt"
if DISTSSA_KIND=whole DISTSSA_VERIFY=1 build whole "$tmp/hosts-b.txt" && same whole redis && [[ $(remote whole) -gt 0 ]]; then
	pass "kinds: every compile that can go whole did: $(grep -m1 '^distssa-agent' "$tmp/whole.out" | cut -c16-110)"
	n=$(remote whole)
	if grep -q "^  verify: $n remote compiles chosen for local verification: $n identical, 0 differ" "$tmp/whole.out"; then
		pass "verify: DISTSSA_VERIFY=1: $(grep -m1 '^  verify: ' "$tmp/whole.out" | sed 's/^  verify: //')"
	else
		fail "verify: DISTSSA_VERIFY=1: not every one of $n remote compiles verified identical"
		grep '^distssa-agent\|^  ' "$tmp/whole.out" | head -12
	fi
else
	fail "kinds: forced whole: failed, differs or sent nothing"
	tail -20 "$tmp/whole.out"
fi
if DISTSSA_KIND=split build split "$tmp/hosts.txt" && same split redis && [[ $(remote split) -gt 0 ]]; then
	pass "kinds: every compile that can go split did: $(grep -m1 '^distssa-agent' "$tmp/split.out" | cut -c16-110)"
else
	fail "kinds: forced split: failed, differs or sent nothing"
	tail -20 "$tmp/split.out"
fi

# The result cache: the forced whole build above, through worker b, again.
# The second is answered from the worker's store; a flag changed for one
# package misses for that package only.
if DISTSSA_KIND=whole build cache2 "$tmp/hosts-b.txt" &&
	same cache2 redis && [[ $(whole cache2) -gt 0 && $(hits cache2) == $(whole cache2) ]]; then
	pass "cache: a second client's build: $(hits cache2) of $(whole cache2) whole compiles from the worker's result cache, identical"
else
	fail "cache: second build: $(hits cache2) hits of $(whole cache2) whole compiles"
	tail -5 "$tmp/cache2.out"
fi
n0=$(grep -c 'kind=whole' "$tmp/b.log" || true)
if BUILDFLAGS="-gcflags=github.com/redis/go-redis/v9=-B" DISTSSA_KIND=whole build cache3 "$tmp/hosts-b.txt" &&
	[[ $(hits cache3) == $(($(whole cache3) - 1)) ]] &&
	grep -q 'kind=whole pkg=github.com/redis/go-redis/v9 cached=false' <<<"$(tail -n +$((n0 + 1)) "$tmp/b.log")"; then
	pass "cache: -gcflags=-B for go-redis misses for it alone: $(hits cache3) of $(whole cache3) hits"
else
	fail "cache: a changed flag: $(hits cache3) hits of $(whole cache3) whole compiles"
	tail -n +$((n0 + 1)) "$tmp/b.log" | grep 'cached=false' | head -5
fi

# Compile errors and diagnostics travel whole: a local build's messages,
# byte for byte, and its exit status.
mkdir -p "$tmp/bad"
printf 'module example.com/bad\n\ngo 1.21\n' >"$tmp/bad/go.mod"
printf 'package main\n\nimport "fmt"\n\nfunc f() int { return "x" }\n\nfunc main() { fmt.Println(f(), undefinedName) }\n' >"$tmp/bad/main.go"
mkdir -p "$tmp/diag"
printf 'module example.com/diag\n\ngo 1.21\n' >"$tmp/diag/go.mod"
printf 'package main\n\nimport "fmt"\n\nfunc add(a, b int) int { return a + b }\n\nfunc main() { s := []int{1, 2}; fmt.Println(add(s[0], s[1]), &s) }\n' >"$tmp/diag/main.go"
# gobuild DIR NAME HOSTS FLAGS...: a build in DIR, fresh cache; output and
# exit status in $tmp/NAME.{out,rc}.
gobuild() {
	local dir=$1 name=$2 hosts=$3
	shift 3
	local st=0
	# A copy of the local build's cache, when there is one: only the
	# package in DIR compiles.
	if [[ -n ${DISTSSA_LOCAL_GOCACHE:-} && -d $DISTSSA_LOCAL_GOCACHE ]]; then
		cp -al "$DISTSSA_LOCAL_GOCACHE" "$tmp/cache-$name"
	fi
	(cd "$dir" && GOCACHE=$tmp/cache-$name GOFLAGS=${hosts:+-distssa=$hosts} DISTSSA_KIND=whole timeout 300 "$gobin" build -o /dev/null "$@" .) >"$tmp/$name.out" 2>&1 || st=$?
	echo "$st" >"$tmp/$name.rc"
}
n0=$(grep -c 'kind=whole' "$tmp/b.log" || true)
gobuild "$tmp/bad" bad-local ""
gobuild "$tmp/bad" bad-remote "$tmp/hosts-b.txt"
if [[ $(cat "$tmp/bad-local.rc") != 0 ]] && [[ $(cat "$tmp/bad-remote.rc") == $(cat "$tmp/bad-local.rc") ]] &&
	cmp -s "$tmp/bad-local.out" "$tmp/bad-remote.out" &&
	grep -q 'pkg=main .*exit=2' <<<"$(tail -n +$((n0 + 1)) "$tmp/b.log")"; then
	pass "errors: a compile error on the worker: the local messages and exit status $(cat "$tmp/bad-remote.rc")"
else
	fail "errors: compile error through a worker (rc $(cat "$tmp/bad-local.rc") local, $(cat "$tmp/bad-remote.rc") remote):"
	diff "$tmp/bad-local.out" "$tmp/bad-remote.out" | head -20
fi
n1=$(grep -c 'kind=whole' "$tmp/b.log" || true)
gobuild "$tmp/diag" diag-local "" -gcflags=-m
gobuild "$tmp/diag" diag-remote "$tmp/hosts-b.txt" -gcflags=-m
if [[ $(cat "$tmp/diag-remote.rc") == 0 ]] && cmp -s "$tmp/diag-local.out" "$tmp/diag-remote.out" && grep -q 'inlining call to add' "$tmp/diag-remote.out" &&
	grep -q 'pkg=main .*kind=whole\|kind=whole .*pkg=main ' <<<"$(tail -n +$((n1 + 1)) "$tmp/b.log")"; then
	pass "errors: -gcflags=-m on the worker prints the local output ($(wc -l <"$tmp/diag-remote.out") lines)"
else
	fail "errors: -gcflags=-m through a worker differs or stayed local:"
	diff "$tmp/diag-local.out" "$tmp/diag-remote.out" | head -20
fi

# Local tokens: with -p 1 the go command runs 1 + 2 × 2 actions at once,
# but no two processes may work on this machine at the same time. A
# -toolexec wrapper times every process but the compiler (asm, link, vet, …);
# the trace gives the span in which each compile placed here held its
# token. At no instant may two of these intervals overlap.
cat >"$tmp/timed.sh" <<'EOS'
#!/bin/bash
# The compiler asks the agent itself; the go command's probes of its
# tools (-V=full, gcc -###), its own bookkeeping, take no token.
case ${1##*/} in compile) exec "$@" ;; esac
case " $* " in *" -V=full "* | *" -### "*) exec "$@" ;; esac
s=$(date +%s%N)
"$@"
rc=$?
echo "$s $(date +%s%N) ${1##*/}" >>"$TIMED_LOG"
exit $rc
EOS
chmod +x "$tmp/timed.sh"
(
	cd "$repo/bench/corpus"
	export GOCACHE=$tmp/cache-tokens GOFLAGS="-mod=readonly -distssa=$tmp/hosts-b.txt" TIMED_LOG=$tmp/timed.log
	timeout 600 "$gobin" test -c -p=1 -toolexec="$tmp/timed.sh" -debug-trace="$tmp/tokens.json" -o "$tmp/tokens.test" github.com/redis/go-redis/v9
) >"$tmp/tokens.out" 2>&1
if [[ -x $tmp/tokens.test ]] && out=$(python3 - "$tmp/timed.log" "$tmp/tokens.json" <<'EOS'
import json, sys
iv = [(int(a) / 1e3, int(b) / 1e3, n) for a, b, n in (l.split() for l in open(sys.argv[1]))]
ev = json.load(open(sys.argv[2]))
pid = {e["args"]["name"]: e["pid"] for e in ev if e.get("ph") == "M" and e.get("name") == "process_name"}
comp = [(e["ts"], e["ts"] + e["dur"], e["name"]) for e in ev
        if e.get("ph") == "X" and e.get("pid") == pid.get("local tokens") and (e.get("args") or {}).get("placement") == "local"]
whole = sum(1 for e in ev if e.get("ph") == "X" and (e.get("args") or {}).get("placement") == "whole")
pts = sorted([(a, 1) for a, b, _ in iv + comp] + [(b, -1) for a, b, _ in iv + comp], key=lambda p: (p[0], p[1]))
n = peak = 0
for _, d in pts:
    n += d
    peak = max(peak, n)
print(f"{len(iv)} timed processes, {len(comp)} local compiles, {whole} whole compiles, at most {peak} at once")
sys.exit(0 if peak == 1 and iv and comp and whole else 1)
EOS
); then
	pass "tokens: -p 1 with 4 extra actions: $out"
else
	fail "tokens: ${out:-build failed or differs}"
	tail -5 "$tmp/tokens.out"
fi

# Kill worker a with SIGKILL once it has run a few jobs of the next build.
(
	for _ in $(seq 600); do
		n=$(grep -c 'msg=job ' "$tmp/a.log" 2>/dev/null || true)
		if [[ ${n:-0} -ge 10 ]]; then
			kill -9 "$pid_a"
			echo killed >"$tmp/killed"
			exit 0
		fi
		sleep 0.2
	done
) &
killer=$!
if build kill "$tmp/hosts.txt" && same kill redis && [[ -f $tmp/killed ]]; then
	pass "kill: a worker killed with SIGKILL mid-build; build succeeded, identical output"
else
	fail "kill: build failed, differs, or the worker was not killed ($(ls "$tmp"/killed 2>/dev/null))"
	tail -20 "$tmp/kill.out"
fi
kill "$killer" 2>/dev/null || true

# refusals LOG BEFORE: handshakes the worker refused since BEFORE. An
# agent stops asking a host that refused (same token, same toolchain all
# build long): at most one refusal per concurrent compile
# and go command (build, then test -c); -p defaults to the CPU count.
nrefused() { grep -c 'handshake failed' "$1" || true; } # grep -c prints 0, but fails
refusals() { echo $(($(nrefused "$1") - $2)); }
maxrefusals=$((2 * $(nproc)))
# One build through two hosts that both refuse: worker b, named with a
# wrong token, and worker c, which runs another compile binary.
cp "$tooldir/compile" "$tmp/other-compile"
printf '\n' >>"$tmp/other-compile" # a different binary that still runs
worker c -compile="$tmp/other-compile"
printf '%s/2,token=%s\n%s/2,token=%s\n' "$b" "$tmp/badtoken" "$addr" "$tmp/token" >"$tmp/hosts-refused.txt"
r0=$(nrefused "$tmp/b.log")
if build refused "$tmp/hosts-refused.txt" && same refused redis && [[ $(remote refused) == 0 ]]; then
	if grep -q 'token\|auth' "$tmp/refused.out" && [[ $(refusals "$tmp/b.log" "$r0") -le $maxrefusals ]]; then
		pass "token: wrong token named, local fallback, identical output, $(refusals "$tmp/b.log" "$r0") refused handshakes"
	else
		fail "token: wrong token not named, or refused $(refusals "$tmp/b.log" "$r0") times (at most $maxrefusals)"
		grep -i 'token\|auth' "$tmp/refused.out" | head -5
	fi
	if grep -q 'toolchain mismatch' "$tmp/refused.out" && [[ $(refusals "$tmp/c.log" 0) -le $maxrefusals ]]; then
		pass "toolchain: a worker with another compile binary refused, identical output, $(refusals "$tmp/c.log" 0) refused handshakes"
	else
		fail "toolchain: mismatch not named, or refused $(refusals "$tmp/c.log" 0) times (at most $maxrefusals)"
	fi
else
	fail "token, toolchain: a build through refusing hosts failed, differs or sent work"
	tail -20 "$tmp/refused.out"
fi

printf 'ok.example:7070/2\nbad:port:x\n' >"$tmp/bad-hosts.txt"
out=$(cd "$repo/bench/corpus" && GOCACHE=$tmp/cache-bad GOFLAGS="-mod=readonly -distssa=$tmp/bad-hosts.txt" timeout 120 "$gobin" build -x github.com/redis/go-redis/v9 2>&1) && st=0 || st=$?
if [[ $st != 0 ]] && grep -q "bad-hosts.txt:2:" <<<"$out" && ! grep -q '/compile ' <<<"$out"; then
	pass "hosts: malformed line: $(grep -m1 'bad-hosts.txt:2:' <<<"$out")"
else
	fail "hosts: malformed hosts.txt (exit $st):"
	tail -10 <<<"$out"
fi
out=$(cd "$repo/bench/corpus" && GOCACHE=$tmp/cache-bad GOFLAGS="-mod=readonly -distssa=$tmp/none.txt" timeout 120 "$gobin" build github.com/redis/go-redis/v9 2>&1) && st=0 || st=$?
if [[ $st != 0 ]] && grep -q "none.txt" <<<"$out"; then
	pass "hosts: missing file: $(grep -m1 'none.txt' <<<"$out")"
else
	fail "hosts: missing hosts.txt (exit $st):"
	tail -10 <<<"$out"
fi

echo "test-remote: $fails failed, in $((SECONDS - start))s"
[[ $fails == 0 ]]
