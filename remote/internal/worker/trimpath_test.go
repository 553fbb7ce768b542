// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/testutil"
)

// TestWholeTrimpathRules: client -trimpath rules that the worker's own
// rules once let through to the job directory (an empty rule, a rule
// without a prefix, a rule naming a directory above the job root) give
// the bytes of a local compile.
func TestWholeTrimpathRules(t *testing.T) {
	compile := testutil.Compile(t)
	s, addr := startServer(t, compile, nil)
	c, _ := dial(t, addr, nil, s.Toolchain())
	dir := t.TempDir()
	cwd, args := testutil.Package(t, compile, dir)
	env := testutil.Env(compile)
	// The cache dir is above every job root, and not above the sources.
	for i, trim := range []string{"", ";", "=>/x", "/nowhere=>/y;", s.cfg.CacheDir + "=>/c"} {
		a := append([]string(nil), args...)
		for j := range a {
			if strings.HasPrefix(a[j], "-trimpath=") {
				a[j] = "-trimpath=" + trim
			}
		}
		if exit, out := localCompile(t, compile, cwd, env, a); exit != 0 {
			t.Fatalf("local compile: exit %d\n%s", exit, out)
		}
		want, err := os.ReadFile(filepath.Join(dir, "p.a"))
		if err != nil {
			t.Fatal(err)
		}
		d := c.whole(c.run(cwd, a, env, ""))
		if d.Status != 0 || d.Exit != 0 {
			t.Fatalf("-trimpath=%q: %+v", trim, d)
		}
		if got := outputFiles(t, d)["o"]; !bytes.Equal(got, want) {
			t.Errorf("case %d, -trimpath=%q: the object differs from a local compile's", i, trim)
			if bytes.Contains(got, []byte(s.cfg.CacheDir)) {
				t.Errorf("it names the worker's cache dir")
			}
		}
	}
}

// TestRecordedMatchesCompile: the name cmdline.Recorded says a compile
// records for a source is the one the compile prints with -m (which it
// takes from what it records), for rules that match in every way the
// compiler's matching allows.
func TestRecordedMatchesCompile(t *testing.T) {
	compile := testutil.Compile(t)
	dir := filepath.Join(t.TempDir(), "Sub")
	src := filepath.Join(dir, "b001", "p.go")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(src, []byte("package p\n\nfunc F() int { return 1 }\n"), 0o644)
	cfg := filepath.Join(dir, "importcfg")
	os.WriteFile(cfg, []byte("# import config\n"), 0o644)
	lower := strings.ToLower(dir)
	for _, trim := range []string{"", ";", "=>z", dir + "=>x", lower + "=>x", strings.ReplaceAll(strings.ToUpper(dir), "/", "\\") + "=>y",
		src + "=>/_cgo_p.go", dir + "/b001=>", dir + "/b00=>n", dir + "=>a=>b", "/nowhere=>n;" + dir + "/b001;" + dir + "=>m"} {
		exit, out := localCompile(t, compile, dir, nil, []string{"-m", "-p=p", "-o", filepath.Join(dir, "p.a"), "-importcfg", cfg, "-trimpath", trim, src})
		name, _, ok := strings.Cut(string(out), ":3:6: can inline F")
		if exit != 0 || !ok {
			t.Fatalf("-trimpath=%q: exit %d\n%s", trim, exit, out)
		}
		if got := cmdline.Recorded(src, trim, ""); got != name {
			t.Errorf("-trimpath=%q: Recorded gives %q, the compile %q", trim, got, name)
		}
	}
}

// TestWholeCompileCacheDirLink: with a cache dir reached through a
// link, a compile's getcwd is not the job root as given; its objects
// must still be a local compile's, with no worker path.
func TestWholeCompileCacheDirLink(t *testing.T) {
	compile := testutil.Compile(t)
	link := filepath.Join(t.TempDir(), "cache")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	s, addr := startServerOptions(t, Options{Slots: 1, CacheDir: link, CacheMax: 64 << 20, Compile: compile, JobTimeout: time.Minute})
	dir := t.TempDir()
	cwd, args := testutil.Package(t, compile, dir)
	env := testutil.Env(compile)
	if exit, out := localCompile(t, compile, cwd, env, args); exit != 0 {
		t.Fatalf("local compile: exit %d\n%s", exit, out)
	}
	want, err := os.ReadFile(filepath.Join(dir, "p.a"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := dial(t, addr, nil, s.Toolchain())
	d := c.whole(c.run(cwd, args, env, ""))
	if d.Status != 0 || d.Exit != 0 {
		t.Fatalf("%+v", d)
	}
	if got := outputFiles(t, d)["o"]; !bytes.Equal(got, want) {
		t.Errorf("the object differs from a local compile's")
		if bytes.Contains(got, []byte("/jobs/")) {
			t.Errorf("it names a job dir")
		}
	}
}
