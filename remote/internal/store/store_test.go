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
	"reflect"
	"strings"
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
	s.Close()
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
// goroutines at once, within a bound that forces evictions.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	const max = 20 * 1024
	s, err := Open(dir, max)
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
				} else if !errors.Is(err, ErrMissing) {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if size, _, ev := s.Stats(); size > max || ev == 0 {
		t.Errorf("size %d (bound %d), %d evictions", size, max, ev)
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
	if n := s.Corruptions(); n != 0 {
		t.Errorf("%d corruptions", n)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("export data")
	if _, err := s.Read(sum(data)); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "is not in the worker's store") {
		t.Fatalf("Read of an absent blob: %v", err)
	}
	if err := s.Put(sum(data), data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(sum(data)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Read: %q, %v", got, err)
	}
	// A blob file changed behind the store's back is not served.
	p := filepath.Join(dir, "blobs", fmt.Sprintf("%x", sum(data))[:2], fmt.Sprintf("%x", sum(data)))
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(sum(data)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a changed blob: %v", err)
	}
}

// TestActions stores action records: a record comes back as it was put,
// a record whose output blob was evicted is a miss and is removed, and
// Open forgets records whose blobs are gone.
func TestActions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	obj, hdr := blob(1, 300), blob(2, 100)
	for _, b := range [][]byte{obj, hdr} {
		if err := s.Put(sum(b), b); err != nil {
			t.Fatal(err)
		}
	}
	k1, k2 := sum([]byte("action 1")), sum([]byte("action 2"))
	a1 := &Action{Exit: 0, Output: []byte("warning\n"), Outputs: []ActionFile{{"o", sum(obj), 300}, {"asmhdr", sum(hdr), 100}}}
	a2 := &Action{Outputs: []ActionFile{{"o", sum(hdr), 100}}}
	if err := s.PutAction(k1, a1); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAction(k2, a2); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.GetAction(k1); !ok || !reflect.DeepEqual(got, a1) {
		t.Fatalf("GetAction: %+v %v, want %+v", got, ok, a1)
	}
	if _, ok := s.GetAction(sum([]byte("other"))); ok {
		t.Fatal("hit on a key never put")
	}
	if err := s.PutAction(sum([]byte("x")), &Action{Outputs: []ActionFile{{"o", sum([]byte("absent")), 6}}}); err == nil ||
		!strings.Contains(err.Error(), "output o") {
		t.Fatalf("PutAction naming an absent blob: %v", err)
	}
	if err := s.PutAction([]byte{1, 2}, a2); err == nil || !strings.Contains(err.Error(), "not a sha256") {
		t.Fatalf("PutAction with a short key: %v", err)
	}
	// Two blobs of 400 push the store past its bound: obj, used less
	// recently than hdr, is evicted.
	s.Has(sum(hdr))
	for i := 3; i < 5; i++ {
		if err := s.Put(sum(blob(i, 400)), blob(i, 400)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Has(sum(obj)) || !s.Has(sum(hdr)) {
		t.Fatalf("eviction went otherwise than the test assumes: obj %v hdr %v", s.Has(sum(obj)), s.Has(sum(hdr)))
	}
	if _, ok := s.GetAction(k1); ok {
		t.Fatal("hit on a record whose output blob was evicted")
	}
	if _, err := os.Stat(s.actionPath(fmt.Sprintf("%x", k1))); !os.IsNotExist(err) {
		t.Errorf("stale record survives a miss: %v", err)
	}
	if _, ok := s.GetAction(k2); !ok {
		t.Fatal("miss on a record whose blob is present")
	}
	// Open drops a record whose blob is gone.
	os.Remove(s.path(fmt.Sprintf("%x", sum(hdr))))
	s.Close()
	s2, err := Open(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s2.actionPath(fmt.Sprintf("%x", k2))); !os.IsNotExist(err) {
		t.Errorf("Open kept a record whose blob is gone: %v", err)
	}
}
