// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package testutil helps the tests of remote/ run the real compile binary.
package testutil

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// RequireEnv is the variable that makes a test that cannot run fail
// instead of skipping: scripts/test.sh sets it to 1, so that a test
// suite run without the distssa compile cannot pass while testing almost
// nothing.
const RequireEnv = "DISTSSA_TEST_REQUIRE_COMPILE"

// Missing ends a test that cannot run without what it lacks: it skips,
// saying why, or, with RequireEnv=1, fails, saying why.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1: a test that cannot run fails)", msg, RequireEnv)
	}
	t.Skipf("skipping: %s (%s=1 makes this a failure)", msg, RequireEnv)
}

// Compile returns the compile binary of the go command on PATH (`go env
// GOTOOLDIR`), or, if that one has no worker mode (-distssaworker), the
// one of the toolchain that built the test; if neither is a distssa
// compile, it ends the test with Missing.
func Compile(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var tried []string
	for _, goCmd := range []string{"go", filepath.Join(runtime.GOROOT(), "bin", "go")} {
		out, err := exec.CommandContext(ctx, goCmd, "env", "GOTOOLDIR").Output()
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", goCmd, err))
			continue
		}
		c := filepath.Join(strings.TrimSpace(string(out)), "compile")
		if len(tried) > 0 && strings.HasPrefix(tried[0], c+" ") {
			break // the same toolchain twice
		}
		help, _ := exec.CommandContext(ctx, c, "-h").CombinedOutput()
		if bytes.Contains(help, []byte("-distssaworker")) {
			return c
		}
		tried = append(tried, c+" has no -distssaworker flag")
	}
	Missing(t, "no distssa compile (%s); put the fork's bin first on PATH", strings.Join(tried, "; "))
	return ""
}

// GOROOT returns the GOROOT of the compile binary.
func GOROOT(compile string) string {
	return filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(compile))))
}

// Env is the environment of a client compile of compile: its GOROOT.
func Env(compile string) []string {
	return []string{"GOROOT=" + GOROOT(compile)}
}

// FormatVersion is the compiler's result and job format version
// (FormatVersion in cmd/compile/internal/distssa/result/frame.go); the two must
// move together.
const FormatVersion = 4

// Job encodes a worker job (the compiler's sealed frame): the front-end
// fingerprint and the functions to compile.
func Job(fp []byte, names ...string) []byte {
	b := []byte("distssa\x00")
	b = binary.AppendUvarint(b, FormatVersion)
	b = binary.AppendUvarint(b, uint64(len(fp)))
	b = append(b, fp...)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// IsResult reports whether b starts as a worker result does: the size
// of its first chunk, then a frame's magic (result/frame.go in the
// compiler).
func IsResult(b []byte) bool {
	return len(b) > 4 && bytes.HasPrefix(b[4:], []byte("distssa\x00"))
}

// WithoutPhases returns a worker result of one chunk without its size,
// its checksum and the worker's phases that end its payload (five
// varints: its times, which differ from one run to the next, and so may
// the size; result/phases.go in the compiler), so that two results of
// the same job compare equal. Each varint's last byte is the only one
// without its high bit set, so they are found from the end.
func WithoutPhases(result []byte) []byte {
	if len(result) < 4 {
		return nil
	}
	b := result[4:max(len(result)-4, 4)]
	for i := 0; i < 5 && len(b) > 0; i++ {
		b = b[:len(b)-1]
		for len(b) > 0 && b[len(b)-1]&0x80 != 0 {
			b = b[:len(b)-1]
		}
	}
	return b
}

var fpLine = regexp.MustCompile(`fingerprint ([0-9a-f]{64}), ([1-9][0-9]*) functions`)

// Fingerprint runs the compile as a client with the given arguments in
// dir and returns the front-end fingerprint it prints.
func Fingerprint(t testing.TB, compile, dir string, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, compile, append([]string{"-d=distssafingerprint=1"}, args...)...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client compile: %v\n%s", err, out)
	}
	m := fpLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no fingerprint in:\n%s", out)
	}
	fp, _ := hex.DecodeString(string(m[1]))
	return fp
}

// Src is a package big enough to be worth a worker, importing q.
const Src = `package p

import "q"

func Gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a + q.X
}
`

// QSrc is the package p imports.
const QSrc = "package q\n\nconst X = 0\n\nfunc F() int { return 1 }\n"

// Package writes q and p into dir/src, compiles q, and returns the
// arguments that compile p (relative source path, -importcfg naming
// q's archive) and their working directory.
func Package(t testing.TB, compile, dir string) (cwd string, args []string) {
	t.Helper()
	cwd = filepath.Join(dir, "src", "p")
	qdir := filepath.Join(dir, "src", "q")
	for _, d := range []string{cwd, qdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, s string) {
		if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(cwd, "p.go"), Src)
	write(filepath.Join(qdir, "q.go"), QSrc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	qa := filepath.Join(dir, "q.a")
	if out, err := exec.CommandContext(ctx, compile, "-p=q", "-pack", "-o", qa, filepath.Join(qdir, "q.go")).CombinedOutput(); err != nil {
		t.Fatalf("compiling q: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "importcfg")
	write(cfg, "# import config\npackagefile q="+qa+"\n")
	return cwd, []string{"-p=p", "-dwarf=false", "-pack", "-importcfg", cfg, "-trimpath=" + dir + "=>/x", "-o", filepath.Join(dir, "p.a"), "./p.go"}
}

// ClientPackage writes the package of Package in dir and returns its
// client compile: working directory, arguments, environment (Env) and
// front-end fingerprint.
func ClientPackage(t testing.TB, compile, dir string) (cwd string, args, env []string, fp []byte) {
	t.Helper()
	cwd, args = Package(t, compile, dir)
	env = Env(compile)
	return cwd, args, env, Fingerprint(t, compile, cwd, env, args...)
}

// GoCmd returns the go command of the toolchain of compile.
func GoCmd(compile string) string {
	return filepath.Join(GOROOT(compile), "bin", "go")
}

// Server is a daemon that Serve runs: worker.Server.
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context)
}

// Serve runs s on an ephemeral loopback port until the test ends, then
// shuts it down, and returns its address.
func Serve(t testing.TB, s Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// MainEnv, set to 1, makes a command's test binary run as the command
// (see Main).
const MainEnv = "DISTSSA_TEST_MAIN"

// Main is the TestMain of a command's tests: with MainEnv=1 the test
// binary runs as the command, calling main, so that tests can start it
// as a process with Command; otherwise it runs the tests.
func Main(m *testing.M, main func()) {
	if os.Getenv(MainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Command returns a command that runs the test binary as its command
// (see Main) with args, bounded by ctx, in the test's environment.
func Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), MainEnv+"=1")
	return cmd
}
