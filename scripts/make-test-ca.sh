#!/usr/bin/env bash
# Copyright 2026 The distssa Authors. All rights reserved.
# Use of this source code is governed by a BSD-style
# license that can be found in distssa's LICENSE file.

# make-test-ca.sh DIR [NAME...] makes a small certificate authority and
# the certificates of a test farm's mutual TLS in DIR (created if need
# be), with openssl:
#
#	ca.pem, ca.key           the CA (ca.key signs; keep it off the workers)
#	worker.pem, worker.key   a worker's certificate, for 127.0.0.1,
#	                         localhost and each NAME (an IP address or a
#	                         DNS name)
#	client.pem, client.key   an agent's client certificate
#
# A worker runs with -tls-cert=worker.pem -tls-key=worker.key
# -tls-client-ca=ca.pem; a hosts.txt line reads
# host,tls=ca.pem,cert=client.pem,key=client.key. The certificates are
# valid for $DAYS days (30 by default). Keys are P-256, readable by their
# owner only. For tests and trials: a real farm's CA belongs somewhere
# safer than a build directory.
set -euo pipefail
die() { echo "make-test-ca: $*" >&2; exit 2; }

[[ $# -ge 1 ]] || die "usage: make-test-ca.sh DIR [NAME...]"
dir=$1
shift
days=${DAYS:-30}
[[ $days =~ ^[1-9][0-9]*$ ]] || die "DAYS=$days: want a positive number of days"
command -v openssl >/dev/null || die "openssl is not installed"
for f in ca.pem worker.pem client.pem; do
	[[ ! -e $dir/$f ]] || die "$dir/$f exists: use an empty directory"
done

sans="IP:127.0.0.1,DNS:localhost"
for n in "$@"; do
	if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then
		sans+=",IP:$n"
	elif [[ $n =~ ^[A-Za-z0-9.-]+$ ]]; then
		sans+=",DNS:$n"
	else
		die "bad name $n (want an IP address or a DNS name)"
	fi
done

mkdir -p "$dir"
cd "$dir"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${newkey[@]}" -keyout ca.key -out ca.pem -days "$days" \
	-subj "/CN=distssa test CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$tmp/log" ||
	{ cat "$tmp/log" >&2; die "making the CA failed"; }

# leaf NAME CN EXTENSIONS: a key and a certificate signed by the CA.
leaf() {
	local name=$1 cn=$2 ext=$3
	printf '%b\n' "$ext" >"$tmp/$name.ext"
	openssl req -new "${newkey[@]}" -keyout "$name.key" -out "$tmp/$name.csr" -subj "/CN=$cn" 2>"$tmp/log" &&
		openssl x509 -req -in "$tmp/$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -CAserial "$tmp/serial" \
			-out "$name.pem" -days "$days" -extfile "$tmp/$name.ext" 2>"$tmp/log" ||
		{ cat "$tmp/log" >&2; die "making $name.pem failed"; }
}
leaf worker "distssa worker" "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=$sans"
leaf client "distssa agent" "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
chmod 644 ca.pem worker.pem client.pem
echo "make-test-ca: $dir: ca.pem, worker.pem/.key ($sans), client.pem/.key, valid $days days"
