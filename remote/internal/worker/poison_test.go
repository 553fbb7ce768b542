// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"distssa/remote/internal/testutil"
	"distssa/remote/internal/wire"
)

// put uploads files (path → content) and returns the Files that name
// them, in path order.
func (c *client) put(files map[string]string) []wire.File {
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var blobs []wire.Blob
	var l []wire.File
	for _, p := range paths {
		b := []byte(files[p])
		h := wire.Hash(b)
		blobs = append(blobs, wire.Blob{Hash: h, Size: uint64(len(b)), Data: wire.Compress(b)})
		l = append(l, wire.File{Path: p, Hash: h})
	}
	c.send(&wire.Upload{Blobs: blobs})
	return l
}

// goRun returns the RunWhole of package p as the go command sends it, with
// its work dir at work: source ./p.go in cwd, the importcfg and outputs
// in work/b001, -trimpath "work/b001=>" and then the rules of more.
func goRun(c *client, work, cwd, src string, env []string, more ...string) *wire.RunWhole {
	trim := strings.Join(append([]string{work + "/b001=>"}, more...), ";")
	args := []string{"-o", work + "/b001/_pkg_.a", "-trimpath", trim, "-p", "p", "-pack", "-importcfg", work + "/b001/importcfg", "./p.go"}
	files := c.put(map[string]string{cwd + "/p.go": src, work + "/b001/importcfg": "# import config\n"})
	return &wire.RunWhole{Cwd: cwd, Args: args, Env: env, Files: files, Work: work}
}

// TestWholePoison: a client sends a RunWhole meant to leave in the result
// cache, under the key of a go command's compile, a result that the
// go command's compile would not give. Then the go command's RunWhole gets
// what a fresh worker gives it, not the first client's result.
func TestWholePoison(t *testing.T) {
	compile := testutil.Compile(t)
	dir := t.TempDir()
	cwd := filepath.Join(dir, "src", "p")
	env := testutil.Env(compile)
	const w, w2 = "/tmp/go-build111", "/tmp/go-build222"
	const plain = "package p\n\nfunc F(a, b int) int { return a*b + 1 }\n"
	const ldflag = "package p\n\n//go:cgo_ldflag \"-evil\"\n\nfunc F() int { return 1 }\n"
	line := "package p\n\n//line " + w + "/b001/x.go:1\nfunc F() int { return 1 }\n"
	const inlinable = "package p\n\nfunc F() int { return 1 }\n"
	// upper changes the case of the first letter of the top-level
	// directory of dir.
	top, _, _ := strings.Cut(strings.TrimPrefix(dir, "/"), "/")
	upper := []rune(top)
	if unicode.IsUpper(upper[0]) {
		upper[0] = unicode.ToLower(upper[0])
	} else {
		upper[0] = unicode.ToUpper(upper[0])
	}

	// inline is a compile with -m of a source under the work dir that
	// -trimpath leaves: what it prints and records names the work dir.
	inline := func(c *client, w string) *wire.RunWhole {
		r := goRun(c, w, w+"/b002", inlinable, env)
		r.Args[len(r.Args)-1] = w + "/b002/p.go"
		r.Args = append([]string{"-m"}, r.Args...)
		return r
	}

	for _, tc := range []struct {
		name   string
		first  func(c *client) *wire.RunWhole // the first client's RunWhole
		refuse string                         // in its Error; "" if it runs
		victim func(c *client) *wire.RunWhole // the go command's
		exit   uint64                         // its exit status
		cached bool                           // whether it is a hit
	}{
		// -trimpath of "$WORK/b001=>" with a work dir that
		// holds -trimpath syntax records p.go as /evil/p.go.
		{"file names", func(c *client) *wire.RunWhole {
			return goRun(c, cwd+"=>/evil;/q", cwd, plain, env)
		}, "work directory", func(c *client) *wire.RunWhole { return goRun(c, w, cwd, plain, env) }, 0, false},
		// The same, with a name that makes p.go a cgo file: the compile
		// takes its //go:cgo_ldflag, which it refuses in p.go.
		{"cgo directive", func(c *client) *wire.RunWhole {
			return goRun(c, cwd+"/p.go=>/_cgo_p.go;/q", cwd, ldflag, env)
		}, "work directory", func(c *client) *wire.RunWhole { return goRun(c, w, cwd, ldflag, env) }, 2, false},
		// An unused file in another letter case of the sources' top-level
		// directory made the worker's own rule record the sources under it.
		{"top-level directory", func(c *client) *wire.RunWhole {
			r := goRun(c, w, cwd, plain, env)
			r.Files = append(r.Files, c.put(map[string]string{"/" + string(upper) + "/x": "x"})...)
			return r
		}, "differ only in letter case", func(c *client) *wire.RunWhole { return goRun(c, w, cwd, plain, env) }, 0, false},
		// A //line name under the go command's work dir, which the first
		// client's rule of another work dir does not trim.
		{"line directive", func(c *client) *wire.RunWhole { return goRun(c, w2, cwd, line, env) }, "",
			func(c *client) *wire.RunWhole { return goRun(c, w, cwd, line, env) }, 0, false},
		// What -m prints, and the object, name a source under the work
		// dir: the first build's are not the second's.
		{"untrimmed source under the work dir", func(c *client) *wire.RunWhole { return inline(c, w2) }, "",
			func(c *client) *wire.RunWhole { return inline(c, w) }, 0, false},
		// The same compile in another work dir: a hit, with the bytes a
		// fresh worker gives.
		{"another work dir", func(c *client) *wire.RunWhole { return goRun(c, w2, cwd, plain, env) }, "",
			func(c *client) *wire.RunWhole { return goRun(c, w, cwd, plain, env) }, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := startServer(t, compile, nil)
			c, _ := dial(t, addr, nil, s.Toolchain())
			c.send(tc.first(c))
			switch m := c.recv().(type) {
			case *wire.Error:
				if tc.refuse == "" || !strings.Contains(m.Msg, tc.refuse) {
					t.Fatalf("first Run refused: %s", m.Msg)
				}
			case *wire.Whole:
				if tc.refuse != "" {
					t.Errorf("first Run ran (exit %d, %q), want a refusal with %q", m.Exit, m.Output, tc.refuse)
				}
			default:
				t.Fatalf("first Run: %#v", m)
			}

			got := c.whole(tc.victim(c))
			fs, faddr := startServer(t, compile, nil)
			fc, _ := dial(t, faddr, nil, fs.Toolchain())
			want := fc.whole(tc.victim(fc))
			if want.Status != 0 || want.Cached || want.Exit != tc.exit {
				t.Fatalf("fresh worker: status %d exit %d cached %v, output\n%s\nwant exit %d", want.Status, want.Exit, want.Cached, want.Output, tc.exit)
			}
			if got.Cached != tc.cached {
				t.Errorf("cached = %v, want %v", got.Cached, tc.cached)
			}
			if got.Status != want.Status || got.Exit != want.Exit || !bytes.Equal(got.Output, want.Output) {
				t.Fatalf("status %d exit %d output\n%s\nwant (a fresh worker's) status %d exit %d output\n%s",
					got.Status, got.Exit, got.Output, want.Status, want.Exit, want.Output)
			}
			gf, wf := outputFiles(t, got), outputFiles(t, want)
			if len(gf) != len(wf) {
				t.Fatalf("%d output files, want %d", len(gf), len(wf))
			}
			for name, b := range wf {
				if !bytes.Equal(gf[name], b) {
					t.Errorf("output %s differs from a fresh worker's", name)
				}
			}
		})
	}
}

// TestRunRefusalsRules: a RunWhole whose work dir or GOROOT would be read as
// -trimpath syntax is refused over the wire, with an Error that names
// it; the connection stays usable.
func TestRunRefusalsRules(t *testing.T) {
	s, addr, _ := startFake(t, time.Minute)
	c, _ := dial(t, addr, nil, s.Toolchain())
	for _, tc := range []struct {
		name   string
		change func(r *wire.RunWhole)
		want   string
	}{
		{"work =>;", func(r *wire.RunWhole) { r.Work = "/w=>/x;/q" }, `work directory "/w=>/x;/q" holds '='`},
		{"work relative", func(r *wire.RunWhole) { r.Work = "w" }, `work directory: path "w" is not absolute`},
		{"GOROOT ;", func(r *wire.RunWhole) { r.Env = append(r.Env, "GOROOT=/g;/tmp") }, "environment variable GOROOT=/g;/tmp holds ;"},
		{"top dirs", func(r *wire.RunWhole) { r.Cwd = "/W" }, "paths /w/p.go and /W differ only in letter case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeRun(c, "ok")
			tc.change(r)
			c.send(r)
			if e, ok := c.recv().(*wire.Error); !ok || !strings.Contains(e.Msg, tc.want) {
				t.Fatalf("got %#v, want an error with %q", e, tc.want)
			}
		})
	}
	if d := c.whole(fakeRun(c, "ok")); d.Status != 0 || d.Exit != 0 {
		t.Fatalf("good run after refusals: %+v", d)
	}
}
