#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# compilebench-importcfg.sh is the compiler that bench/compilebench.sh
# gives compilebench: it completes compilebench's import config the way
# the go command writes it, then execs $COMPILEBENCH_COMPILE with the
# same arguments, so that compilebench still times and waits for the
# compile itself.
#
#   - compilebench writes only packagefile lines: for every vendored
#     package (packagefile vendor/P=…) this adds importmap P=vendor/P,
#     without which a package of std that imports one (net/http imports
#     golang.org/x/net/…) does not compile;
#   - compilebench passes no -importcfg to a package without imports
#     (unicode): this passes $COMPILEBENCH_EMPTYCFG, an import config
#     with no packages, as the go command would. A distssa worker refuses
#     a compile without one (it would look for imports in its own GOROOT).
set -euo pipefail
cfg=
prev=
for a in "$@"; do
	case $a in
	-importcfg=*) cfg=${a#-importcfg=} ;;
	esac
	[[ $prev == -importcfg ]] && cfg=$a
	prev=$a
done
if [[ -z $cfg ]]; then
	exec "$COMPILEBENCH_COMPILE" -importcfg "$COMPILEBENCH_EMPTYCFG" "$@"
fi
maps=$(sed -n 's|^packagefile vendor/\([^=]*\)=.*|importmap \1=vendor/\1|p' "$cfg")
[[ -z $maps ]] || echo "$maps" >>"$cfg"
exec "$COMPILEBENCH_COMPILE" "$@"
