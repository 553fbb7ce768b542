// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package cmdline

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	c, err := Parse([]string{"-o", "/w/p.a", "-p=p", "--lang=go1.21", "-N", "-l=true", "-trimpath", "/w=>x", "-memprofilerate=1", "./a.go", "-b.go"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Flag{
		{"o", "/w/p.a", true, Output}, {"p", "p", true, Value}, {"lang", "go1.21", true, Value},
		{"N", "", false, Bool}, {"l", "true", true, Bool}, {"trimpath", "/w=>x", true, Trim},
		{"memprofilerate", "1", true, DropVal},
	}
	if !reflect.DeepEqual(c.Flags, want) || !reflect.DeepEqual(c.Files, []string{"./a.go", "-b.go"}) {
		t.Errorf("got %+v %q", c.Flags, c.Files)
	}
	for args, msg := range map[string]string{
		"-json=0,file:///tmp/j a.go": "flag -json is not on the worker's whitelist",
		"-json=x a.go":               "flag -json is not",
		"-D /x a.go":                 "flag -D is not",
		"-I /x a.go":                 "flag -I is not",
		"- a.go":                     "", // "-" is a file
		"-p":                         "flag -p needs a value",
		"@/tmp/args":                 "response file",
		"-p=p a.go @/x":              "response file",
		"--distssaworker=/":          "flag -distssaworker",
	} {
		_, err := Parse(strings.Fields(args))
		if msg == "" && err != nil || msg != "" && (err == nil || !strings.Contains(err.Error(), msg)) {
			t.Errorf("%q: %v, want %q", args, err, msg)
		}
	}
}

// TestParseWrites: a flag or -d setting that makes the compile write a
// file beside its outputs is refused, naming it, so that the agent keeps
// such a compile local; the other -d settings pass.
func TestParseWrites(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error; empty: accepted
	}{
		{[]string{"-cpuprofile=/tmp/c", "a.go"}, "flag -cpuprofile writes a file where the compile runs"},
		{[]string{"-memprofile", "/tmp/m", "a.go"}, "flag -memprofile writes a file"},
		{[]string{"-traceprofile=/tmp/t", "a.go"}, "flag -traceprofile writes a file"},
		{[]string{"-blockprofile=/tmp/b", "a.go"}, "flag -blockprofile writes a file"},
		{[]string{"-mutexprofile=/tmp/m", "a.go"}, "flag -mutexprofile writes a file"},
		{[]string{"-bench=/tmp/b", "a.go"}, "flag -bench writes a file"},
		{[]string{"--cpuprofile", "/tmp/c", "a.go"}, "flag -cpuprofile writes a file"},
		{[]string{"-json=0,file:///tmp/j", "a.go"}, "flag -json is not on the worker's whitelist"},
		{[]string{"-d=ssa/genssa/dump=F", "a.go"}, "flag -d setting ssa/genssa/dump writes a file where the compile runs"},
		{[]string{"-d=checkptr=1,ssa/all/dump=F", "a.go"}, "flag -d setting ssa/all/dump writes"},
		{[]string{"-d=ssa/prove/dump:F", "a.go"}, "flag -d setting ssa/prove/dump writes"},
		{[]string{"-d", "ssa/build/dump=F", "a.go"}, "flag -d setting ssa/build/dump writes"},
		{[]string{"-d=ssa/check/on", "-d=,ssa/~lower/dump=F", "a.go"}, "flag -d setting ssa/~lower/dump writes"},
		{[]string{"-d=ssa/check/on,ssa/prove/debug=2,checkptr=1", "-d=distssafingerprint=1", "a.go"}, ""},
		{[]string{"-d=ssa/dump", "-memprofilerate=1", "a.go"}, ""},
	} {
		_, err := Parse(tc.args)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestInputsAndRewrite(t *testing.T) {
	files := map[string]string{
		"/w/importcfg": "# import config\npackagefile fmt=/cache/fmt.a\npackagefile q=../q.a\nimportmap x=y\n",
		"/w/embedcfg":  `{"Patterns":{"*.txt":["a.txt"]},"Files":{"a.txt":"/w/a.txt"}}`,
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("%s: %w", p, os.ErrNotExist)
	}
	c, err := Parse([]string{"-importcfg=importcfg", "-embedcfg", "/w/embedcfg", "-symabis=/w/symabis", "a.go", "/w/b.go"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Inputs("/w", read)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/cache/fmt.a", "/q.a", "/w/a.go", "/w/a.txt", "/w/b.go", "/w/embedcfg", "/w/importcfg", "/w/symabis"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inputs %q\nwant   %q", got, want)
	}
	out, _, err := RewriteImportcfg([]byte(files["/w/importcfg"]), "/w", func(p string) string { return "/R" + p })
	if err != nil || string(out) != "# import config\npackagefile fmt=/R/cache/fmt.a\npackagefile q=/R/q.a\nimportmap x=y\n" {
		t.Errorf("rewritten importcfg %q, %v", out, err)
	}
	if _, _, err := RewriteImportcfg([]byte("packagefile fmt\n"), "/w", nil); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad importcfg: %v", err)
	}
	c, _ = Parse([]string{"-importcfg=/w/missing", "a.go"})
	if _, err := c.Inputs("/w", read); err == nil {
		t.Error("missing importcfg accepted")
	}
}

// TestTrimpath: the client's rules under the job root first (not those
// without a prefix, which would match all of it), then $GOROOT and the
// top-level directories, then the client's rules as they are.
func TestTrimpath(t *testing.T) {
	dirs, err := TopDirs("/w/a.go", "/cache/b", "/w/c", "/goroot/x")
	if err != nil {
		t.Fatal(err)
	}
	got := Trimpath("/w=>x;/v;=>y;", "/R", "/goroot", dirs)
	want := "/R/w=>x;/R/v;/R/goroot=>$GOROOT;/R/cache=>/cache;/R/goroot=>/goroot;/R/w=>/w;/w=>x;/v;=>y;"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestTopDirs: paths whose top-level directories the compiler's
// -trimpath matching cannot tell apart are an error that names them.
func TestTopDirs(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  string // the error's, or the dirs joined by " "
	}{
		{[]string{"/tmp/a", "/home/u/b", "/tmp/c"}, "home tmp"},
		{[]string{"/a\\b/x", "/a/y"}, "a a\\b"}, // /a\b/x under /a reads /a\b/x again
		{[]string{"/tmp/a", "/TMP/b"}, "paths /tmp/a and /TMP differ only in letter case"},
		{[]string{"/A\\b/x", "/a/y"}, "paths /A\\b/x and /a differ"},
		{[]string{"/home/u/m", "/Home"}, "paths /home/u/m and /Home differ"},
	} {
		dirs, err := TopDirs(tc.paths...)
		got := strings.Join(dirs, " ")
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("TopDirs(%q) = %q, want %q", tc.paths, got, tc.want)
		}
	}
}

// TestRecorded checks the names a compile records against the rules of
// cmd/internal/objabi.AbsFile, and that the worker's rules under a job
// root give the same names as the client's rules give the client path.
func TestRecorded(t *testing.T) {
	for _, tc := range []struct {
		p, trim, goroot, want string
	}{
		{"/w/b001/x.go", "/w/b001=>", "", "x.go"},
		{"/w/b001/x.go", "/w/b001=>/y", "", "/y/x.go"},
		{"/w/b001", "/w/b001=>/y", "", "/y"},
		{"/w/b001", "/w/b001=>", "", "??"},
		{"/w/b001/x.go", "/w/b00", "", "/w/b001/x.go"},
		{"/w/b001/x.go", "/W/B001=>z", "", "z/x.go"},
		{"/w/b001/x.go", "\\w\\b001=>z", "", "z/x.go"},
		{"/w/b001/x.go", "/w=>a;/w/b001=>b", "", "a/b001/x.go"},
		{"/w/b001/x.go", "/v=>a;=>b;;/w", "", "b001/x.go"},
		{"/w/b001/x.go", "/w/b001=>a=>b", "", "/w/b001/x.go"},
		{"/w/b001=>a/x.go", "/w/b001=>a=>b", "", "b/x.go"},
		{"/g/src/fmt/p.go", "/w=>x", "/g", "$GOROOT/src/fmt/p.go"},
		{"/g/src/fmt/p.go", "/g/src=>s", "/g", "s/fmt/p.go"},
		{"/gx/p.go", "", "/g", "/gx/p.go"},
	} {
		if got := Recorded(tc.p, tc.trim, tc.goroot); got != tc.want {
			t.Errorf("Recorded(%q, %q, %q) = %q, want %q", tc.p, tc.trim, tc.goroot, got, tc.want)
		}
		dirs, err := TopDirs(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		worker := Trimpath(tc.trim, "/job/root", tc.goroot, dirs)
		if got := Recorded("/job/root"+tc.p, worker, tc.goroot); got != tc.want {
			t.Errorf("in a job: %q under %q records %q, want %q", tc.p, worker, got, tc.want)
		}
	}
}

// FuzzParse: any command line parses or is refused; what parses has only
// whitelisted flags, and its config files parse or are refused.
func FuzzParse(f *testing.F) {
	f.Add("-p=p\x00-importcfg\x00cfg\x00a.go", "packagefile fmt=/x/fmt.a\nimportmap a=b\n")
	f.Add("-S\x00a.go", "packagefile fmt")
	f.Add("--o=x\x00--\x00-a.go", `{"Files":{"a":"../b"}}`)
	f.Fuzz(func(t *testing.T, args, cfg string) {
		c, err := Parse(strings.Split(args, "\x00"))
		if err == nil {
			for _, fl := range c.Flags {
				if k, ok := Whitelist[fl.Name]; !ok || k != fl.Kind {
					t.Fatalf("flag %+v passed", fl)
				}
			}
		}
		for _, rewrite := range []func([]byte, string, func(string) string) ([]byte, []string, error){RewriteImportcfg, RewriteEmbedcfg} {
			_, names, err := rewrite([]byte(cfg), "/w", func(p string) string { return "/R" + p })
			if err != nil {
				continue
			}
			for _, n := range names {
				if !strings.HasPrefix(n, "/") || n != Abs("/", n) {
					t.Fatalf("config names %q, not absolute and clean", n)
				}
			}
		}
	})
}

// TestFlagArgs: dropped flags go, a bool without a value stays as given,
// every other flag is -name=value with the value the caller gives, and a
// flag the caller refuses goes.
func TestFlagArgs(t *testing.T) {
	cl, err := Parse([]string{"-p=x", "-pack", "-dwarf=false", "-distssa=unix:s", "-t", "-o", "out.a", "-trimpath=/a=>b", "a.go"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	got := cl.FlagArgs(func(i int, f Flag) (string, bool) {
		seen = append(seen, i)
		switch f.Kind {
		case Output:
			return "/job/" + f.Name, true
		case Trim:
			return "", false
		}
		return f.Value, true
	})
	want := []string{"-p=x", "-pack", "-dwarf=false", "-o=/job/o"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("FlagArgs = %q, want %q", got, want)
	}
	// The callback sees each flag with a value, by its index in Flags.
	for _, i := range seen {
		if f := cl.Flags[i]; f.Kind == Drop || f.Kind == DropVal || f.Kind == Bool && !f.Set {
			t.Errorf("the callback saw flag %d, -%s", i, f.Name)
		}
	}
	if len(seen) != 4 {
		t.Errorf("the callback saw %d flags, want 4 (-p, -dwarf, -o, -trimpath)", len(seen))
	}
}
