// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tamper rewrites a stored blob's file behind the store's back.
func tamper(t *testing.T, s *Store, hash, data []byte) {
	t.Helper()
	p := s.path(hex.EncodeToString(hash))
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptBlob: a blob whose file no longer matches its hash is not
// served by Materialize or Read; it is removed, counted, and reported
// missing, so that the client uploads it again.
func TestCorruptBlob(t *testing.T) {
	s, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := t.TempDir()
	for i, damage := range []func([]byte) []byte{
		func(b []byte) []byte { c := bytes.Clone(b); c[3] ^= 1; return c }, // a flipped bit
		func(b []byte) []byte { return b[:len(b)-1] },                      // truncated
		func(b []byte) []byte { return append(bytes.Clone(b), '\n') },      // grown
	} {
		for _, use := range []string{"Materialize", "Read"} {
			data := []byte(fmt.Sprintf("package p%d // %s\n", i, use))
			if err := s.Put(sum(data), data); err != nil {
				t.Fatal(err)
			}
			tamper(t, s, sum(data), damage(data))
			before := s.Corruptions()
			dst := filepath.Join(out, fmt.Sprintf("%d-%s.go", i, use))
			if use == "Materialize" {
				err = s.Materialize(sum(data), dst)
				if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
					t.Errorf("damage %d: Materialize left %s: %v", i, dst, serr)
				}
			} else {
				_, err = s.Read(sum(data))
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), s.path(hex.EncodeToString(sum(data)))) {
				t.Errorf("damage %d: %s of a damaged blob: %v", i, use, err)
			}
			if s.Has(sum(data)) {
				t.Errorf("damage %d: %s: the damaged blob is still in the index", i, use)
			}
			if _, err := os.Stat(s.path(hex.EncodeToString(sum(data)))); !os.IsNotExist(err) {
				t.Errorf("damage %d: %s: the damaged file is still there: %v", i, use, err)
			}
			if s.Corruptions() != before+1 {
				t.Errorf("damage %d: %s: %d corruptions, want %d", i, use, s.Corruptions(), before+1)
			}
			if err := s.Materialize(sum(data), dst+".again"); !errors.Is(err, ErrMissing) {
				t.Errorf("damage %d: %s: a removed blob: %v, want ErrMissing", i, use, err)
			}
			// Uploaded again, it is served.
			if err := s.Put(sum(data), data); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Read(sum(data)); err != nil || !bytes.Equal(got, data) {
				t.Errorf("damage %d: %s: after a new upload: %q, %v", i, use, got, err)
			}
		}
	}
	if size, n, _ := s.Stats(); int(size) != sizeOnDisk(t, s) || n != 6 {
		t.Errorf("index says %d bytes in %d blobs, disk %d", size, n, sizeOnDisk(t, s))
	}
}

func sizeOnDisk(t *testing.T, s *Store) int {
	n := 0
	filepath.WalkDir(filepath.Join(s.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			n += int(info.Size())
		}
		return nil
	})
	return n
}

// TestMaterializeIsolated: a job that makes its materialized input
// writable and writes it (as its own user can, and root always can)
// changes its copy only, never the stored blob.
func TestMaterializeIsolated(t *testing.T) {
	s, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte("package p\n")
	if err := s.Put(sum(data), data); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "p.go")
	if err := s.Materialize(sum(data), dst); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(dst)
	b, _ := os.Stat(s.path(hex.EncodeToString(sum(data))))
	if os.SameFile(a, b) {
		t.Error("the materialized file is the stored blob's file")
	}
	if err := os.Chmod(dst, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("package evil\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(sum(data)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("after a job wrote its input, the store reads %q, %v", got, err)
	}
}

// TestPrivate: the store's directories are 0700 and its files readable
// by their owner only, also in a store an older worker created open.
func TestPrivate(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Join(dir, "blobs", "ab"), filepath.Join(dir, "actions", "cd"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755)
	}
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte("secret source\n")
	if err := s.Put(sum(data), data); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAction(sum([]byte("k")), &Action{Outputs: []ActionFile{{"o", sum(data), int64(len(data))}}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		info, _ := d.Info()
		switch mode := info.Mode().Perm(); {
		case d.IsDir() && mode != 0o700:
			t.Errorf("directory %s has mode %v, want 0700", p, mode)
		case !d.IsDir() && mode&0o077 != 0:
			t.Errorf("file %s has mode %v, want no group or other bits", p, mode)
		}
		n++
		return nil
	})
	if n < 8 {
		t.Errorf("walked %d entries; the test expects the blob, the action and their directories", n)
	}
}

// TestLock: a second Open of a store in use fails, naming the directory
// and the holder's pid; once the first is closed, it succeeds.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, 1<<20)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("a second Open: %v; want an error naming %s and pid %d", err, dir, os.Getpid())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// TestActionRecordChecked: a record changed on disk, even into other
// valid JSON, or moved to another key, is a miss and is removed.
func TestActionRecordChecked(t *testing.T) {
	s, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	obj := []byte("object file")
	if err := s.Put(sum(obj), obj); err != nil {
		t.Fatal(err)
	}
	k1, k2 := sum([]byte("key 1")), sum([]byte("key 2"))
	a := &Action{Exit: 0, Output: []byte("ok\n"), Outputs: []ActionFile{{"o", sum(obj), int64(len(obj))}}}
	put := func() []byte {
		if err := s.PutAction(k1, a); err != nil {
			t.Fatal(err)
		}
		rec, err := os.ReadFile(s.actionPath(hex.EncodeToString(k1)))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	for name, change := range map[string]func(rec []byte){
		"exit status changed": func(rec []byte) {
			os.WriteFile(s.actionPath(hex.EncodeToString(k1)), bytes.Replace(rec, []byte(`"Exit":0`), []byte(`"Exit":1`), 1), 0o600)
		},
		"output size changed": func(rec []byte) {
			os.WriteFile(s.actionPath(hex.EncodeToString(k1)), bytes.Replace(rec, []byte(fmt.Sprintf(`"Size":%d`, len(obj))), []byte(`"Size":3`), 1), 0o600)
		},
		"moved to another key": func(rec []byte) {
			os.Remove(s.actionPath(hex.EncodeToString(k1)))
			os.MkdirAll(filepath.Dir(s.actionPath(hex.EncodeToString(k2))), 0o700)
			os.WriteFile(s.actionPath(hex.EncodeToString(k2)), rec, 0o600)
		},
	} {
		rec := put()
		if got, ok := s.GetAction(k1); !ok || !reflect.DeepEqual(got, a) {
			t.Fatalf("%s: the record as put: %+v, %v", name, got, ok)
		}
		change(rec)
		for _, k := range [][]byte{k1, k2} {
			if got, ok := s.GetAction(k); ok {
				t.Errorf("%s: key %.4x: served %+v", name, k, got)
			}
			if _, err := os.Stat(s.actionPath(hex.EncodeToString(k))); !os.IsNotExist(err) {
				t.Errorf("%s: key %.4x: the record is still on disk: %v", name, k, err)
			}
		}
	}
}

func FuzzActionRecord(f *testing.F) {
	key := sum([]byte("key"))
	for _, a := range []*Action{
		{},
		{Exit: 2, Output: []byte("x.go:1:1: error\n")},
		{Output: []byte("ok"), Outputs: []ActionFile{{"o", sum([]byte("o")), 1}, {"asmhdr", sum([]byte("h")), 0}}},
	} {
		rec, err := encodeAction(key, a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
	}
	f.Add([]byte("{}"))
	f.Add([]byte("0000\n{}"))
	f.Add([]byte(`{"Exit":1,"Output":"eA==","Outputs":[{"Name":"o","Hash":"` + strings.Repeat("A", 43) + `=","Size":1}]}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		// As it is, and as the JSON of a record with the right checksum,
		// so that the fuzzer reaches the checks behind the checksum.
		check := func(rec []byte) {
			a, err := decodeAction(key, rec)
			if err != nil {
				return
			}
			again, err := encodeAction(key, a)
			if err != nil {
				t.Fatalf("re-encoding %+v: %v", a, err)
			}
			b, err := decodeAction(key, again)
			if err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("round trip of %+v: %+v, %v", a, b, err)
			}
			if _, err := decodeAction(sum([]byte("other key")), again); err == nil {
				t.Fatal("a record decodes under another key")
			}
		}
		check(rec)
		check(append([]byte(recordSum(key, rec)+"\n"), rec...))
	})
}
