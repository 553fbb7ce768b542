// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

// Proofs of possession (PROTOCOL.md §3, "Proofs of possession"): a
// worker lets a connection use a blob only if the connection uploaded it
// or proved that it holds its content. A Query carries the proof of
// each input the connection has not proved yet; a pooled connection
// proves each blob once.

import "distssa/remote/internal/wire"

// query returns the Query of a compile's inputs on the connection, with
// a proof of each blob the worker does not know the connection holds.
func (c *wconn) query(files []inputFile) *wire.Query {
	if len(c.proven)+len(files) > wire.MaxProven {
		c.proven = nil // the worker forgets them too
	}
	q := &wire.Query{Hashes: make([][]byte, len(files))}
	for i, f := range files {
		q.Hashes[i] = f.hash
		if c.proven[string(f.hash)] {
			continue
		}
		if q.Proofs == nil {
			q.Proofs = make([][]byte, len(files))
		}
		q.Proofs[i] = wire.Proof(c.ProofKey, f.hash, f.pos)
	}
	return q
}

// proved records, after a Query and its uploads, that the worker knows
// the connection holds every input: it proved those the worker held and
// uploaded the others.
func (c *wconn) proved(files []inputFile) {
	if c.proven == nil {
		c.proven = map[string]bool{}
	}
	for _, f := range files {
		c.proven[string(f.hash)] = true
	}
}
