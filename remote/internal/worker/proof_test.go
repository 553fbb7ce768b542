// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"sort"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/wire"
)

// offer makes the worker know that the connection holds blobs: a Query
// with a proof of each (or the given proofs), then an Upload of those
// the worker says are missing when upload is set. It returns how many
// were missing.
func (c *client) offer(blobs [][]byte, proofs [][]byte, upload bool) int {
	c.t.Helper()
	q := &wire.Query{Proofs: proofs}
	for _, b := range blobs {
		q.Hashes = append(q.Hashes, wire.Hash(b))
		if proofs == nil {
			q.Proofs = append(q.Proofs, c.proof(b))
		}
	}
	c.send(q)
	miss, ok := c.recv().(*wire.Missing)
	if !ok {
		c.t.Fatal("Query not answered with Missing")
	}
	if upload {
		var up wire.Upload
		for _, h := range miss.Hashes {
			for _, b := range blobs {
				if string(wire.Hash(b)) == string(h) {
					up.Blobs = append(up.Blobs, wire.Blob{Hash: h, Size: uint64(len(b)), Data: wire.Compress(b)})
				}
			}
		}
		c.send(&up)
	}
	return len(miss.Hashes)
}

// refused sends a job and checks that it is refused with want.
func (c *client) refused(what string, m any, want string) {
	c.t.Helper()
	c.send(m)
	got := c.recv()
	if e, ok := got.(*wire.Error); !ok || !strings.Contains(e.Msg, want) {
		c.t.Fatalf("%s: answered %#v, want an Error with %q", what, got, want)
	}
}

// TestProofOfPossession: a connection may name in a job only blobs that
// it uploaded, or proved it holds. Another client that knows the
// sha256 of a victim's embedded file, but not its content, can neither
// have it put in a compile of its own (through -embedcfg), whole or
// split, nor get the cached result of the victim's compile that read it;
// a proof made on another connection does not help it. A connection
// that holds the content proves it and uploads nothing.
func TestProofOfPossession(t *testing.T) {
	s, addr, _ := startFake(t, time.Minute)
	files := map[string][]byte{
		"/w/p.go":       []byte("package p\n"),
		"/w/importcfg":  []byte("# import config\n"),
		"/w/embedcfg":   []byte(`{"Patterns":{"secret.txt":["secret.txt"]},"Files":{"secret.txt":"/w/secret.txt"}}`),
		"/w/secret.txt": []byte("the victim's secret\n"),
	}
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	run := &wire.RunWhole{Cwd: "/w", Args: []string{"-p=ok", "-o", "/w/p.a", "-importcfg=/w/importcfg", "-embedcfg=/w/embedcfg", "/w/p.go"},
		Env: []string{"GOROOT=/g"}}
	var all, public [][]byte
	for _, p := range paths {
		run.Files = append(run.Files, wire.File{Path: p, Hash: wire.Hash(files[p])})
		all = append(all, files[p])
		if p != "/w/secret.txt" {
			public = append(public, files[p])
		}
	}
	secret := files["/w/secret.txt"]
	const refusal = "job refused: input /w/secret.txt: no proof of possession for blob sha256:"

	// The victim compiles; its result is cached.
	victim, _ := dial(t, addr, nil, s.Toolchain())
	if n := victim.offer(all, nil, true); n != len(all) {
		t.Fatalf("a fresh worker lacks %d of %d blobs", n, len(all))
	}
	if d := victim.whole(run); d.Status != 0 || d.Exit != 0 || d.Cached {
		t.Fatalf("victim's run: %+v", d)
	}
	victim.send(&wire.StatsReq{}) // answered once the result is cached
	victim.recv()

	// The attacker holds every file but the secret, and knows its hash.
	attacker, _ := dial(t, addr, nil, s.Toolchain())
	if n := attacker.offer(public, nil, true); n != 0 {
		t.Fatalf("the worker asked for %d blobs the attacker proved", n)
	}
	attacker.refused("the victim's Run (a result-cache hit)", run, refusal)
	own := *run
	own.Env = []string{"GOROOT=/other"} // another action key: a compile of its own
	attacker.refused("a Run of its own", &own, refusal)
	attacker.refused("a Start", &wire.Start{Cwd: run.Cwd, Args: run.Args, Env: run.Env, Files: run.Files}, refusal)

	// Without a proof, a blob is missing whether the worker holds it or
	// not; a proof made for the victim's connection is no proof here.
	unknown := []byte("nobody's\n")
	if n := attacker.offer([][]byte{secret, unknown}, [][]byte{nil, nil}, false); n != 2 {
		t.Fatalf("unproved: %d of 2 missing", n)
	}
	if n := attacker.offer([][]byte{secret}, [][]byte{victim.proof(secret)}, false); n != 1 {
		t.Fatalf("the victim's proof, replayed, made the secret present")
	}
	attacker.refused("the victim's Run after a replayed proof", run, refusal)
	attacker.refused("a Query of 2 hashes with 1 proof", &wire.Query{Hashes: [][]byte{wire.Hash(secret), wire.Hash(unknown)},
		Proofs: [][]byte{attacker.proof(secret)}}, "query: 2 hashes, 1 proofs")

	// A connection that holds every file proves it: it uploads nothing,
	// and gets the cached result. So does a split job.
	holder, _ := dial(t, addr, nil, s.Toolchain())
	if n := holder.offer(all, nil, true); n != 0 {
		t.Fatalf("the worker asked for %d blobs the holder proved", n)
	}
	if d := holder.whole(run); d.Status != 0 || !d.Cached {
		t.Fatalf("holder's run: %+v", d)
	}
	holder.send(&wire.Start{Cwd: run.Cwd, Args: run.Args, Env: run.Env, Files: run.Files})
	if m, ok := holder.recv().(*wire.Started); !ok {
		t.Fatalf("holder's start: %#v", m)
	}
	holder.send(&wire.Job{})
	if r, ok := holder.recv().(*wire.Result); !ok || r.Status != 0 {
		t.Fatalf("holder's empty job: %#v", r)
	}
	// A pooled connection proves each blob once.
	if n := holder.offer(all, make([][]byte, len(all)), false); n != 0 {
		t.Fatalf("%d blobs proved on this connection are missing", n)
	}

	st := s.Stats()
	if st.Runs != 2 || st.ResultHits != 1 || st.Refused != 4 {
		t.Errorf("stats: runs %d, result hits %d, refused %d; want 2, 1, 4", st.Runs, st.ResultHits, st.Refused)
	}
}
