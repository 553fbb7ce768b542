// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestWrapper runs the wrapper under 'go build -toolexec' on a two-package
// module, with the toolchain's own compiler as the reference: the build
// must compare equal, and a flag that changes code generation (-N), given
// to the real compile only, must be reported for both packages.
func TestWrapper(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("no go command in GOROOT: %v", err)
	}
	dir := t.TempDir()
	goCmd := func(wd string, args ...string) (string, error) {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = wd
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local", "GOCACHE="+filepath.Join(dir, "cache"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	wrapper := filepath.Join(dir, "distssa-objcmp")
	if out, err := goCmd(".", "build", "-o", wrapper, "."); err != nil {
		t.Fatalf("building the wrapper: %v\n%s", err, out)
	}
	toolDir, err := goCmd(".", "env", "GOTOOLDIR")
	if err != nil {
		t.Fatal(err)
	}
	compile := filepath.Join(strings.TrimSpace(toolDir), "compile")

	mod := filepath.Join(dir, "m")
	files := map[string]string{
		"go.mod": "module m\n\ngo 1.21\n",
		"a/a.go": "package a\n\ntype T struct{ X, Y int }\n\nfunc (t T) Sum() int { return t.X + t.Y }\n\nfunc Loop(n int) (s int) {\n\tfor i := 0; i < n; i++ {\n\t\ts += i * i\n\t}\n\treturn\n}\n",
		"b/b.go": "package b\n\nimport \"m/a\"\n\nfunc F(n int) int { return a.T{X: n, Y: a.Loop(n)}.Sum() }\n",
	}
	for name, src := range files {
		p := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o666); err != nil {
			t.Fatal(err)
		}
	}

	refCache := filepath.Join(dir, "refcache")
	build := func(name string, extra string, cache bool) string {
		logDir := filepath.Join(dir, name)
		toolexec := wrapper + " -ref=" + compile + " -log=" + logDir
		if extra != "" {
			toolexec += " -args=" + extra
		}
		if cache {
			toolexec += " -refcache=" + refCache
		}
		os.RemoveAll(filepath.Join(dir, "cache"))
		if out, err := goCmd(mod, "build", "-a", "-toolexec", toolexec, "./..."); err != nil {
			t.Fatalf("go build (%s): %v\n%s", name, err, out)
		}
		res, err := os.ReadFile(filepath.Join(logDir, "results"))
		if err != nil {
			t.Fatal(err)
		}
		return string(res)
	}

	same := build("same", "", false)
	for _, want := range []string{"ok m/a\n", "ok m/b\n"} {
		if !strings.Contains(same, want) {
			t.Errorf("same compiler: results lack %q:\n%s", want, same)
		}
	}
	if strings.Contains(same, "FAIL") {
		t.Errorf("same compiler reported a difference:\n%s", same)
	}

	diff := build("diff", "-N", false)
	for _, want := range []string{"FAIL m/a: _pkg_.a: ", "FAIL m/b: _pkg_.a: "} {
		if !strings.Contains(diff, want) {
			t.Errorf("-N on one side: results lack %q:\n%s", want, diff)
		}
	}

	// With -refcache, a second build takes its reference compiles from
	// the first's, and judges the same: equal, or -N reported.
	hits := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name, "refhits"))
		return string(b)
	}
	for _, tc := range []struct {
		name, extra, hits string
		want              []string
	}{
		{"fill", "", "", []string{"ok m/a\n", "ok m/b\n"}},
		{"hit", "", "m/a\nm/b\n", []string{"ok m/a\n", "ok m/b\n"}},
		// m/b's -buildid follows m/a's real object, which -N changed:
		// its reference compile is another one.
		{"hitdiff", "-N", "m/a\n", []string{"FAIL m/a: _pkg_.a: ", "FAIL m/b: _pkg_.a: "}},
	} {
		res := build(tc.name, tc.extra, true)
		for _, w := range tc.want {
			if !strings.Contains(res, w) {
				t.Errorf("-refcache, %s: results lack %q:\n%s", tc.name, w, res)
			}
		}
		if tc.extra == "" && strings.Contains(res, "FAIL") {
			t.Errorf("-refcache, %s: a difference reported:\n%s", tc.name, res)
		}
		if got := hits(tc.name); got != tc.hits && !(tc.hits != "" && got == "m/b\nm/a\n") {
			t.Errorf("-refcache, %s: reference compiles from the cache: %q, want %q", tc.name, got, tc.hits)
		}
	}
	// A changed source misses for its package and for the package that
	// imports it.
	if err := os.WriteFile(filepath.Join(mod, "a/a.go"), []byte(files["a/a.go"]+"\nfunc New() int { return 2 }\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if res := build("changed", "", true); strings.Contains(res, "FAIL") || hits("changed") != "" {
		t.Errorf("-refcache after a change: reference compiles from the cache %q, results:\n%s", hits("changed"), res)
	}
}
