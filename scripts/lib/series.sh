# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# series.sh, sourced by the test scripts, picks the toolchain series they
# test: DISTSSA_GO (1.27.3 or go1.27.3), or the one versions/default
# names. It sets
#
#   series   goX.Y.Z, the series' directory name under versions/
#   vdir     versions/goX.Y.Z
#   upgo     the pinned upstream Go, from upstream.sum (= series)
#   goroot   the built toolchain: goroot/ for the default series,
#            goroot-X.Y.Z/ for another (DISTSSA_GOROOT overrides both)
#   gobin    its go command (bin/go for the default series)
#   corpus   the corpus module of the series: bench/corpus-goX.Y if it
#            exists, else bench/corpus
#
# It needs $repo; on a bad DISTSSA_GO it prints why and exits 2.

series_default=$(head -n1 "$repo/versions/default")
series=${DISTSSA_GO:-$series_default}
series=go${series#go}
vdir=$repo/versions/$series
if [[ ! -d $vdir ]]; then
	echo "DISTSSA_GO=${DISTSSA_GO:-}: no versions/$series (have: $(cd "$repo/versions" && ls -d go[0-9]* | paste -sd ' '))" >&2
	exit 2
fi
upgo=$(awk '{v = $2; sub(/^v0\.0\.1-/, "", v); sub(/\.[a-z]+-[a-z0-9]+$/, "", v); print v}' "$vdir/upstream.sum")
if [[ $series == "$series_default" ]]; then
	goroot=${DISTSSA_GOROOT:-$repo/goroot}
	gobin=$repo/bin/go
	[[ -z ${DISTSSA_GOROOT:-} ]] || gobin=$goroot/bin/go
else
	goroot=${DISTSSA_GOROOT:-$repo/goroot-${series#go}}
	gobin=$goroot/bin/go
fi
corpus=$repo/bench/corpus
series_minor=${series%.*}
[[ -d $repo/bench/corpus-$series_minor ]] && corpus=$repo/bench/corpus-$series_minor
unset series_minor
