#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# test-deploy.sh checks the deployment recipes of remote/deploy against
# the built toolchain, and runs their command lines:
#
#   unit        systemd-analyze verify of distssa-worker.service and of
#               it with the mtls.conf drop-in (on a copy whose ExecStart
#               names the built worker: verify wants an executable that
#               exists); systemd-analyze security --offline rates it 2.0
#               or better
#   syscalls    every system call the worker makes (a fixed list for its
#               sandbox trampoline, plus what strace sees of a daemon run
#               and of a trampoline, where strace works) is allowed by the
#               unit's SystemCallFilter
#   flags       every flag that the unit, the drop-in and the Containerfile
#               pass exists in distssa-worker -h
#   container   the Containerfile's COPY sources exist in the repository,
#               its runtime COPY takes the toolchain that make.bash builds,
#               its ENTRYPOINT names the worker in that toolchain, and its
#               port, volume, user and base images agree with the rest
#   sandbox     the kernel has what the unit's worker, listening beyond
#               loopback, requires (Landlock and the seccomp filter)
#   run         the worker started with exactly the ExecStart of the unit,
#               of the drop-in (mutual TLS, with scripts/make-test-ca.sh)
#               and the Containerfile's ENTRYPOINT, paths rewritten to
#               temporary ones and the address to 127.0.0.1:0, answers
#               distssa-worker -status and exits 0 on SIGTERM
#
# No network, no container engine, no running systemd: a machine without
# systemd-analyze (or openssl, or a working strace) skips what needs it,
# saying so. DISTSSA_GOROOT names the toolchain (default: goroot/, as for
# src/make.bash).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
goroot=${DISTSSA_GOROOT:-$repo/goroot}
tool=pkg/tool/linux_amd64/distssa-worker
worker=$goroot/$tool
deploy=$repo/remote/deploy
unit=$deploy/distssa-worker.service
dropin=$deploy/mtls.conf
cfile=$deploy/Containerfile
[[ -x $worker ]] || { echo "test-deploy: no $worker; run src/make.bash first" >&2; exit 2; }
for f in "$unit" "$dropin" "$cfile"; do
	[[ -f $f ]] || { echo "test-deploy: no $f" >&2; exit 2; }
done
unset DISTSSA_TOKEN

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "test-deploy: line $LINENO: exit status $?" >&2' ERR
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
skip() { echo "skip $*"; }

# execstart FILE prints the words of FILE's last ExecStart= (continuation
# lines joined), one a line; an empty ExecStart= resets, as in systemd.
execstart() {
	awk '
		cont { line = line " " $0; cont = 0 }
		!cont && /^ExecStart=/ { line = substr($0, 11) }
		/\\$/ && line != "" { sub(/\\$/, "", line); cont = 1; next }
		line != "" || /^ExecStart=$/ { last = line; line = "" }
		END { print last }' "$1" | tr -s ' \t' '\n\n' | sed '/^$/d'
}

# entrypoint prints the words of the Containerfile's ENTRYPOINT (exec
# form), one a line.
entrypoint() {
	sed -n 's/^ENTRYPOINT \[\(.*\)\]$/\1/p' "$cfile" | sed 's/", *"/\n/g; s/"//g'
}

mapfile -t unitcmd < <(execstart "$unit")
mapfile -t dropcmd < <(execstart "$dropin")
mapfile -t ctrcmd < <(entrypoint)
[[ ${#unitcmd[@]} -gt 1 ]] || { echo "test-deploy: $unit: no ExecStart with flags" >&2; exit 1; }
[[ ${#dropcmd[@]} -gt 1 ]] || { echo "test-deploy: $dropin: no ExecStart with flags" >&2; exit 1; }
[[ ${#ctrcmd[@]} -gt 1 ]] || { echo "test-deploy: $cfile: no ENTRYPOINT [...] with flags" >&2; exit 1; }

# --- the unit's binary and the drop-in's command line
case ${unitcmd[0]} in
*/"$tool") unitroot=${unitcmd[0]%/"$tool"}; pass "unit: ExecStart runs $tool of $unitroot" ;;
*) fail "unit: ExecStart runs ${unitcmd[0]}, not GOROOT/$tool"; unitroot=/nonexistent ;;
esac
if [[ "${dropcmd[*]}" == "${unitcmd[*]} "* ]]; then
	pass "drop-in: ExecStart is the unit's with ${dropcmd[*]:${#unitcmd[@]}}"
else
	fail "drop-in: $dropin's ExecStart does not begin with the unit's: ${dropcmd[*]}"
fi

# --- flags
mapfile -t known < <("$worker" -h 2>&1 | sed -n 's/^  -\([a-z0-9-]*\).*/\1/p')
[[ ${#known[@]} -gt 5 ]] || { echo "test-deploy: $worker -h lists no flags" >&2; exit 1; }
checkflags() {
	local what=$1 a n bad=0
	shift
	for a in "$@"; do
		[[ $a == -* ]] || { fail "flags: $what passes the argument $a, not a flag"; bad=1; continue; }
		n=${a#-}
		n=${n%%=*}
		if [[ " ${known[*]} " != *" $n "* ]]; then
			fail "flags: $what passes -$n, which distssa-worker -h does not list"
			bad=1
		fi
	done
	[[ $bad == 1 ]] || pass "flags: $what: $*"
}
checkflags "the unit" "${unitcmd[@]:1}"
checkflags "the drop-in" "${dropcmd[@]:1}"
checkflags "the Containerfile" "${ctrcmd[@]:1}"

# flagval NAME WORDS... prints the value of -NAME=VALUE among WORDS.
flagval() {
	local n=$1 a
	shift
	for a in "$@"; do [[ $a == -$n=* ]] && { echo "${a#*=}"; return; }; done
}

# --- systemd-analyze
if command -v systemd-analyze >/dev/null; then
	# verify checks ExecStart's executable, so a copy names the built one;
	# the drop-in beside the copy is read as installed drop-ins are.
	mkdir -p "$tmp/unit/distssa-worker.service.d"
	sed "s|^ExecStart=$unitroot/|ExecStart=$goroot/|" "$unit" >"$tmp/unit/distssa-worker.service"
	sed "s|^ExecStart=$unitroot/|ExecStart=$goroot/|" "$dropin" >"$tmp/unit/distssa-worker.service.d/mtls.conf"
	# It warns of unknown settings and unparsable values, exit status 0.
	if out=$(cd "$tmp/unit" && systemd-analyze verify --man=no "$tmp/unit/distssa-worker.service" 2>&1) &&
		! grep -q 'distssa-worker\|mtls\.conf' <<<"$out"; then
		pass "unit: systemd-analyze verify (with mtls.conf)"
	else
		fail "unit: systemd-analyze verify: $out"
	fi
	# The exposure threshold is in tenths. --offline and --threshold came
	# with systemd 250.
	# (No 'cmd | grep -q' under pipefail: grep's early exit can kill cmd.)
	help=$(systemd-analyze --help 2>&1 || true)
	if [[ $help != *--threshold* ]]; then
		skip "unit: this systemd-analyze has no security --offline --threshold: the exposure is not rated"
	elif out=$(systemd-analyze security --offline=true --threshold=20 "$tmp/unit/distssa-worker.service" 2>&1); then
		pass "unit: systemd-analyze security: $(grep -o 'exposure level.*' <<<"$out")"
	else
		fail "unit: systemd-analyze security rates it above 2.0: $(grep -o 'exposure level.*' <<<"$out")"
	fi
else
	skip "unit: systemd-analyze is not installed: the unit is not verified"
fi

# --- container recipe
copyfails=$fails stage=0 workdir= built= dst= user= exposed= volume= images=()
while read -r kw rest; do
	case $kw in
	FROM) stage=$((stage + 1)); images+=("${rest%% *}") ;;
	WORKDIR) [[ $stage == 1 ]] && workdir=$rest ;;
	COPY)
		if [[ $rest == --from=build\ * ]]; then
			read -r _ src dst <<<"$rest"
			if [[ $src == "$workdir/goroot" ]]; then
				pass "container: COPY --from=build takes the toolchain make.bash builds ($src)"
			else
				fail "container: COPY --from=build $src: make.bash builds the toolchain in $workdir/goroot"
			fi
		else
			read -r -a w <<<"$rest"
			for s in "${w[@]:0:${#w[@]}-1}"; do
				[[ -e $repo/$s ]] || fail "container: COPY source $s is not in the repository"
			done
		fi
		;;
	RUN) [[ $stage == 1 && $rest == *src/make.bash* ]] && built=1 ;;
	USER) user=$rest ;;
	EXPOSE) exposed=$rest ;;
	VOLUME) volume=$rest ;;
	esac
done < <(grep -v '^[[:space:]]*#' "$cfile" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
[[ $fails == "$copyfails" ]] && pass "container: the COPY sources exist"
[[ $built == 1 && -x $repo/src/make.bash ]] && pass "container: the build stage runs src/make.bash" ||
	fail "container: the build stage does not run src/make.bash"
case ${ctrcmd[0]} in
"$dst/$tool") pass "container: ENTRYPOINT runs $tool of the copied toolchain" ;;
*) fail "container: ENTRYPOINT runs ${ctrcmd[0]}, not $dst/$tool" ;;
esac
defgov=$(head -n1 "$repo/versions/default")
upgo=$(awk '{v = $2; sub(/^v0\.0\.1-go/, "", v); sub(/\.linux-.*/, "", v); print v}' "$repo/versions/$defgov/upstream.sum")
[[ ${images[0]:-} == */golang:"$upgo"-* ]] && pass "container: builds with golang:$upgo (versions/$defgov/upstream.sum)" ||
	fail "container: the build image ${images[0]:-} is not golang:$upgo-… (versions/$defgov/upstream.sum pins go$upgo)"
# distssa-worker links libc (cgo, for zstd): one Debian release for both.
[[ ${images[0]:-} == *-bookworm && ${images[1]:-} == */debian:bookworm-slim ]] &&
	pass "container: build and runtime on Debian bookworm" ||
	fail "container: images ${images[*]}: build and runtime must be one Debian release (bookworm)"
[[ -n $user && $user != root && $user != 0 ]] && pass "container: runs as $user" ||
	fail "container: USER is '${user:-}', not a user other than root"
ctrlisten=$(flagval listen "${ctrcmd[@]}")
[[ -n $exposed && $ctrlisten == *:"$exposed" ]] && pass "container: EXPOSE $exposed, -listen=$ctrlisten" ||
	fail "container: EXPOSE ${exposed:-none} but -listen=$ctrlisten"
ctrcache=$(flagval cache "${ctrcmd[@]}")
[[ -n $volume && $ctrcache == "$volume" ]] && pass "container: VOLUME $volume is -cache" ||
	fail "container: VOLUME ${volume:-none} but -cache=$ctrcache"
ctrtoken=$(flagval token-file "${ctrcmd[@]}")
[[ $ctrtoken == /run/secrets/* ]] && pass "container: the token is a secret file ($ctrtoken)" ||
	fail "container: -token-file=$ctrtoken is not under /run/secrets"

# --- running the command lines
(umask 077; head -c 32 /dev/urandom | base64 >"$tmp/token")
mkdir -p "$tmp/creds"
cp "$tmp/token" "$tmp/creds/token"
stracer=()
if command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null; then
	stracer=(strace -f -qq -c -o)
else
	skip "syscalls: strace is missing or cannot trace here: only the sandbox's fixed list is checked"
fi

# leaf PID prints the pid of the distssa-worker process at or below PID
# (timeout, then perhaps strace, then the worker).
leaf() {
	local p=$1 i
	for i in 1 2 3 4; do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == distssa-worker ]] && { echo "$p"; return; }
		if [[ -e /proc/$p/task/$p/children ]]; then
			p=$(awk '{print $1}' "/proc/$p/task/$p/children")
		else
			p=$(pgrep -P "$p" || true)
			p=${p%%$'\n'*}
		fi
		[[ -n $p ]] || return 1
	done
	return 1
}

# start NAME CMD... starts CMD (a worker's command line, rewritten),
# bounded by timeout, and sets $addr to its address once it listens
# (empty if it did not start) and $tpid to the pid of its timeout.
start() {
	local name=$1 i
	shift
	local log=$tmp/$name.log
	: >"$log"
	if [[ ${#stracer[@]} -gt 0 ]]; then
		timeout -k 2 15 "${stracer[@]}" "$tmp/$name.sc" -- "$@" 2>"$log" &
	else
		timeout -k 2 15 "$@" 2>"$log" &
	fi
	tpid=$!
	pids+=("$tpid")
	addr=
	for i in $(seq 100); do
		addr=$(sed -n '/msg=listening addr=127\.0\.0\.1:[0-9]/{s/.*msg=listening addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p;q;}' "$log")
		[[ -n $addr ]] && return
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.1
	done
	fail "run: $name: the worker did not start: $(cat "$log")"
}

# status NAME FLAGS... checks that distssa-worker -status=$addr FLAGS
# prints the worker's statistics.
status() {
	local name=$1 st
	shift
	if st=$(timeout 10 "$worker" -status="$addr" "$@" 2>&1) &&
		grep -q '"Slots": [1-9]' <<<"$st" && grep -q '"CacheBytes"' <<<"$st"; then
		pass "run: $name: -status answers ($(tr -d ' \n' <<<"$st" | cut -c1-60)…)"
	else
		fail "run: $name: -status=$addr $*: $st"
	fi
}

# stop NAME sends SIGTERM to the worker started last and checks that it
# exits 0, having said so.
stop() {
	local name=$1 wpid log=$tmp/$1.log
	if ! wpid=$(leaf "$tpid"); then
		fail "run: $name: no distssa-worker process under pid $tpid"
		return
	fi
	kill -TERM "$wpid"
	if wait "$tpid" && grep -q 'msg="shutting down" signal=terminated' "$log" && grep -q 'msg=stopped' "$log"; then
		pass "run: $name: SIGTERM stops it, status 0"
	else
		fail "run: $name: after SIGTERM: $(tail -3 "$log")"
	fi
}

# rewrite DIR WORDS... prints WORDS, one a line, as the worker runs them
# here: the built worker, systemd's directories and the container's paths
# in DIR, and the address 127.0.0.1:0.
rewrite() {
	local dir=$1 a
	shift
	echo "$worker"
	for a in "${@:2}"; do
		case $a in
		-listen=*) a=-listen=127.0.0.1:0 ;;
		esac
		a=${a//'${CACHE_DIRECTORY}'/$dir/cache}
		a=${a//'${CREDENTIALS_DIRECTORY}'/$tmp/creds}
		[[ -n $volume ]] && a=${a//$volume/$dir/cache}
		a=${a//\/run\/secrets\/distssa-token/$tmp/creds/token}
		echo "$a"
	done
}

mkdir -p "$tmp/unitrun" "$tmp/ctrrun" "$tmp/mtlsrun"
mapfile -t cmd < <(rewrite "$tmp/unitrun" "${unitcmd[@]}")
start unit "${cmd[@]}"
[[ -z $addr ]] || { status unit -token-file="$tmp/token"; stop unit; }
# The unit's worker listens beyond loopback, so it requires its sandbox
# (-sandbox=require by default); the run above, on loopback, took what
# this kernel has, and said so.
unitlisten=$(flagval listen "${unitcmd[@]}")
if grep -q 'msg=sandbox landlock=[1-9][0-9]* seccomp=true' "$tmp/unit.log"; then
	pass "sandbox: this kernel has Landlock and the seccomp filter, which the unit's worker (-listen=$unitlisten) requires"
else
	skip "sandbox: this kernel lacks what the unit's worker (-listen=$unitlisten) requires, and it would not start: $(grep 'not available' "$tmp/unit.log" | head -2)"
fi
mapfile -t cmd < <(rewrite "$tmp/ctrrun" "${ctrcmd[@]}")
start container "${cmd[@]}"
[[ -z $addr ]] || { status container -token-file="$tmp/token"; stop container; }
if command -v openssl >/dev/null; then
	"$repo/scripts/make-test-ca.sh" "$tmp/tls" >/dev/null
	cp "$tmp/tls/worker.pem" "$tmp/tls/worker.key" "$tmp/tls/ca.pem" "$tmp/creds/"
	mapfile -t cmd < <(rewrite "$tmp/mtlsrun" "${dropcmd[@]}")
	start mtls "${cmd[@]}"
	if [[ -n $addr ]]; then
		status mtls -token-file="$tmp/token" -tls-ca="$tmp/tls/ca.pem" \
			-tls-cert="$tmp/tls/client.pem" -tls-key="$tmp/tls/client.key"
		# Without a client certificate, the worker completes no handshake.
		if out=$(timeout 10 "$worker" -status="$addr" -token-file="$tmp/token" -tls-ca="$tmp/tls/ca.pem" 2>&1); then
			fail "run: mtls: -status without a client certificate was answered: $out"
		elif grep -q 'certificate required' <<<"$out"; then
			pass "run: mtls: -status without a client certificate is refused ($out)"
		else
			fail "run: mtls: -status without a client certificate: $out"
		fi
		stop mtls
	fi
else
	skip "run: mtls: openssl is not installed (scripts/make-test-ca.sh needs it)"
fi

# --- system calls
# allowed prints the system calls the unit's SystemCallFilter lines allow,
# in order: the first list is an allow-list, later ones add to it, and
# those with ~ take away. Groups expand through systemd-analyze.
allowed() {
	systemd-analyze syscall-filter 2>/dev/null | FILTERS=$(sed -n 's/^SystemCallFilter=//p' "$unit") awk '
		/^@/ { g = $1; next }
		/^[[:space:]]+[@a-z_0-9]/ && g != "" { members[g] = members[g] " " $1; next }
		/^$/ { g = "" }
		function add(item, on,    n, i, m) {
			if (item in seen) return
			seen[item] = 1
			if (item !~ /^@/) { allow[item] = on; return }
			n = split(members[item], m, " ")
			for (i = 1; i <= n; i++) add(m[i], on)
		}
		END {
			n = split(ENVIRON["FILTERS"], lines, "\n")
			for (l = 1; l <= n; l++) {
				on = lines[l] !~ /^~/
				sub(/^~/, "", lines[l])
				k = split(lines[l], items, " ")
				delete seen
				for (i = 1; i <= k; i++) add(items[i], on)
			}
			for (s in allow) if (allow[s]) print s
		}'
}
if command -v systemd-analyze >/dev/null; then
	mapfile -t ok < <(allowed)
	# The sandbox trampoline (remote/internal/sandbox): rlimits, no_new_privs,
	# the parent-death signal and the seccomp filter, its process group,
	# Landlock, exec; and what a job adds to a daemon's start and stop (seen
	# with strace in the worker package's tests, which run sandboxed
	# compiles): its directory, the compile's process, the store's writes.
	need=(prctl setrlimit prlimit64 execve setpgid landlock_create_ruleset landlock_add_rule landlock_restrict_self
		chdir clone vfork wait4 waitid kill dup3 faccessat2 fsync renameat renameat2 getcwd lseek statfs)
	if [[ ${#stracer[@]} -gt 0 ]]; then
		# A trampoline run as the worker runs its compiles, when the worker
		# has the sandbox (its -sandbox flag).
		if [[ " ${known[*]} " == *" sandbox "* ]]; then
			if timeout 10 "${stracer[@]}" "$tmp/tramp.sc" -- "$worker" -sandbox-exec \
				'{"ReadOnly":["/"],"ReadWrite":["/dev/null"],"Landlock":true,"Seccomp":true,"NoFile":256,"FSize":1048576}' \
				/bin/true 2>"$tmp/tramp.log"; then
				pass "syscalls: a sandbox trampoline runs /bin/true"
			else
				fail "syscalls: the sandbox trampoline failed: $(cat "$tmp/tramp.log")"
			fi
		fi
		for f in "$tmp"/*.sc; do
			[[ -f $f ]] || continue
			mapfile -t -O "${#need[@]}" need < <(awk '/^-+ / { n++; next } n == 1 && NF { print $NF }' "$f")
		done
	fi
	missing=()
	for s in $(printf '%s\n' "${need[@]}" | sort -u); do
		[[ " ${ok[*]} " == *" $s "* ]] || missing+=("$s")
	done
	if [[ ${#ok[@]} -lt 100 ]]; then
		fail "syscalls: the unit's SystemCallFilter expands to ${#ok[@]} system calls (systemd-analyze syscall-filter failed?)"
	elif [[ ${#missing[@]} -gt 0 ]]; then
		fail "syscalls: the unit's SystemCallFilter forbids what the worker calls: ${missing[*]}"
	else
		pass "syscalls: the unit's SystemCallFilter allows all $(printf '%s\n' "${need[@]}" | sort -u | wc -l) system calls the worker was seen to make"
	fi
else
	skip "syscalls: systemd-analyze is not installed: the unit's SystemCallFilter is not checked"
fi

if [[ $fails -gt 0 ]]; then
	echo "test-deploy: $fails failed"
	exit 1
fi
echo "test-deploy: all passed"
