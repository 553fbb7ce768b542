#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# make.bash builds a distssa toolchain: a pristine upstream Go from the Go
# module proxy, plus that version's patches, the shared src/ overlay and
# the version's own overlay files, staged in ../goroot (the default
# version) or ../goroot-VERSION.
#
# A series is a directory versions/goVERSION holding upstream.sum (the
# pinned upstream module), VERSION (the fork's version), patches/ (against
# that upstream) and src/ (overlay files that adapt the shared overlay to
# that upstream's internals). versions/default names the series built
# without -go.
#
# Usage: cd src && ./make.bash [-go VERSION] [-f] [-s]
#
#   -go  the upstream Go version to build, as 1.27.3 or go1.27.3 (default:
#        the one versions/default names, built into ../goroot and linked
#        from ../bin; any other goes to ../goroot-VERSION)
#   -f   rebuild even if nothing changed
#   -s   stage only (steps 1-5): fetch, patch and overlay the tree, then stop;
#        for editing upstream files before scripts/regen-patches.sh
#
# Environment:
#   GOROOT_BOOTSTRAP  Go toolchain used to build (default: the pinned upstream
#                     Go itself, run through the go on PATH and GOTOOLCHAIN if
#                     that go is 1.21 or later; else the go on PATH, if it is
#                     new enough for upstream's make.bash)
#   DISTSSA_GOROOT    where to stage the toolchain (default: <repo>/goroot,
#                     or <repo>/goroot-VERSION for a version not the default)

set -euo pipefail

die() { echo "make.bash: $*" >&2; exit 2; }
step() { echo "##### $*"; }

src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$src")
usage="usage: ./make.bash [-go VERSION] [-f] [-s]"
force=0
stageonly=0
gov=
while [[ $# -gt 0 ]]; do
	case $1 in
	-f) force=1 ;;
	-s) stageonly=1 force=1 ;;
	-go)
		[[ $# -ge 2 && -n $2 ]] || die "-go needs a version, as -go 1.27.3 ($usage)"
		gov=$2
		shift
		;;
	-go=*) gov=${1#-go=} ;;
	*) die "unknown argument $1 ($usage)" ;;
	esac
	shift
done

# The series: versions/goX.Y.Z.
serieslist() { (cd "$repo/versions" && ls -d go[0-9]* 2>/dev/null | paste -sd ' '); }
defgov=$(head -n1 "$repo/versions/default" 2>/dev/null) ||
	die "$repo/versions/default: missing; it names the series built without -go"
[[ -d $repo/versions/$defgov ]] ||
	die "$repo/versions/default: names $defgov, but there is no versions/$defgov (have: $(serieslist))"
if [[ -z $gov ]]; then
	gov=$defgov
fi
gov=go${gov#go}
[[ $gov =~ ^go[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "-go $gov: want a version like 1.27.3"
vdir=$repo/versions/$gov
[[ -d $vdir ]] || die "-go ${gov#go}: no versions/$gov (have: $(serieslist))"
if [[ $gov == "$defgov" ]]; then
	goroot=${DISTSSA_GOROOT:-$repo/goroot}
else
	goroot=${DISTSSA_GOROOT:-$repo/goroot-${gov#go}}
fi

# One make.bash at a time per tree: a second one would restage the tree
# under the first one's build.
mkdir -p "$(dirname "$goroot")"
exec 9>"$goroot.lock"
flock -n 9 || die "another make.bash is using $goroot (lock $goroot.lock); wait for it to finish"

# The pinned upstream module and its checksum, in go.sum form.
upmod= upver= upsum= extra=
read -r upmod upver upsum extra <"$vdir/upstream.sum" || true
[[ $upmod == golang.org/toolchain && $upsum == h1:* && -z ${extra:-} ]] ||
	die "$vdir/upstream.sum: want one line 'golang.org/toolchain VERSION h1:SUM'"
upgo=${upver#v0.0.1-}; upgo=${upgo%%.linux-*}   # go1.21.6
[[ $upgo == "$gov" ]] ||
	die "$vdir/upstream.sum: pins $upgo, but the series is $gov"
version=$(head -n1 "$vdir/VERSION")
[[ $version == "$upgo"-* ]] ||
	die "$vdir/VERSION: '$version' must be '$upgo-SUFFIX' so that go version parsing and build-cache keys work"

# Stamps: the toolchain depends on the series (VERSION, the pinned sum,
# the patches, the version's overlay) and the shared overlay (make.bash
# included); the project's commands also on the project module. Another
# series' files are not inputs.
hashfiles() {
	local p have=()
	for p in "$@"; do [[ -e $repo/$p ]] && have+=("$p"); done
	(cd "$repo" && find "${have[@]}" -type f ! -name '*~' ! -name '.*.swp' -print0 2>/dev/null |
		LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -c1-32
}
tstamp=$(hashfiles "versions/$gov" src)
cstamp=$tstamp-$(hashfiles go.mod go.sum remote scripts)

# Find the Go on PATH (used to download, and maybe to bootstrap).
command -v go >/dev/null || die "no 'go' on PATH: install Go >= 1.17.13 first"
hostgo=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null) || die "'go env GOVERSION' failed; need Go >= 1.17.13 on PATH"
verge() { # verge A B: A >= B for goX.Y.Z
	local IFS=.
	local -a a=(${1#go}) b=(${2#go})
	for i in 0 1 2; do
		local x=${a[i]:-0} y=${b[i]:-0}
		x=${x%%[!0-9]*}; y=${y%%[!0-9]*}
		((${x:-0} > ${y:-0})) && return 0
		((${x:-0} < ${y:-0})) && return 1
	done
	return 0
}
verge "$hostgo" go1.17.13 || die "the go on PATH is $hostgo; need >= go1.17.13"

if [[ $force == 0 && -x $goroot/bin/go && -f $goroot/.distssa-stamp && $(cat "$goroot/.distssa-stamp") == "$tstamp" ]]; then
	if [[ -f $goroot/.distssa-cmd-stamp && $(cat "$goroot/.distssa-cmd-stamp") == "$cstamp" ]]; then
		echo "distssa: $("$goroot/bin/go" version) is up to date ($goroot)"
		exit 0
	fi
	skip_toolchain=1
else
	skip_toolchain=0
fi

t0=$SECONDS
if [[ $skip_toolchain == 0 ]]; then
	step "1/8 fetching $upmod@$upver"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	info=$(cd "$tmp" && GO111MODULE=on GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "$upmod@$upver") ||
		die "go mod download $upmod@$upver failed (is the Go module proxy reachable?)"
	field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info"; }
	updir=$(field Dir)
	gotsum=$(field Sum)
	[[ -n $updir && -d $updir ]] || die "go mod download gave no directory for $upmod@$upver"
	[[ $gotsum == "$upsum" ]] ||
		die "checksum mismatch for $upmod@$upver: module proxy gave $gotsum, upstream.sum pins $upsum"

	step "2/8 staging pristine $upgo in $goroot"
	stage=$goroot.tmp
	rm -rf "$stage"
	cp -R "$updir" "$stage"
	chmod -R u+w "$stage"
	rm -rf "$stage/bin" "$stage/pkg"
	# Module zips cannot hold nested go.mod files or file modes.
	find "$stage" -type f \( -name _go.mod -o -name _go.sum \) -print0 |
		while IFS= read -r -d '' f; do mv "$f" "$(dirname "$f")/${f##*/_}"; done
	find "$stage" -type f -print0 | xargs -0 perl -e '
		for my $f (@ARGV) {
			open(my $h, "<", $f) or next;
			my $b = ""; read($h, $b, 2);
			chmod((stat($f))[2] | 0111, $f) if $b eq "#!";
		}'
	# A git repository of the staged tree makes patch application exact
	# and lets scripts/regen-patches.sh turn edits back into patches.
	g() { git -C "$stage" -c user.name=distssa -c user.email=distssa@localhost \
		-c core.autocrlf=false -c commit.gpgsign=false -c advice.detachedHead=false "$@"; }
	g init -q
	g config gc.auto 0
	printf '%s\n' /bin/ /pkg/ '/.distssa-*' /src/cmd/dist/dist >>"$stage/.git/info/exclude"
	g add -A -f .
	g commit -q -m "$upgo: pristine $upmod@$upver $upsum"
	g tag pristine

	shopt -s nullglob
	patches=("$vdir"/patches/*.patch)
	step "3/8 applying ${#patches[@]} patches"
	for p in "${patches[@]}"; do
		if ! g am -q --whitespace=nowarn "$p" >"$tmp/am.log" 2>&1; then
			sed 's/^/    /' "$tmp/am.log" >&2
			g am --abort >/dev/null 2>&1 || true
			die "patch ${p#$repo/} does not apply to $upgo"
		fi
		echo "    ${p##*/}"
	done

	# The shared overlay, then the series' own files, which must not
	# replace a shared one: a file is in exactly one place.
	step "4/8 overlaying src/ and versions/$gov/src/"
	for from in "$src" "$vdir/src"; do
		[[ -d $from ]] || continue
		n=0
		while IFS= read -r -d '' f; do
			rel=${f#"$from"/}
			[[ $from == "$src" && $rel == make.bash ]] && continue
			if [[ -e $stage/src/$rel ]]; then
				if [[ $from != "$src" && -e $src/$rel ]]; then
					die "overlay file versions/$gov/src/$rel is also in the shared overlay src/$rel; keep one"
				fi
				die "overlay file ${f#"$repo"/} already exists upstream; change upstream files with a patch in versions/$gov/patches/"
			fi
			mkdir -p "$(dirname "$stage/src/$rel")"
			cp "$f" "$stage/src/$rel"
			echo "/src/$rel" >>"$stage/.git/info/exclude"
			n=$((n + 1))
		done < <(find "$from" -type f ! -name '*~' ! -name '.*.swp' -print0 | LC_ALL=C sort -z)
		echo "    ${from#"$repo"/}: $n files"
	done

	step "5/8 writing VERSION $version"
	{ echo "$version"; sed -n '2,$p' "$stage/VERSION"; } >"$stage/VERSION.new"
	mv "$stage/VERSION.new" "$stage/VERSION"
	g update-index --assume-unchanged VERSION

	rm -rf "$goroot"
	mv "$stage" "$goroot"
	if [[ $stageonly == 1 ]]; then
		goflag=
		[[ $gov == "$defgov" ]] || goflag=" -go ${gov#go}"
		echo "distssa: staged $goroot (not built); commit edits there, then run scripts/regen-patches.sh$goflag"
		exit 0
	fi

	# The oldest Go that upstream's make.bash accepts.
	bootgo=go$(sed -n 's/^bootgo=//p' "$goroot/src/make.bash" | head -n1)
	[[ $bootgo != go ]] || die "cannot read bootgo= from upstream $goroot/src/make.bash"
	if [[ -n ${GOROOT_BOOTSTRAP:-} ]]; then
		boot=$GOROOT_BOOTSTRAP
		bootvers=$(GOTOOLCHAIN=local GOFLAGS= "$boot/bin/go" env GOVERSION 2>/dev/null) ||
			die "GOROOT_BOOTSTRAP=$boot: '$boot/bin/go env GOVERSION' failed"
		verge "$bootvers" "$bootgo" ||
			die "GOROOT_BOOTSTRAP=$boot is $bootvers; $upgo needs $bootgo or later"
	elif verge "$hostgo" go1.21; then
		# The pinned toolchain itself; GOTOOLCHAIN restores its run bits.
		boot=$(cd "$tmp" && GOTOOLCHAIN=$upgo GOFLAGS= go env GOROOT) ||
			die "could not run $upgo from the module cache as the bootstrap toolchain"
	elif verge "$hostgo" "$bootgo"; then
		boot=$(go env GOROOT)
	else
		die "the go on PATH is $hostgo; to build $upgo, put Go 1.21 or later on PATH, or set GOROOT_BOOTSTRAP to Go $bootgo or later"
	fi
	step "6/8 building the toolchain (upstream make.bash, GOROOT_BOOTSTRAP=$boot)"
	(
		cd "$goroot/src"
		unset GOROOT GOBIN GOFLAGS GOOS GOARCH GOEXPERIMENT GOAMD64 GO111MODULE
		export GOTOOLCHAIN=local GOROOT_BOOTSTRAP=$boot
		./make.bash
	) || die "upstream make.bash failed"
	# cmd/dist rewrote some generated files that upstream ships (the version
	# in zbootstrap.go, ...). Hide them from 'git commit -a' in the staged
	# tree so that they never slip into a patch.
	mapfile -d '' -t changed < <(git -C "$goroot" diff --name-only -z)
	for f in "${changed[@]}"; do
		if grep -q '^// Code generated by go tool dist' "$goroot/$f"; then
			git -C "$goroot" update-index --assume-unchanged "$f"
		else
			echo "make.bash: warning: the build changed $f in $goroot" >&2
		fi
	done
	echo "$tstamp" >"$goroot/.distssa-stamp"
	rm -f "$goroot/.distssa-cmd-stamp"
fi

step "7/8 installing distssa commands into the toolchain"
gobin=$goroot/bin/go
tooldir=$(GOTOOLCHAIN=local GOFLAGS= "$gobin" env GOTOOLDIR)
pats=()
for d in remote scripts/cmd; do [[ -d $repo/$d ]] && pats+=("./$d/..."); done
cmds=
if [[ ${#pats[@]} -gt 0 ]]; then
	cmds=$(cd "$repo" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false "$gobin" list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' "${pats[@]}" | sort) ||
		die "listing the project's commands failed"
fi
if [[ -n $cmds ]]; then
	# shellcheck disable=SC2086
	(cd "$repo" && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false "$gobin" build -trimpath -o "$tooldir/" $cmds) ||
		die "building the project's commands with $gobin failed"
	for c in $cmds; do echo "    ${c##*/}"; done
fi
echo "$cstamp" >"$goroot/.distssa-cmd-stamp"

step "8/8 linking bin/"
# goroot/ sits inside this repository's module: the go command run in
# goroot/ itself (go/importer does, with "go list -export DIR") would take
# the project's go.mod for its main module and not find std there. An
# empty workspace file in goroot/ stops that search, as a GOROOT outside
# any module (stock's) has none. goroot/src keeps its own go.mod.
printf '// Written by distssa'"'"'s src/make.bash: see the comment there.\ngo 1.21\n' >"$goroot/go.work"
if [[ -d $goroot/.git ]] && ! grep -qx '/go.work' "$goroot/.git/info/exclude" 2>/dev/null; then
	mkdir -p "$goroot/.git/info"
	echo '/go.work' >>"$goroot/.git/info/exclude"
fi
# ../bin is the default series'; another series' go is $goroot/bin/go.
if [[ $gov != "$defgov" ]]; then
	echo "distssa: built $("$goroot/bin/go" version) in $((SECONDS - t0))s"
	echo "distssa: its go command is $goroot/bin/go"
	exit 0
fi
mkdir -p "$repo/bin"
for b in go gofmt; do
	if [[ $goroot == "$repo"/* ]]; then
		ln -sfn "../${goroot#"$repo"/}/bin/$b" "$repo/bin/$b"
	else
		ln -sfn "$goroot/bin/$b" "$repo/bin/$b"
	fi
done

echo "distssa: built $("$repo/bin/go" version) in $((SECONDS - t0))s"
echo "distssa: put $repo/bin on your PATH:  export PATH=\"$repo/bin:\$PATH\""
