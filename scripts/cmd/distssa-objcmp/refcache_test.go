// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRefKey: a reference compile's key follows the content of every
// file it reads (sources, the importcfg's packages, the embedcfg's
// files) and the GO* environment, but not the go command's work
// directory, the reference outputs' directory or GOCACHE; a compile that
// writes other files has none.
func TestRefKey(t *testing.T) {
	*refCompile = os.Args[0]
	dir := t.TempDir()
	write := func(name, s string) string {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, name)
		}
		os.MkdirAll(filepath.Dir(p), 0o777)
		if err := os.WriteFile(p, []byte(s), 0o666); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("src/a.go", "package a\n")
	dep := write("ref/dep/o", "dep object")
	emb := write("src/data.txt", "embedded")
	work := func(w string) string {
		write(w+"/embedcfg", `{"Patterns":{"data.txt":["data.txt"]},"Files":{"data.txt":"`+emb+`"}}`)
		return w
	}
	args := func(w, base string) []string {
		write(base+"/importcfg", "# import config\npackagefile dep="+dep+"\n")
		return []string{"-p", "a", "-buildid", "x/x", "-trimpath", w + "=>", "-importcfg", base + "/importcfg",
			"-embedcfg", w + "/embedcfg", "-o", base + "/o", "-asmhdr=" + base + "/asmhdr", "./a.go"}
	}
	src := filepath.Join(dir, "src")
	key := func(w, base string, extra ...string) string {
		t.Helper()
		k, err := refKey(append(args(w, base), extra...), src, base)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	w1 := work(dir + "/tmp/go-build111/b001")
	w2 := work(dir + "/tmp/go-build222/b042")
	b1, b2 := dir+"/ref/a-1", dir+"/ref/a-2"
	t.Setenv("GOAMD64", "v1") // changed below
	k := key(w1, b1)
	if k == "" {
		t.Fatal("no key")
	}
	if k2 := key(w2, b2); k2 != k {
		t.Errorf("another $WORK/bNNN and reference dir: another key")
	}
	t.Setenv("GOCACHE", dir+"/other-cache")
	if key(w1, b1) != k {
		t.Errorf("another GOCACHE: another key")
	}
	for _, tc := range []struct {
		name   string
		change func()
		undo   func()
	}{
		{"a source", func() { write("src/a.go", "package a // changed\n") }, func() { write("src/a.go", "package a\n") }},
		{"an imported package", func() { write("ref/dep/o", "dep object, changed") }, func() { write("ref/dep/o", "dep object") }},
		{"an embedded file", func() { write("src/data.txt", "changed") }, func() { write("src/data.txt", "embedded") }},
		{"GOAMD64", func() { os.Setenv("GOAMD64", "v3") }, func() { os.Setenv("GOAMD64", "v1") }},
	} {
		tc.change()
		if key(w1, b1) == k {
			t.Errorf("%s changed: the same key", tc.name)
		}
		tc.undo()
		if key(w1, b1) != k {
			t.Errorf("%s changed back: another key", tc.name)
		}
	}
	for _, f := range [][]string{{"-coveragecfg=" + dir + "/cov"}, {"-I", dir}} {
		if k := key(w1, b1, f...); k != "" {
			t.Errorf("%q: a key %s, want none", f, k)
		}
	}
}
