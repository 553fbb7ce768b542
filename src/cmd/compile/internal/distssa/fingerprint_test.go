// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

import (
	"internal/testenv"
	"os"
	"regexp"
	"strings"
	"testing"
)

var fpLine = regexp.MustCompile(`distssa: (\S+): fingerprint ([0-9a-f]{64}), (\d+) functions`)

// fingerprints compiles src as dir/p.go and returns the fingerprint lines
// it printed, one per compileFunctions call. (Positions hold the file's
// path, so compiles to compare must use the same dir.)
func fingerprints(t *testing.T, dir, src string, flags ...string) []string {
	t.Helper()
	_, msg, err := compileSrc(t, dir, src, append([]string{"-d=distssafingerprint=1"}, flags...)...)
	if err != nil {
		t.Fatalf("compile %v: %v\n%s", flags, err, msg)
	}
	var fps []string
	for _, m := range fpLine.FindAllStringSubmatch(msg, -1) {
		fps = append(fps, m[2]+" "+m[3])
	}
	if len(fps) == 0 {
		t.Fatalf("compile %v printed no fingerprint:\n%s", flags, msg)
	}
	return fps
}

func TestFingerprint(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	dir := t.TempDir()
	base := fingerprints(t, dir, testSrc, "-c=1")
	// Backend concurrency does not touch the front end.
	for _, flags := range [][]string{{"-c=4"}, {"-c=2"}} {
		if got := fingerprints(t, dir, testSrc, flags...); strings.Join(got, ";") != strings.Join(base, ";") {
			t.Errorf("%v: fingerprint %v, want %v", flags, got, base)
		}
	}
	// Changes the worker must not miss.
	for name, src := range map[string]string{
		"new function":     testSrc + "\nfunc Extra(x int) int { return x * 3 }\n",
		"renamed receiver": strings.Replace(testSrc, "func (t *T) Sum() int { return t.a + t.b }", "func (u *T) Sum() int { return u.a + u.b }", 1),
		"moved code":       strings.Replace(testSrc, "package p\n", "package p\n\n\n", 1),
		"param type":       strings.Replace(testSrc, "func Fib(n int) int", "func Fib(n int64) int64", 1),
	} {
		if got := fingerprints(t, dir, src, "-c=1"); strings.Join(got, ";") == strings.Join(base, ";") {
			t.Errorf("%s: fingerprint did not change", name)
		}
	}
	// Flags that change the front end change it too: -l empties the
	// inline tree.
	inl := testSrc + "\nfunc Call(t *T) int { return t.Sum() }\n"
	if a, b := fingerprints(t, dir, inl, "-c=1"), fingerprints(t, dir, inl, "-c=1", "-l"); strings.Join(a, ";") == strings.Join(b, ";") {
		t.Errorf("-l: fingerprint did not change")
	}
}

// TestFingerprintStd checks determinism on real packages: the same
// compile at two concurrency levels prints the same fingerprints.
func TestFingerprintStd(t *testing.T) {
	testenv.MustHaveGoBuild(t)
	if testing.Short() {
		t.Skip("compiles std packages")
	}
	// A private build cache: this toolchain's cache keys do not change
	// when the compiler does (the version string is the tool ID).
	cache := t.TempDir()
	for _, pkg := range []string{"fmt", "encoding/json", "go/types"} {
		run := func(c string) string {
			cmd := testenv.Command(t, testenv.GoToolPath(t), "build", "-gcflags="+pkg+"=-d=distssafingerprint=1 -c="+c, pkg)
			cmd.Env = append(os.Environ(), "GOCACHE="+cache)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go build %s: %v\n%s", pkg, err, out)
			}
			m := fpLine.FindAllStringSubmatch(string(out), -1)
			if len(m) == 0 || m[0][1] != pkg {
				t.Fatalf("go build %s printed no fingerprint for it:\n%s", pkg, out)
			}
			var s []string
			for _, x := range m {
				s = append(s, x[2])
			}
			return strings.Join(s, ";")
		}
		if a, b := run("1"), run("4"); a != b {
			t.Errorf("%s: fingerprint with -c=1 %s, with -c=4 %s", pkg, a, b)
		}
	}
}
