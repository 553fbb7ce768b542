// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"distssa/remote/internal/wire"
)

// TestPrepareArgs checks the command line and environment a job runs
// with (PROTOCOL.md §1, "What the worker runs"), without running it.
func TestPrepareArgs(t *testing.T) {
	exe, _ := os.Executable() // any file: only its hash is taken
	s, err := New(Options{Slots: 1, CacheDir: t.TempDir(), CacheMax: 1 << 20, Compile: exe})
	if err != nil {
		t.Fatal(err)
	}
	put := func(content string) []byte {
		h := wire.Hash([]byte(content))
		if err := s.store.Put(h, []byte(content)); err != nil {
			t.Fatal(err)
		}
		return h
	}
	c := &conn{s: s, goos: "linux", goarch: "arm64"}
	start := &wire.Start{
		Cwd: "/home/u/m/p",
		Args: []string{"-o", "/tmp/w/b001/_pkg_.a", "-trimpath", "/tmp/w/b001=>", "-p", "m/p", "-N", "-l=true",
			"-symabis", "/tmp/w/b001/symabis", "-asmhdr", "/tmp/w/b001/go_asm.h", "-memprofilerate=1",
			"-importcfg", "/tmp/w/b001/importcfg", "-distssa=unix:/tmp/s", "-v", "./a.go", "/home/u/m/p/b.go"},
		Env: []string{"GOROOT=/usr/lib/go", "GOOS=windows", "GOAMD64=v3", "PATH=/bin", "GOX\x00=1"},
		Files: []wire.File{
			{Path: "/home/u/m/p/a.go", Hash: put("package p\n")},
			{Path: "/home/u/m/p/b.go", Hash: put("package p // b\n")},
			{Path: "/tmp/w/b001/symabis", Hash: put("def a\n")},
			{Path: "/tmp/w/b001/importcfg", Hash: put("packagefile fmt=/home/u/.cache/go-build/ab/abcd-d\n")},
			{Path: "/home/u/.cache/go-build/ab/abcd-d", Hash: put("export data")},
		},
	}
	j, err := c.prepare(start)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(j.dir)
	R := j.root
	want := []string{
		"-distssaworker=" + j.out,
		"-o=" + j.out + "/o.out", "-p=m/p", "-N", "-l=true",
		"-symabis=" + R + "/tmp/w/b001/symabis", "-asmhdr=" + j.out + "/asmhdr.out",
		"-importcfg=" + j.dir + "/cfg/importcfg",
		"-trimpath=" + R + "/tmp/w/b001=>;" + R + "/usr/lib/go=>$GOROOT;" +
			R + "/home=>/home;" + R + "/tmp=>/tmp;/tmp/w/b001=>",
		"--", "./a.go", R + "/home/u/m/p/b.go",
	}
	if !reflect.DeepEqual(j.args, want) {
		t.Errorf("args:\n%s\nwant:\n%s", strings.Join(j.args, "\n"), strings.Join(want, "\n"))
	}
	if j.cwd != R+"/home/u/m/p" {
		t.Errorf("cwd %s", j.cwd)
	}
	wantEnv := []string{"GOROOT=/usr/lib/go", "GOAMD64=v3", "GOOS=linux", "GOARCH=arm64", "TMPDIR=" + j.dir + "/tmp"}
	if !reflect.DeepEqual(j.env, wantEnv) {
		t.Errorf("env %q, want %q", j.env, wantEnv)
	}
	cfg, _ := os.ReadFile(j.dir + "/cfg/importcfg")
	if string(cfg) != "packagefile fmt="+R+"/home/u/.cache/go-build/ab/abcd-d\n" {
		t.Errorf("importcfg %q", cfg)
	}
	if b, err := os.ReadFile(R + "/home/u/m/p/a.go"); err != nil || string(b) != "package p\n" {
		t.Errorf("materialized a.go: %q %v", b, err)
	}
}
