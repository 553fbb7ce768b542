// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

import (
	"bytes"
	"internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	good := []struct {
		in   string
		want Spec
	}{
		{"", Spec{}},
		{"exec:1", Spec{Transport: Exec, Workers: 1}},
		{"exec:2", Spec{Transport: Exec, Workers: 2}},
		{"exec:64", Spec{Transport: Exec, Workers: 64}},
		{"unix:/tmp/go-build1/distssa.sock", Spec{Transport: Agent, Socket: "/tmp/go-build1/distssa.sock"}},
		{"unix:rel.sock", Spec{Transport: Agent, Socket: "rel.sock"}},
	}
	for _, tc := range good {
		got, err := ParseSpec(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v, nil", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("ParseSpec(%q).String() = %q", tc.in, got.String())
		}
	}
	bad := []struct{ in, msg string }{
		{"exec:0", "worker count"},
		{"exec:65", "worker count"},
		{"exec:-1", "worker count"},
		{"exec:", "worker count"},
		{"exec:2x", "worker count"},
		{"exec", "unknown transport"},
		{"hosts.txt", "unknown transport"},
		{"tcp:127.0.0.1:1", "unknown transport"},
		{"unix:", "socket"},
	}
	for _, tc := range bad {
		_, err := ParseSpec(tc.in)
		if err == nil {
			t.Errorf("ParseSpec(%q) succeeded; want an error", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
			t.Errorf("ParseSpec(%q) error %q; want it to quote the value and say %q", tc.in, err, tc.msg)
		}
	}
}

const testSrc = `package p

type T struct{ a, b int }

func (t *T) Sum() int { return t.a + t.b }

func Fib(n int) int {
	if n < 2 {
		return n
	}
	return Fib(n-1) + Fib(n-2)
}

func Closure(xs []int) func() int {
	i := 0
	return func() int { i++; return xs[i%len(xs)] }
}
`

// compile runs the toolchain's compiler on testSrc with extra flags and
// returns the object bytes, the combined output and the error.
func compile(t *testing.T, dir string, flags ...string) ([]byte, string, error) {
	t.Helper()
	return compileSrc(t, dir, testSrc, flags...)
}

// compileSrc is compile for other source text.
func compileSrc(t *testing.T, dir, text string, flags ...string) ([]byte, string, error) {
	t.Helper()
	src := filepath.Join(dir, "p.go")
	if err := os.WriteFile(src, []byte(text), 0o666); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "p"+strings.Join(flags, "_")+".o")
	args := append([]string{"tool", "compile", "-p=p", "-o", out}, flags...)
	args = append(args, src)
	cmd := testenv.Command(t, testenv.GoToolPath(t), args...)
	cmd.Dir = dir
	msg, err := cmd.CombinedOutput()
	obj, _ := os.ReadFile(out)
	return obj, string(msg), err
}

// TestCompileFlag runs the real compiler: -distssa is accepted, does not
// change the object, and a bad value stops the compile with an error that
// names the flag.
func TestCompileFlag(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	ref, msg, err := compile(t, dir)
	if err != nil || msg != "" {
		t.Fatalf("compile without -distssa: %v\n%s", err, msg)
	}
	obj, msg, err := compile(t, dir, "-distssa=exec:2")
	if err != nil || msg != "" {
		t.Fatalf("compile -distssa=exec:2: %v\n%s", err, msg)
	}
	if !bytes.Equal(ref, obj) {
		t.Errorf("-distssa=exec:2 changed the object (%d bytes vs %d)", len(obj), len(ref))
	}
	for _, bad := range []string{"exec:0", "bogus"} {
		obj, msg, err := compile(t, dir, "-distssa="+bad)
		if err == nil {
			t.Errorf("compile -distssa=%s succeeded; want failure", bad)
		}
		if want := `invalid -distssa value "` + bad + `"`; !strings.Contains(msg, want) {
			t.Errorf("compile -distssa=%s printed %q; want it to contain %q", bad, msg, want)
		}
		if obj != nil {
			t.Errorf("compile -distssa=%s wrote an object", bad)
		}
	}
}
