// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

// Proofs of possession (PROTOCOL.md §3, "Proofs of possession"): a job
// may use a blob only if its own connection uploaded it or proved that
// it holds its content, so that knowing a blob's sha256 does not let a
// client read it (through -embedcfg, say) or get the result of someone
// else's compile from the result cache.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"distssa/remote/internal/wire"
)

// maxPossessions bounds the possession hashes a worker keeps in memory;
// one it forgot is computed again from the stored blob.
const maxPossessions = 1 << 17

// blobSet is a set of blobs, by hash.
type blobSet map[[sha256.Size]byte]bool

// possessions remembers wire.Possession of stored blobs, by hash. The
// content of a hash never changes, so an entry never goes stale.
type possessions struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte][sha256.Size]byte
}

func (p *possessions) put(hash, pos []byte) {
	if len(hash) != sha256.Size {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[[sha256.Size]byte][sha256.Size]byte{}
	}
	if len(p.m) >= maxPossessions {
		for k := range p.m { // an arbitrary one
			delete(p.m, k)
			break
		}
	}
	p.m[[sha256.Size]byte(hash)] = [sha256.Size]byte(pos)
}

func (p *possessions) get(hash []byte) ([]byte, bool) {
	if len(hash) != sha256.Size {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pos, ok := p.m[[sha256.Size]byte(hash)]
	return pos[:], ok
}

// possession returns the possession hash of a stored blob: remembered,
// or computed from the blob, which Read checks against its hash.
func (s *Server) possession(hash []byte) ([]byte, error) {
	if pos, ok := s.pos.get(hash); ok {
		return pos, nil
	}
	data, err := s.store.Read(hash)
	if err != nil {
		return nil, err
	}
	pos := wire.Possession(data)
	s.pos.put(hash, pos)
	return pos, nil
}

// proved records that the connection uploaded a blob or proved it holds
// it. Past wire.MaxProven blobs it forgets the others, as query does.
func (c *conn) proved(hash []byte) {
	if len(hash) != sha256.Size {
		return
	}
	if c.proven == nil || len(c.proven) >= wire.MaxProven {
		c.proven = blobSet{}
	}
	c.proven[[sha256.Size]byte(hash)] = true
}

func (c *conn) isProven(hash []byte) bool {
	return len(hash) == sha256.Size && c.proven[[sha256.Size]byte(hash)]
}

// uploaded records a blob the connection uploaded: it holds its content.
func (c *conn) uploaded(hash, data []byte) {
	c.proved(hash)
	if _, ok := c.s.pos.get(hash); !ok {
		c.s.pos.put(hash, wire.Possession(data))
	}
}

// query answers a Query. A blob is missing unless the store holds it and
// the connection uploaded it or proves now that it holds it: a blob
// held but not proved is missing too, so that a client learns nothing of
// blobs whose content it does not have.
func (c *conn) query(m *wire.Query) error {
	if len(m.Proofs) != 0 && len(m.Proofs) != len(m.Hashes) {
		return c.send(&wire.Error{Msg: fmt.Sprintf("query: %d hashes, %d proofs: want one for each hash, or none", len(m.Hashes), len(m.Proofs))})
	}
	// The agent forgets what it proved by the same rule.
	if len(c.proven)+len(m.Hashes) > wire.MaxProven {
		c.proven = nil
	}
	var miss [][]byte
	for i, h := range m.Hashes {
		var proof []byte
		if len(m.Proofs) != 0 {
			proof = m.Proofs[i]
		}
		if (c.isProven(h) || len(proof) != 0 && c.checkProof(h, proof)) && c.s.store.Has(h) {
			c.s.st.hits.Add(1)
		} else {
			c.s.st.misses.Add(1)
			miss = append(miss, h)
		}
	}
	return c.send(&wire.Missing{Hashes: miss})
}

// checkProof checks, and records, a proof of possession of a blob.
func (c *conn) checkProof(hash, proof []byte) bool {
	pos, err := c.s.possession(hash)
	if err != nil || !wire.CheckMAC(proof, wire.Proof(c.proofKey, hash, pos)) {
		return false
	}
	c.proved(hash)
	return true
}

// unproven refuses a task that names a blob its connection neither
// uploaded nor proved it holds. It comes before anything reads the
// task's blobs: the result cache, the action key's configs, materialize.
func (c *conn) unproven(files []wire.File) error {
	for _, f := range files {
		if !c.isProven(f.Hash) {
			return fmt.Errorf("input %s: no proof of possession for blob sha256:%.12s…", f.Path, hex.EncodeToString(f.Hash))
		}
	}
	return nil
}
