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

	build := func(name string, extra string) string {
		logDir := filepath.Join(dir, name)
		toolexec := wrapper + " -ref=" + compile + " -log=" + logDir
		if extra != "" {
			toolexec += " -args=" + extra
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

	same := build("same", "")
	for _, want := range []string{"ok m/a\n", "ok m/b\n"} {
		if !strings.Contains(same, want) {
			t.Errorf("same compiler: results lack %q:\n%s", want, same)
		}
	}
	if strings.Contains(same, "FAIL") {
		t.Errorf("same compiler reported a difference:\n%s", same)
	}

	diff := build("diff", "-N")
	for _, want := range []string{"FAIL m/a: _pkg_.a: ", "FAIL m/b: _pkg_.a: "} {
		if !strings.Contains(diff, want) {
			t.Errorf("-N on one side: results lack %q:\n%s", want, diff)
		}
	}
}
