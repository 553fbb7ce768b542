// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func blob(i, size int) []byte {
	return bytes.Repeat([]byte{byte(i)}, size)
}

func TestPutMaterialize(t *testing.T) {
	s, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("package p\n")
	if s.Has(sum(data)) {
		t.Fatal("empty store has a blob")
	}
	if err := s.Put(sum(data), data); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(sum([]byte("other")), data); !errors.Is(err, ErrHash) {
		t.Fatalf("wrong hash: %v", err)
	}
	if err := s.Put([]byte{1}, data); !errors.Is(err, ErrHash) {
		t.Fatalf("short hash: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "p.go")
	if err := s.Materialize(sum(data), dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatalf("materialized %q", got)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("materialized file is writable: %v", fi.Mode())
	}
	if err := s.Materialize(sum([]byte("absent")), dst+"2"); err == nil {
		t.Error("materialized an absent blob")
	}
}

// TestLRU fills the store past its bound: the least recently used blobs
// go, the recently used stay, and the size stays within the bound.
func TestLRU(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := s.Put(sum(blob(i, 300)), blob(i, 300)); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			s.Has(sum(blob(0, 300))) // 0 is now more recent than 1 and 2
		}
	}
	for i, want := range []bool{true, false, true, true} {
		if s.Has(sum(blob(i, 300))) != want {
			t.Errorf("blob %d present=%v, want %v", i, !want, want)
		}
	}
	if size, n, ev := s.Stats(); size != 900 || n != 3 || ev != 1 {
		t.Errorf("size %d, %d blobs, %d evictions; want 900, 3, 1", size, n, ev)
	}
	// A blob larger than the bound is kept alone.
	if err := s.Put(sum(blob(9, 2000)), blob(9, 2000)); err != nil {
		t.Fatal(err)
	}
	if size, n, _ := s.Stats(); size != 2000 || n != 1 {
		t.Errorf("after a big blob: size %d, %d blobs", size, n)
	}
	// Reopening indexes what is on disk and drops crash leftovers.
	os.WriteFile(filepath.Join(dir, "tmp", "partial"), []byte("x"), 0o644)
	s2, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Has(sum(blob(9, 2000))) {
		t.Error("reopened store lost a blob")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("temporary files survive Open: %v", ents)
	}
}

// TestConcurrent writes, checks and materializes blobs from many
// goroutines at once, two stores sharing one directory (as two processes
// would), within a bound that forces evictions.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	const max = 20 * 1024
	s1, err := Open(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			s := s1
			if g%2 == 1 {
				s = s2
			}
			for i := 0; i < 50; i++ {
				b := blob(i%20, 1024+i%20)
				if err := s.Put(sum(b), b); err != nil {
					errs <- err
					return
				}
				dst := filepath.Join(out, fmt.Sprintf("%d-%d", g, i))
				// Another goroutine may evict it meanwhile; a successful
				// materialization must give the right content.
				if err := s.Materialize(sum(b), dst); err == nil {
					if got, _ := os.ReadFile(dst); !bytes.Equal(got, b) {
						errs <- fmt.Errorf("blob %d: wrong content", i)
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range []*Store{s1, s2} {
		if size, _, ev := s.Stats(); size > max || ev == 0 {
			t.Errorf("size %d (bound %d), %d evictions", size, max, ev)
		}
	}
	// Every blob file on disk has the content its name says.
	filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			if fmt.Sprintf("%x", sum(b)) != d.Name() {
				t.Errorf("%s holds other content", p)
			}
		}
		return nil
	})
}
