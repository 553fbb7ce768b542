// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"distssa/remote/internal/wire"
)

// keySpec describes a Run for actionKey, with file contents rather than
// hashes.
type keySpec struct {
	toolchain    string
	goos, goarch string
	work, cwd    string
	env, args    []string
	files        [][2]string // path, content
}

// baseSpec is a compile of package m/p as the go command runs it, with
// its work directory at w.
func baseSpec(w string) keySpec {
	return keySpec{
		toolchain: "compile v1", goos: "linux", goarch: "amd64", work: w,
		cwd: "/home/u/m/p",
		env: []string{"GOROOT=/usr/lib/go", "GOAMD64=v1", "PATH=/bin", "GOOS=windows"},
		args: []string{"-o", w + "/b001/_pkg_.a", "-trimpath", w + "/b001=>", "-p", "m/p", "-lang=go1.21", "-complete",
			"-buildid", "abc/abc", "-importcfg", w + "/b001/importcfg", "-embedcfg", w + "/b001/embedcfg",
			"-symabis", w + "/b001/symabis", "-asmhdr", w + "/b001/go_asm.h", "-linkobj", w + "/b001/_pkg_.o",
			"-memprofilerate=1", "-v", "-distssa=unix:" + w + "/distssa.sock", "./a.go", "/home/u/m/p/b.go"},
		files: [][2]string{
			{"/home/u/m/p/a.go", "package p\n"},
			{"/home/u/m/p/b.go", "package p // b\n"},
			{"/home/u/m/p/hello.txt", "hello\n"},
			{w + "/b001/symabis", "def a\n"},
			{w + "/b001/importcfg", "# import config\npackagefile fmt=/home/u/.cache/go-build/ab/abcd-d\npackagefile m/q=" + w + "/b002/_pkg_.a\n"},
			{w + "/b001/embedcfg", `{"Patterns":{"hello.txt":["hello.txt"]},"Files":{"hello.txt":"/home/u/m/p/hello.txt"}}`},
			{"/home/u/.cache/go-build/ab/abcd-d", "fmt export data"},
			{w + "/b002/_pkg_.a", "m/q export data"},
		},
	}
}

// key computes the spec's action key; blobs holds every content by hash.
func (s keySpec) key(t *testing.T) ([]byte, error) {
	t.Helper()
	blobs := map[string][]byte{}
	r := &wire.Run{Cwd: s.cwd, Args: s.args, Env: s.env, Work: s.work}
	for _, f := range s.files {
		h := wire.Hash([]byte(f[1]))
		blobs[string(h)] = []byte(f[1])
		r.Files = append(r.Files, wire.File{Path: f[0], Hash: h})
	}
	read := func(h []byte) ([]byte, error) {
		if b, ok := blobs[string(h)]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("blob %.6x… is not in the worker's store", h)
	}
	return actionKey(wire.Hash([]byte(s.toolchain)), s.goos, s.goarch, r, read)
}

// setFile replaces the content of path, or adds the file.
func (s *keySpec) setFile(path, content string) {
	s.files = append([][2]string(nil), s.files...)
	for i, f := range s.files {
		if f[0] == path {
			s.files[i][1] = content
			return
		}
	}
	s.files = append(s.files, [2]string{path, content})
}

// replaceArg replaces an argument.
func (s *keySpec) replaceArg(old, new string) {
	s.args = append([]string(nil), s.args...)
	for i, a := range s.args {
		if a == old {
			s.args[i] = new
			return
		}
	}
	panic("no argument " + old)
}

const w1 = "/tmp/go-build1"

// TestActionKey changes one ingredient of a compile at a time: a change
// to what the compile reads or how it runs changes the key; a change
// that cannot change its outputs or its messages does not.
func TestActionKey(t *testing.T) {
	absSources := func(s *keySpec) {
		s.replaceArg("./a.go", "/home/u/m/p/a.go")
	}
	for _, tc := range []struct {
		name string
		a, b func(*keySpec) // applied to baseSpec(w1); nil: unchanged
		same bool
	}{
		// Each ingredient counts.
		{"compile binary", nil, func(s *keySpec) { s.toolchain = "compile v2" }, false},
		{"GOOS", nil, func(s *keySpec) { s.goos = "darwin" }, false},
		{"GOARCH", nil, func(s *keySpec) { s.goarch = "arm64" }, false},
		{"env var", nil, func(s *keySpec) { s.env = append(s.env[:1:1], "GOAMD64=v3") }, false},
		{"env var added", nil, func(s *keySpec) { s.env = append(s.env, "GOEXPERIMENT=loopvar") }, false},
		{"GOROOT", nil, func(s *keySpec) { s.env = append([]string{"GOROOT=/opt/go"}, s.env[1:]...) }, false},
		{"cwd", absSources, func(s *keySpec) { absSources(s); s.cwd = "/home/u/m" }, false},
		{"flag value", nil, func(s *keySpec) { s.replaceArg("-lang=go1.21", "-lang=go1.20") }, false},
		{"bool flag", nil, func(s *keySpec) { s.replaceArg("-complete", "-N") }, false},
		{"trimpath", nil, func(s *keySpec) { s.replaceArg(w1+"/b001=>", w1+"/b001=>/x") }, false},
		{"input content", nil, func(s *keySpec) { s.setFile(w1+"/b001/symabis", "def b\n") }, false},
		{"importcfg packagefile content", nil, func(s *keySpec) { s.setFile("/home/u/.cache/go-build/ab/abcd-d", "fmt export data 2") }, false},
		{"importcfg line", nil, func(s *keySpec) {
			s.setFile(w1+"/b001/importcfg", "packagefile fmt=/home/u/.cache/go-build/ab/abcd-d\nimportmap x=fmt\npackagefile m/q="+w1+"/b002/_pkg_.a\n")
		}, false},
		{"embedded file content", nil, func(s *keySpec) { s.setFile("/home/u/m/p/hello.txt", "hello, world\n") }, false},
		{"source content", nil, func(s *keySpec) { s.setFile("/home/u/m/p/a.go", "package p \n") }, false},
		{"source path", nil, func(s *keySpec) {
			s.replaceArg("/home/u/m/p/b.go", "/home/u/m/p/c.go")
			s.setFile("/home/u/m/p/c.go", "package p // b\n")
		}, false},
		{"source spelling", nil, func(s *keySpec) { s.replaceArg("./a.go", "a.go") }, false},
		{"source order", nil, func(s *keySpec) {
			s.replaceArg("./a.go", "/home/u/m/p/b.go")
			s.args[len(s.args)-1] = "./a.go"
		}, false},
		{"literal $WORK", func(s *keySpec) { s.replaceArg("m/p", w1+"/p") }, func(s *keySpec) { s.replaceArg("m/p", "$WORK/p") }, false},

		// Nothing else does.
		{"output paths", nil, func(s *keySpec) {
			s.replaceArg(w1+"/b001/_pkg_.a", "/elsewhere/p.a")
			s.replaceArg(w1+"/b001/go_asm.h", "/elsewhere/go_asm.h")
			s.replaceArg(w1+"/b001/_pkg_.o", "/elsewhere/p.o")
		}, true},
		{"work dir", nil, func(s *keySpec) { *s = baseSpec("/tmp/go-build98765") }, true},
		{"importcfg path", nil, func(s *keySpec) {
			s.replaceArg(w1+"/b001/importcfg", "/home/u/cfg/importcfg")
			for i, f := range s.files {
				if f[0] == w1+"/b001/importcfg" {
					s.files[i][0] = "/home/u/cfg/importcfg"
				}
			}
		}, true},
		{"files order", nil, func(s *keySpec) {
			for i, j := 0, len(s.files)-1; i < j; i, j = i+1, j-1 {
				s.files[i], s.files[j] = s.files[j], s.files[i]
			}
		}, true},
		{"unused file listed twice", nil, func(s *keySpec) { s.files = append(s.files, s.files[0]) }, true},
		{"env order", nil, func(s *keySpec) { s.env = []string{"GOAMD64=v1", "GOROOT=/usr/lib/go"} }, true},
		{"env duplicate, last wins", nil, func(s *keySpec) { s.env = append([]string{"GOAMD64=v3"}, s.env...) }, true},
		{"non-GO env", nil, func(s *keySpec) { s.env = append(s.env, "HOME=/root", "PATH=/usr/bin") }, true},
		{"GO env the compile does not read", nil, func(s *keySpec) {
			s.env = append(s.env, "GOCACHE=/home/u/.cache/go-build", "GOFLAGS=-mod=readonly", "GOPATH=/home/u/go", "GOMAXPROCS=3")
		}, true},
		{"client GOOS", nil, func(s *keySpec) { s.env = append(s.env, "GOOS=plan9", "GOARCH=386") }, true},
		{"dropped flags", nil, func(s *keySpec) {
			s.replaceArg("-memprofilerate=1", "-memprofilerate=2")
			s.replaceArg("-v", "-t")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa, sb := baseSpec(w1), baseSpec(w1)
			if tc.a != nil {
				tc.a(&sa)
			}
			tc.b(&sb)
			ka, err := sa.key(t)
			if err != nil {
				t.Fatal(err)
			}
			kb, err := sb.key(t)
			if err != nil {
				t.Fatal(err)
			}
			if same := bytes.Equal(ka, kb); same != tc.same {
				t.Errorf("same key = %v, want %v (%x, %x)", same, tc.same, ka, kb)
			}
		})
	}
}

// TestActionKeyRefusals: the key of a compile whose inputs were not all
// uploaded cannot be computed; the error names the file.
func TestActionKeyRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*keySpec)
		want   string
	}{
		{"source", func(s *keySpec) { s.replaceArg("./a.go", "./z.go") }, "source file /home/u/m/p/z.go was not uploaded"},
		{"input", func(s *keySpec) { s.replaceArg(w1+"/b001/symabis", "/etc/symabis") }, "-symabis file /etc/symabis was not uploaded"},
		{"packagefile", func(s *keySpec) {
			s.setFile(w1+"/b001/importcfg", "packagefile fmt=/etc/fmt.a\n")
		}, "file named by -importcfg /etc/fmt.a was not uploaded"},
		{"embedded file", func(s *keySpec) {
			s.setFile(w1+"/b001/embedcfg", `{"Files":{"x":"/etc/passwd"}}`)
		}, "file named by -embedcfg /etc/passwd was not uploaded"},
		{"bad importcfg", func(s *keySpec) { s.setFile(w1+"/b001/importcfg", "packagefile fmt\n") }, "-importcfg: line 1: bad packagefile"},
		{"flag", func(s *keySpec) { s.replaceArg("-complete", "-json=0,file:///tmp/j") }, "flag -json is not on the worker's whitelist"},
		{"path", func(s *keySpec) { s.files = append(s.files, [2]string{"/a/../b", "x"}) }, `path "/a/../b" is not clean`},
		{"cwd", func(s *keySpec) { s.cwd = "home" }, "cwd: path"},
		{"conflict", func(s *keySpec) { s.files = append(s.files, [2]string{"/home/u/m/p/a.go", "other"}) }, "input /home/u/m/p/a.go listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec(w1)
			tc.change(&s)
			if _, err := s.key(t); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	// A config whose blob cannot be read.
	s := baseSpec(w1)
	r := &wire.Run{Cwd: s.cwd, Args: s.args, Env: s.env, Work: s.work}
	for _, f := range s.files {
		r.Files = append(r.Files, wire.File{Path: f[0], Hash: wire.Hash([]byte(f[1]))})
	}
	_, err := actionKey(nil, "linux", "amd64", r, func([]byte) ([]byte, error) { return nil, fmt.Errorf("evicted") })
	if err == nil || !strings.Contains(err.Error(), "-importcfg file "+w1+"/b001/importcfg: evicted") {
		t.Fatalf("unreadable importcfg: %v", err)
	}
}
