// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"os/exec"
	"strings"
	"testing"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
)

// TestProofsAcrossAgents: a second agent, on connections of its own,
// proves that it holds the inputs the first agent uploaded, with and
// without a token: it uploads nothing, and its compile runs there.
func TestProofsAcrossAgents(t *testing.T) {
	for _, token := range []string{"", "proof-test-token-0123456789"} {
		name := "token"
		if token == "" {
			name = "no token"
		}
		t.Run(name, func(t *testing.T) {
			var tf string
			if token != "" {
				tf = tokenFile(t, token)
			}
			s := newSetup(t, []byte(token), tf)
			a2, sock2 := startAgent(t, Config{Hosts: []hosts.Host{{Addr: s.addr, Slots: 2, TokenFile: tf}}, MinCost: 1, MaxPerCompile: 1})
			for i, a := range []*Agent{s.a, a2} {
				sock := s.sock
				if i == 1 {
					sock = sock2
				}
				f, g := dialAgent(t, sock, s.hello)
				if g.N != 1 {
					t.Fatalf("agent %d: grant %d (%q), want 1", i, g.N, g.Reason)
				}
				f.send(&localproto.Job{Worker: 0, Data: s.job()})
				if r := f.result(); r.Status != 0 || !testutil.IsResult(r.Data) {
					t.Fatalf("agent %d: status %d, data %q", i, r.Status, r.Data)
				}
				h := a.hosts[0]
				h.mu.Lock()
				uploads := h.uploads
				h.mu.Unlock()
				if i == 0 && uploads == 0 || i == 1 && uploads != 0 {
					t.Errorf("agent %d uploaded %d blobs", i, uploads)
				}
			}
			if st := s.ws.Stats(); st.CacheHits != st.CacheMisses || st.JobsOK != 2 {
				t.Errorf("the second agent should prove every blob the first uploaded: %+v", st)
			}
		})
	}
}

// BenchmarkProofCost measures what proofs of possession add to a
// compile of strconv (its sources and the export data of its imports):
// the possession hashes, computed once a build as the agent hashes the
// inputs (hash, then hash+possession; possession alone), and the proofs
// of a Query on a new connection.
func BenchmarkProofCost(b *testing.B) {
	compile := testutil.Compile(b)
	out, err := exec.Command(testutil.GoCmd(compile), "list", "-export", "-deps", "-f", `{{if ne .ImportPath "strconv"}}{{.Export}}{{end}}`, "strconv").Output()
	if err != nil {
		b.Skipf("go list: %v", err)
	}
	srcs, err := exec.Command(testutil.GoCmd(compile), "list", "-f", "{{range .GoFiles}}{{$.Dir}}/{{.}} {{end}}", "strconv").Output()
	if err != nil {
		b.Skipf("go list: %v", err)
	}
	paths := append(strings.Fields(string(out)), strings.Fields(string(srcs))...)
	var files []inputFile
	var datas [][]byte
	var size int
	for _, p := range paths {
		data, err := readInput(p)
		if err != nil {
			b.Fatal(err)
		}
		size += len(data)
		datas = append(datas, data)
		files = append(files, inputFile{path: p, hash: wire.Hash(data), pos: wire.Possession(data)})
	}
	b.Logf("%d inputs, %d bytes as sent", len(files), size)
	hash := func(b *testing.B, hc *hashCache) {
		b.SetBytes(int64(size))
		for i := 0; i < b.N; i++ {
			hc.m = map[string]hashEntry{} // a new build
			for _, p := range paths {
				if _, err := hc.lookup(p); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("hash", func(b *testing.B) { hash(b, newHashCache()) })
	b.Run("hash+possession", func(b *testing.B) { hash(b, newInputCache()) })
	b.Run("possession", func(b *testing.B) {
		b.SetBytes(int64(size))
		for i := 0; i < b.N; i++ {
			for _, d := range datas {
				wire.Possession(d)
			}
		}
	})
	b.Run("query proofs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			wc := &wconn{Conn: &wire.Conn{ProofKey: make([]byte, 32)}} // a new connection
			if q := wc.query(files); len(q.Proofs) != len(files) {
				b.Fatal("no proofs")
			}
		}
	})
}
