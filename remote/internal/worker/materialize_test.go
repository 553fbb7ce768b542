// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"distssa/remote/internal/wire"
)

// newJobServer returns a server that is not listening, for tests that
// materialize jobs, and a connection to it.
func newJobServer(t *testing.T, cfg Options) (*Server, *conn) {
	t.Helper()
	exe, _ := os.Executable() // any file: only its hash is taken
	cfg.Slots, cfg.CacheDir, cfg.Compile = 1, t.TempDir(), exe
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.Close() })
	return s, &conn{s: s, goos: "linux", goarch: "amd64"}
}

// diskUse is what the files and directories under dir take on disk,
// in allocated blocks, counting each inode once (as du does).
func diskUse(t *testing.T, dir string) int64 {
	t.Helper()
	seen := map[[2]uint64]bool{}
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if k := [2]uint64{uint64(st.Dev), st.Ino}; !seen[k] {
			seen[k] = true
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// putBlob stores data in the server's store and returns its hash.
func putBlob(t *testing.T, s *Server, data []byte) []byte {
	t.Helper()
	h := wire.Hash(data)
	if err := s.store.Put(h, data); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestMaterializeShared, the attack as it was reproduced: one blob
// of 32 MiB listed under 64 paths of a job, on a worker whose store is
// bounded to 64 MiB, made the job directory 2049 MiB. The job directory
// must hold the blob's bytes once (its paths share one checked copy),
// and that copy must not be the store's file.
func TestMaterializeShared(t *testing.T) {
	s, c := newJobServer(t, Options{CacheMax: 64 << 20})
	big := make([]byte, 32<<20)
	rand.Read(big) // not zeros: nothing may store it sparse
	bh := putBlob(t, s, big)
	start := &wire.Start{
		Cwd:   "/src/p",
		Args:  []string{"-p", "p", "-importcfg", "/src/p/importcfg", "-o", "/tmp/p.a", "/src/p/f00.go"},
		Files: []wire.File{{Path: "/src/p/importcfg", Hash: putBlob(t, s, []byte("# import config\n"))}},
	}
	for i := 0; i < 64; i++ {
		start.Files = append(start.Files, wire.File{Path: fmt.Sprintf("/src/p/f%02d.go", i), Hash: bh})
	}
	j, err := c.prepare(start)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(j.dir)
	used := diskUse(t, j.dir)
	t.Logf("job directory: %d bytes on disk for %d paths of a %d-byte blob", used, 64, len(big))
	if bound := int64(len(big)) + 1<<20; used > bound {
		t.Errorf("job directory takes %d bytes on disk, more than %d (the blob once, and its directories)", used, bound)
	}
	if used > s.cfg.CacheMax {
		t.Errorf("job directory takes %d bytes on disk, more than the worker's -cache-size %d", used, s.cfg.CacheMax)
	}
	stored, err := os.Stat(filepath.Join(s.cfg.CacheDir, "store", "blobs", hex.EncodeToString(bh)[:2], hex.EncodeToString(bh)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/src/p/f00.go", "/src/p/f63.go"} {
		info, err := os.Stat(j.root + p)
		if err != nil {
			t.Fatal(err)
		}
		if os.SameFile(info, stored) {
			t.Errorf("%s is the store's file of its blob", p)
		}
		if info.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s is writable: %v", p, info.Mode())
		}
	}
	if got, err := os.ReadFile(j.root + "/src/p/f63.go"); err != nil || !bytes.Equal(got, big) {
		t.Errorf("/src/p/f63.go: %d bytes, %v; want the blob's %d", len(got), err, len(big))
	}
}

// TestJobBounds: a job past the worker's bound of materialized files
// and directories, or of distinct input bytes, is refused before
// anything is written, with an error that names the bound; one at the
// bounds is materialized.
func TestJobBounds(t *testing.T) {
	s, c := newJobServer(t, Options{CacheMax: 64 << 20, JobFiles: 10, JobBytes: 1 << 20})
	cfg := putBlob(t, s, []byte("# import config\n"))
	small := putBlob(t, s, []byte("package p\n"))
	a := make([]byte, 600<<10)
	rand.Read(a)
	b := make([]byte, 600<<10)
	rand.Read(b)
	ha, hb := putBlob(t, s, a), putBlob(t, s, b)
	// start returns a Start of an importcfg in dir and the given files.
	start := func(dir string, files ...wire.File) *wire.Start {
		return &wire.Start{Cwd: "/", Args: []string{"-p", "p", "-importcfg", dir + "/importcfg", "-o", "/tmp/p.a", files[0].Path},
			Files: append([]wire.File{{Path: dir + "/importcfg", Hash: cfg}}, files...)}
	}
	sources := func(dir string, n int, h []byte) []wire.File {
		var fs []wire.File
		for i := 0; i < n; i++ {
			fs = append(fs, wire.File{Path: fmt.Sprintf("%s/f%d.go", dir, i), Hash: h})
		}
		return fs
	}
	deep := "/a/b/c/d/e/f/g/h" // 8 directories
	for _, tc := range []struct {
		what string
		m    *wire.Start
		want string // "" for a job that materializes
	}{
		{"9 files in a directory", start("/s", sources("/s", 8, small)...), ""},
		{"10 files in a directory", start("/s", sources("/s", 9, small)...), "11 files and directories, more than the worker's bound of 10"},
		{"2 files in 8 directories", start("/a", sources(deep, 1, small)...), ""},
		{"2 files in 9 directories", start("/a", sources(deep+"/i", 1, small)...), "11 files and directories, more than the worker's bound of 10"},
		{"a blob of 600 KiB under 3 paths", start("/s", sources("/s", 3, ha)...), ""},
		{"2 blobs of 600 KiB", start("/s", wire.File{Path: "/s/a.go", Hash: ha}, wire.File{Path: "/s/b.go", Hash: hb}),
			"inputs of 1228816 distinct bytes, more than the worker's bound of 1048576 bytes per job"},
	} {
		before, _ := os.ReadDir(s.cfg.CacheDir + "/jobs")
		j, err := c.prepare(tc.m)
		if j != nil {
			os.RemoveAll(j.dir)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.what, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error with %q", tc.what, err, tc.want)
		}
		if after, _ := os.ReadDir(s.cfg.CacheDir + "/jobs"); tc.want != "" && len(after) != len(before) {
			t.Errorf("%s: a refused job left %d job directories, %d before", tc.what, len(after), len(before))
		}
	}
	if _, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: s.cfg.Compile, JobFiles: -1}); err == nil ||
		!strings.Contains(err.Error(), "job files") {
		t.Errorf("a negative bound of job files: %v", err)
	}
}
