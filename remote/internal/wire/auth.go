// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"crypto/hmac"
	"crypto/sha256"
)

// Hash is a blob's content address.
func Hash(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// ClientMAC is the agent's answer to the worker's challenge.
func ClientMAC(token, helloNonce, challengeNonce []byte) []byte {
	return mac(token, "distssa client v1", challengeNonce, helloNonce)
}

// ServerMAC is the worker's proof that it knows the token too.
func ServerMAC(token, helloNonce, challengeNonce []byte) []byte {
	return mac(token, "distssa server v1", helloNonce, challengeNonce)
}

func mac(token []byte, label string, a, b []byte) []byte {
	h := hmac.New(sha256.New, token)
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(a)
	h.Write(b)
	return h.Sum(nil)
}

// ProofKey is a connection's key for proofs of possession: both sides
// compute it from the handshake's nonces (and the token, empty if
// none), so a proof holds on its own connection only.
func ProofKey(token, helloNonce, challengeNonce []byte) []byte {
	return mac(token, "distssa proof key v1", helloNonce, challengeNonce)
}

// Possession is what a proof of possession of data is made of: a hash
// of data that its sha256, the blob's name, does not give away.
func Possession(data []byte) []byte {
	h := sha256.New()
	h.Write([]byte("distssa possession v1\x00"))
	h.Write(data)
	return h.Sum(nil)
}

// Proof proves, on the connection of key, possession of the blob hash
// whose Possession is pos.
func Proof(key, hash, pos []byte) []byte {
	return mac(key, "distssa proof v1", hash, pos)
}

// MaxProven bounds the blobs a connection has proved or uploaded that
// a worker remembers: before a Query that would take it past the bound,
// the worker forgets them all, and so does the agent, which then proves
// them again.
const MaxProven = 1 << 15

// CheckMAC compares MACs in constant time.
func CheckMAC(got, want []byte) bool { return hmac.Equal(got, want) }
