// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"distssa/remote/internal/wire"
)

// keySpec describes a RunWhole for actionKey, with file contents rather than
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
	r := &wire.RunWhole{Cwd: s.cwd, Args: s.args, Env: s.env, Work: s.work}
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
		// The same compile in another work dir, but a //line name of
		// the source says the first one: only there does -trimpath's
		// rule of $WORK/b001 rewrite it.
		{"//line naming the work dir", func(s *keySpec) {
			s.setFile("/home/u/m/p/a.go", "package p\n//line "+w1+"/b001/x.go:1\nvar X int\n")
		}, func(s *keySpec) {
			*s = baseSpec("/tmp/go-build2")
			s.setFile("/home/u/m/p/a.go", "package p\n//line "+w1+"/b001/x.go:1\nvar X int\n")
		}, false},
		{"//line naming the work dir in other letter case", func(s *keySpec) {
			s.setFile("/home/u/m/p/a.go", "package p\n//line "+strings.ToUpper(w1)+"/B001/x.go:1\nvar X int\n")
		}, func(s *keySpec) {
			*s = baseSpec("/tmp/go-build2")
			s.setFile("/home/u/m/p/a.go", "package p\n//line "+strings.ToUpper(w1)+"/B001/x.go:1\nvar X int\n")
		}, false},
		// The work dir in a replacement goes into the object.
		{"trimpath replacement naming the work dir", func(s *keySpec) { s.replaceArg(w1+"/b001=>", w1+"/b001=>"+w1) }, func(s *keySpec) {
			*s = baseSpec("/tmp/go-build2")
			s.replaceArg("/tmp/go-build2/b001=>", "/tmp/go-build2/b001=>/tmp/go-build2")
		}, false},
		// A source under $WORK that no rule trims is recorded as it is.
		{"untrimmed source under the work dir", func(s *keySpec) {
			s.args = append(s.args, w1+"/b002/c.go")
			s.setFile(w1+"/b002/c.go", "package p\n")
		}, func(s *keySpec) {
			*s = baseSpec("/tmp/go-build2")
			s.args = append(s.args, "/tmp/go-build2/b002/c.go")
			s.setFile("/tmp/go-build2/b002/c.go", "package p\n")
		}, false},

		// Nothing else does.
		{"output paths", nil, func(s *keySpec) {
			s.replaceArg(w1+"/b001/_pkg_.a", "/elsewhere/p.a")
			s.replaceArg(w1+"/b001/go_asm.h", "/elsewhere/go_asm.h")
			s.replaceArg(w1+"/b001/_pkg_.o", "/elsewhere/p.o")
		}, true},
		{"work dir", nil, func(s *keySpec) { *s = baseSpec("/tmp/go-build98765") }, true},
		{"no work dir named", func(s *keySpec) { s.work = "" }, func(s *keySpec) { *s = baseSpec("/tmp/go-build98765"); s.work = "" }, false},
		{"work dir, with a source and the cwd under it", func(s *keySpec) {
			s.cwd = w1 + "/b001"
			s.setFile(w1+"/b001/a.go", "package p\n")
			s.args = append(s.args, w1+"/b001/_cgo_gotypes.go")
			s.setFile(w1+"/b001/_cgo_gotypes.go", "package p // cgo\n")
		}, func(s *keySpec) {
			w := "/tmp/go-build98765"
			*s = baseSpec(w)
			s.cwd = w + "/b001"
			s.setFile(w+"/b001/a.go", "package p\n")
			s.args = append(s.args, w+"/b001/_cgo_gotypes.go")
			s.setFile(w+"/b001/_cgo_gotypes.go", "package p // cgo\n")
		}, true},
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
		{"work relative", func(s *keySpec) { s.work = "tmp/go-build1" }, `work directory: path "tmp/go-build1" is not absolute`},
		{"work not clean", func(s *keySpec) { s.work = "/tmp/go-build1/" }, `work directory: path "/tmp/go-build1/" is not clean`},
		{"work with ;", func(s *keySpec) { s.work = "/tmp/a;b" }, `work directory "/tmp/a;b" holds ';'`},
		{"work with =>", func(s *keySpec) { s.work = "/tmp/a=>b" }, `work directory "/tmp/a=>b" holds '='`},
		{"work with \\", func(s *keySpec) { s.work = "/tmp/a\\b" }, `work directory "/tmp/a\\b" holds '\\'`},
		{"work with a newline", func(s *keySpec) { s.work = "/tmp/a\nb" }, `work directory "/tmp/a\nb" holds '\n'`},
		{"top dirs", func(s *keySpec) { s.files = append(s.files, [2]string{"/HOME/x", "x"}) }, "and /HOME differ only in letter case"},
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
	r := &wire.RunWhole{Cwd: s.cwd, Args: s.args, Env: s.env, Work: s.work}
	for _, f := range s.files {
		r.Files = append(r.Files, wire.File{Path: f[0], Hash: wire.Hash([]byte(f[1]))})
	}
	_, err := actionKey(nil, "linux", "amd64", r, func([]byte) ([]byte, error) { return nil, fmt.Errorf("evicted") })
	if err == nil || !strings.Contains(err.Error(), "-importcfg file "+w1+"/b001/importcfg: evicted") {
		t.Fatalf("unreadable importcfg: %v", err)
	}
}

// TestActionKeyHostileWork: a client whose work dir
// holds -trimpath syntax turns "$WORK/b001=>" into other rules (here,
// one that records /home/u/m/p/a.go as /evil/a.go, or as a cgo file that
// may hold //go:cgo_ldflag). It must not share the key of the go
// command's compile with a real work dir; the worker refuses it, naming
// it.
func TestActionKeyHostileWork(t *testing.T) {
	normal, err := baseSpec("/tmp/go-build111").key(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"/home/u/m/p=>/evil;/q", "/home/u/m/p/a.go=>/_cgo_a.go;/q"} {
		k, err := baseSpec(w).key(t)
		if err == nil {
			if bytes.Equal(k, normal) {
				t.Errorf("work dir %q: the key of the go command's compile", w)
			} else {
				t.Errorf("work dir %q accepted", w)
			}
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(w)) {
			t.Errorf("work dir %q: error %q does not name it", w, err)
		}
	}
}

// clone returns a copy of s that shares no slice with it.
func (s keySpec) clone() keySpec {
	s.env = append([]string(nil), s.env...)
	s.args = append([]string(nil), s.args...)
	s.files = append([][2]string(nil), s.files...)
	return s
}

// identity is a spec as the compile reads it, less what no key may
// depend on: the order and repeats of env entries and of files.
func (s keySpec) identity() string {
	env := map[string]string{}
	for _, e := range s.env {
		k, _, _ := strings.Cut(e, "=")
		env[k] = e
	}
	var envs []string
	for _, e := range env {
		envs = append(envs, e)
	}
	sort.Strings(envs)
	files := append([][2]string(nil), s.files...)
	sort.Slice(files, func(i, j int) bool { return files[i][0] < files[j][0] })
	return fmt.Sprintf("%q", []any{s.toolchain, s.goos, s.goarch, s.work, s.cwd, s.args, envs, files})
}

// rename moves the spec to another work dir: every mention of from, in
// any string, reads to.
func (s keySpec) rename(from, to string) keySpec {
	s = s.clone()
	r := strings.NewReplacer(from, to)
	s.work, s.cwd = r.Replace(s.work), r.Replace(s.cwd)
	for i := range s.env {
		s.env[i] = r.Replace(s.env[i])
	}
	for i := range s.args {
		s.args[i] = r.Replace(s.args[i])
	}
	for i := range s.files {
		s.files[i] = [2]string{r.Replace(s.files[i][0]), r.Replace(s.files[i][1])}
	}
	return s
}

// setEnv sets an environment variable, replacing its entries.
func (s *keySpec) setEnv(k, v string) {
	env := []string{k + "=" + v}
	for _, e := range s.env {
		if !strings.HasPrefix(e, k+"=") {
			env = append(env, e)
		}
	}
	s.env = env
}

// moveFile moves a file and the arguments that name it.
func (s *keySpec) moveFile(from, to, argFrom, argTo string) {
	for i, f := range s.files {
		if f[0] == from {
			s.files[i][0] = to
		}
	}
	s.replaceArg(argFrom, argTo)
}

// addFlag puts a flag before the source files.
func (s *keySpec) addFlag(f string) {
	n := len(s.args) - 2
	s.args = append(s.args[:n:n], append([]string{f}, s.args[n:]...)...)
}

// mutation changes one thing that the compile of a spec reads. inWork
// says whether the work dir w is then in what the compile reads other
// than as the start of a path that -trimpath removes, so that the
// compile in another work dir is another compile.
type mutation struct {
	name  string
	apply func(s *keySpec, r *rand.Rand, w string) (inWork bool)
}

var mutations = []mutation{
	{"tool", func(s *keySpec, r *rand.Rand, w string) bool {
		s.toolchain = fmt.Sprintf("compile v%d", r.Intn(1000))
		return false
	}},
	{"GOOS", func(s *keySpec, r *rand.Rand, w string) bool {
		s.goos = pick(r, "darwin", "windows", "freebsd", "plan9", "js")
		return false
	}},
	{"GOARCH", func(s *keySpec, r *rand.Rand, w string) bool {
		s.goarch = pick(r, "arm64", "386", "riscv64", "wasm")
		return false
	}},
	{"env", func(s *keySpec, r *rand.Rand, w string) bool {
		s.setEnv(pick(r, "GOAMD64", "GO386", "GOARM", "GOEXPERIMENT", "GODEBUG", "GO_EXTLINK_ENABLED"), fmt.Sprint("v", r.Intn(50)))
		return false
	}},
	{"GOROOT", func(s *keySpec, r *rand.Rand, w string) bool {
		s.setEnv("GOROOT", fmt.Sprint("/opt/go", r.Intn(50)))
		return false
	}},
	{"GOROOT in the work dir", func(s *keySpec, r *rand.Rand, w string) bool {
		s.setEnv("GOROOT", fmt.Sprint(w, "/go", r.Intn(50)))
		return true
	}},
	{"flag value", func(s *keySpec, r *rand.Rand, w string) bool {
		switch r.Intn(4) {
		case 0:
			s.replaceArg("-lang=go1.21", fmt.Sprint("-lang=go1.", r.Intn(30)))
		case 1:
			s.replaceArg("m/p", fmt.Sprint("m/p", r.Intn(50)))
		case 2:
			s.replaceArg("abc/abc", fmt.Sprint("abc/", r.Intn(50)))
		default:
			s.replaceArg("-lang=go1.21", fmt.Sprint("-lang=go1.21", pick(r, "", "x", "$WORK", "$$WORK")))
		}
		return false
	}},
	{"flag added", func(s *keySpec, r *rand.Rand, w string) bool {
		s.addFlag(pick(r, "-N", "-l", "-race", "-msan", "-shared", "-dynlink", "-std", "-wb=false", "-dwarf=false", "-B",
			"-C", "-e", "-smallframes", "-S", "-m", "-live", "-+", "-nolocalimports", fmt.Sprint("-c=", r.Intn(8)),
			fmt.Sprint("-d=checkptr=", r.Intn(3)), "-spectre=all", fmt.Sprint("-goversion=go1.", r.Intn(30)), "-installsuffix=race"))
		return false
	}},
	{"source name", func(s *keySpec, r *rand.Rand, w string) bool {
		n := fmt.Sprint("x", r.Intn(100), ".go")
		s.moveFile("/home/u/m/p/a.go", "/home/u/m/p/"+n, "./a.go", "./"+n)
		return false
	}},
	{"source path", func(s *keySpec, r *rand.Rand, w string) bool {
		p := fmt.Sprint("/home/u/m/q", r.Intn(100), "/b.go")
		s.moveFile("/home/u/m/p/b.go", p, "/home/u/m/p/b.go", p)
		return false
	}},
	{"source spelling", func(s *keySpec, r *rand.Rand, w string) bool {
		s.replaceArg("./a.go", pick(r, "a.go", "/home/u/m/p/a.go", "./././a.go", "../p/a.go"))
		return false
	}},
	{"source order", func(s *keySpec, r *rand.Rand, w string) bool {
		n := len(s.args)
		s.args[n-2], s.args[n-1] = s.args[n-1], s.args[n-2]
		return false
	}},
	{"source added", func(s *keySpec, r *rand.Rand, w string) bool {
		p := fmt.Sprint("/home/u/m/p/c", r.Intn(100), ".go")
		s.args = append(s.args, p)
		s.setFile(p, "package p\n")
		return false
	}},
	{"cwd", func(s *keySpec, r *rand.Rand, w string) bool {
		d := fmt.Sprint("/home/u/m/r", r.Intn(100))
		s.cwd = d
		s.moveFile("/home/u/m/p/a.go", d+"/a.go", "./a.go", "./a.go")
		return false
	}},
	{"cwd under the work dir", func(s *keySpec, r *rand.Rand, w string) bool {
		d := w + pick(r, "/b001", "/b001/x")
		s.cwd = d
		s.moveFile("/home/u/m/p/a.go", d+"/a.go", "./a.go", "./a.go")
		return false
	}},
	{"source under the work dir", func(s *keySpec, r *rand.Rand, w string) bool {
		p := fmt.Sprint(w, "/b001/_cgo_", r.Intn(100), ".go")
		s.args = append(s.args, p)
		s.setFile(p, "package p // cgo\n")
		return false
	}},
	{"untrimmed source under the work dir", func(s *keySpec, r *rand.Rand, w string) bool {
		p := fmt.Sprint(w, "/b00", 2+r.Intn(7), "/x.go")
		s.args = append(s.args, p)
		s.setFile(p, "package p\n")
		return true
	}},
	{"source naming the work dir, not under it", func(s *keySpec, r *rand.Rand, w string) bool {
		p := pick(r, "/home"+w+"/c.go", w+"x/c.go", w+"-1/c.go")
		s.args = append(s.args, p)
		s.setFile(p, "package p\n")
		return true
	}},
	{"content", func(s *keySpec, r *rand.Rand, w string) bool {
		f := s.files[r.Intn(len(s.files))]
		switch {
		case strings.HasSuffix(f[0], "embedcfg"):
			return false // JSON: "embedcfg" changes it
		case strings.HasSuffix(f[0], "importcfg"):
			f[1] += "# " // a comment line follows
		}
		s.setFile(f[0], fmt.Sprint(f[1], r.Intn(100)))
		return false
	}},
	{"content naming the work dir", func(s *keySpec, r *rand.Rand, w string) bool {
		p := pick(r, "/home/u/m/p/a.go", "/home/u/m/p/b.go")
		s.setFile(p, fmt.Sprintf("package p\n//line %s/b00%d/x.go:1\nvar X int\n", w, 1+r.Intn(3)))
		return true
	}},
	{"importcfg", func(s *keySpec, r *rand.Rand, w string) bool {
		s.setFile(w+"/b001/importcfg", fmt.Sprintf("packagefile fmt=/home/u/.cache/go-build/ab/abcd-d\nimportmap x%d=fmt\n", r.Intn(100)))
		return false
	}},
	{"importcfg naming the work dir", func(s *keySpec, r *rand.Rand, w string) bool {
		s.setFile(w+"/b001/importcfg", fmt.Sprintf("packagefile fmt=/home/u/.cache/go-build/ab/abcd-d\nimportmap %s/x%d=fmt\n", w, r.Intn(100)))
		return true
	}},
	{"embedcfg", func(s *keySpec, r *rand.Rand, w string) bool {
		s.setFile(w+"/b001/embedcfg", fmt.Sprintf(`{"Patterns":{"h%d":["hello.txt"]},"Files":{"hello.txt":"/home/u/m/p/hello.txt"}}`, r.Intn(100)))
		return false
	}},
	{"input added", func(s *keySpec, r *rand.Rand, w string) bool {
		p := w + "/b001/default.pgo"
		s.addFlag("-pgoprofile=" + p)
		s.setFile(p, fmt.Sprint("profile ", r.Intn(100)))
		return false
	}},
	{"output flag gone", func(s *keySpec, r *rand.Rand, w string) bool {
		o := pick(r, "-linkobj", "-asmhdr")
		for i, a := range s.args {
			if a == o {
				s.args = append(s.args[:i:i], s.args[i+2:]...)
				break
			}
		}
		return false
	}},
	{"trimpath rule", func(s *keySpec, r *rand.Rand, w string) bool {
		rule := pick(r, "/home/u/m/p=>m/p", "/home/u/m=>m", "/home/u/m/p", "/tmp=>T", "/=>x", "=>x", "", w, w+"=>W",
			w+"/b002=>", "/home/u/m/p/a.go=>/_cgo_a.go", "/HOME/U=>h", "\\home\\u=>h", fmt.Sprint("/home/u/m/q", r.Intn(50), "=>q"))
		if r.Intn(2) == 0 {
			s.replaceArg(w+"/b001=>", rule+";"+w+"/b001=>")
		} else {
			s.replaceArg(w+"/b001=>", w+"/b001=>;"+rule)
		}
		return false
	}},
	{"trimpath replacement", func(s *keySpec, r *rand.Rand, w string) bool {
		s.replaceArg(w+"/b001=>", fmt.Sprint(w, "/b001=>", pick(r, "/x", "x", "$WORK", "/home/u/m/p", "=>"), r.Intn(10)))
		return false
	}},
	{"trimpath replacement naming the work dir", func(s *keySpec, r *rand.Rand, w string) bool {
		s.replaceArg(w+"/b001=>", fmt.Sprint(w, "/b001=>", w, pick(r, "", "/x", "x")))
		return true
	}},
	{"work dir in a flag value", func(s *keySpec, r *rand.Rand, w string) bool {
		switch r.Intn(3) {
		case 0:
			s.replaceArg("m/p", w+"/p")
		case 1:
			s.replaceArg("abc/abc", w)
		default:
			s.addFlag("-d=pgoinline=0," + w)
		}
		return true
	}},
}

func pick(r *rand.Rand, l ...string) string { return l[r.Intn(len(l))] }

// TestActionKeyProperty changes a go-command-shaped compile in one thing
// that the compile reads, in 2000 random ways: no change keeps the key,
// and changes that differ get different keys. A change that leaves the
// work dir where -trimpath removes it keeps its key in another work dir;
// one that puts it elsewhere does not. A work dir with -trimpath syntax
// is refused, naming it.
func TestActionKeyProperty(t *testing.T) {
	const wa, wb = "/tmp/go-build111", "/tmp/go-build222"
	r := rand.New(rand.NewSource(20))
	base := baseSpec(wa)
	baseKey, err := base.key(t)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := base.rename(wa, wb).key(t); err != nil || !bytes.Equal(k, baseKey) {
		t.Fatalf("the compile in another work dir: %x, %v; want the key %x", k, err, baseKey)
	}
	byKey := map[string]string{string(baseKey): base.identity()}
	tried := map[string]bool{}
	kinds := map[string]int{}
	for i := 0; i < 2000; i++ {
		s := base.clone()
		m := mutations[r.Intn(len(mutations))]
		inWork := m.apply(&s, r, wa)
		id := s.identity()
		if id == base.identity() || tried[id] {
			continue
		}
		tried[id] = true
		kinds[m.name]++
		k, err := s.key(t)
		if err != nil {
			t.Fatalf("%s: %v\n%s", m.name, err, id)
		}
		if prev, ok := byKey[string(k)]; ok {
			t.Fatalf("%s: two compiles share a key:\n%s\n%s", m.name, prev, id)
		}
		byKey[string(k)] = id
		kb, err := s.rename(wa, wb).key(t)
		if err != nil {
			t.Fatalf("%s, in %s: %v", m.name, wb, err)
		}
		if same := bytes.Equal(k, kb); same == inWork {
			t.Fatalf("%s: same key in another work dir = %v, want %v\n%s", m.name, same, !inWork, id)
		}
	}
	for _, m := range mutations {
		if kinds[m.name] == 0 {
			t.Errorf("no compile changed in its %s", m.name)
		}
	}
	t.Logf("%d distinct compiles", len(tried))

	// A work dir that is not a clean absolute path, or that holds a
	// character -trimpath reads, is refused, and the error names it.
	for i := 0; i < 200; i++ {
		w := []byte(wa)
		switch n := r.Intn(len(w)-1) + 1; r.Intn(3) {
		case 0:
			w = append(w[:n:n], append([]byte(pick(r, ";", "=", ">", "=>", "\\", "\n", "\x01", "\x7f")), w[n:]...)...)
		case 1:
			w = append(w[:n:n], append([]byte(pick(r, "/", "/./", "/../")), w[n:]...)...)
		default:
			w = append(w, '/')
		}
		if filepath.Clean(string(w)) == string(w) && !strings.ContainsAny(string(w), ";=>\\\n\x01\x7f") {
			continue // "/" inserted after a "/"... still clean
		}
		_, err := baseSpec(string(w)).key(t)
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(string(w))) {
			t.Fatalf("work dir %q: %v, want an error that names it", w, err)
		}
	}
}
