// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
)

// TestStdPackage compiles strconv on a worker the way the go command
// compiles it (files relative to the package directory in GOROOT, an
// importcfg naming the build cache's export data, -trimpath of the work
// directory, -std): the worker's front end must reach the client's
// fingerprint, so every position it records is the client's.
func TestStdPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short mode: needs strconv's dependencies built")
	}
	compile := testutil.Compile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	list := func(args ...string) string {
		out, err := exec.CommandContext(ctx, testutil.GoCmd(compile), append([]string{"list"}, args...)...).Output()
		if err != nil {
			testutil.Missing(t, "go list: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	cfgText := list("-export", "-deps", "-f", `{{if .Export}}packagefile {{.ImportPath}}={{.Export}}{{end}}`, "strconv")
	pkgDir := list("-f", "{{.Dir}}", "strconv")
	files := strings.Fields(list("-f", `{{range .GoFiles}}./{{.}} {{end}}`, "strconv"))
	work := t.TempDir()
	cfg := filepath.Join(work, "b001", "importcfg")
	os.MkdirAll(filepath.Dir(cfg), 0o755)
	os.WriteFile(cfg, []byte("# import config\n"+cfgText+"\n"), 0o644)
	args := append([]string{"-o", filepath.Join(work, "b001", "_pkg_.a"), "-trimpath", work + "/b001=>", "-p", "strconv",
		"-std", "-complete", "-dwarf=false", "-c=1", "-nolocalimports", "-importcfg", cfg, "-pack"}, files...)
	env := testutil.Env(compile)
	fp := testutil.Fingerprint(t, compile, pkgDir, env, args...)

	s, addr := startServer(t, compile, nil)
	c, _ := dial(t, addr, nil, s.Toolchain())
	t0 := time.Now()
	c.send(c.upload(pkgDir, append([]string{"-d=distssafingerprint=1"}, args...), env))
	if m, ok := c.recv().(*wire.Started); !ok {
		t.Fatalf("start: %#v", m)
	}
	t1 := time.Now()
	job := testutil.Job(fp, "strconv.ParseBool<ABIInternal>", "strconv.FormatInt<ABIInternal>")
	c.send(&wire.Job{Size: uint64(len(job)), Data: wire.Compress(job)})
	r := c.recv().(*wire.Result)
	t2 := time.Now()
	t.Logf("strconv: hash+query+upload+start %v, job to result (front end, backend of 2 functions) %v", t1.Sub(t0), t2.Sub(t1))
	data, err := wire.Decompress(r.Data, r.Size)
	if err != nil || r.Status != 0 || !testutil.IsResult(data) {
		t.Fatalf("status %d %q, %d bytes, %v", r.Status, r.Msg, len(data), err)
	}
	// The same job in a local worker process (what the exec transport
	// runs) gives the same bytes, but for the worker's times.
	out := t.TempDir()
	local := exec.CommandContext(ctx, compile, append([]string{"-distssaworker=" + out, "-d=distssafingerprint=1"}, args...)...)
	local.Dir, local.Env, local.Stdin = pkgDir, append(os.Environ(), env...), bytes.NewReader(job)
	if msg, err := local.CombinedOutput(); err != nil {
		t.Fatalf("local worker: %v\n%s", err, msg)
	}
	if want, err := os.ReadFile(filepath.Join(out, "result")); err != nil || !bytes.Equal(testutil.WithoutPhases(data), testutil.WithoutPhases(want)) {
		t.Fatalf("remote result (%d bytes) differs from the local worker's (%d bytes, %v)", len(data), len(want), err)
	}
	t.Logf("strconv: %d inputs, %d bytes uploaded as %d zstd bytes; result of 2 functions: %d bytes",
		len(strings.Split(cfgText, "\n"))+len(files)+1, c.raw, c.zst, len(data))
}

// TestEmbed runs a package with //go:embed on a worker: the -embedcfg
// file and the files it names are uploaded and rewritten, and the
// fingerprint is the client's.
func TestEmbed(t *testing.T) {
	compile := testutil.Compile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testutil.GoCmd(compile), "list", "-export", "-deps", "-f",
		`{{if .Export}}packagefile {{.ImportPath}}={{.Export}}{{end}}`, "embed").Output()
	if err != nil {
		testutil.Missing(t, "go list: %v", err)
	}
	dir := t.TempDir()
	pkg := filepath.Join(dir, "m", "e")
	os.MkdirAll(pkg, 0o755)
	os.WriteFile(filepath.Join(pkg, "e.go"), []byte(`package e

import _ "embed"

//go:embed hello.txt
var Hello string

func Len() int { return len(Hello) + 1 }
`), 0o644)
	os.WriteFile(filepath.Join(pkg, "hello.txt"), []byte("hello\n"), 0o644)
	cfg := filepath.Join(dir, "importcfg")
	os.WriteFile(cfg, append([]byte("# import config\n"), out...), 0o644)
	ecfg := filepath.Join(dir, "embedcfg")
	os.WriteFile(ecfg, []byte(`{"Patterns":{"hello.txt":["hello.txt"]},"Files":{"hello.txt":"`+filepath.Join(pkg, "hello.txt")+`"}}`), 0o644)
	args := []string{"-o", filepath.Join(dir, "e.a"), "-p", "m/e", "-dwarf=false", "-importcfg", cfg, "-embedcfg", ecfg, "-pack", "./e.go"}
	env := testutil.Env(compile)
	fp := testutil.Fingerprint(t, compile, pkg, env, args...)

	s, addr := startServer(t, compile, nil)
	c, _ := dial(t, addr, nil, s.Toolchain())
	st := c.upload(pkg, args, env)
	if len(st.Files) < 4 {
		t.Fatalf("uploaded %d files, want the source, both configs, hello.txt and export data", len(st.Files))
	}
	c.send(st)
	if m, ok := c.recv().(*wire.Started); !ok {
		t.Fatalf("start: %#v", m)
	}
	job := testutil.Job(fp, "m/e.Len<ABIInternal>")
	c.send(&wire.Job{Size: uint64(len(job)), Data: wire.Compress(job)})
	r := c.recv().(*wire.Result)
	if r.Status != 0 {
		t.Fatalf("status %d: %s", r.Status, r.Msg)
	}
}
