// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// distssa-objcmp is a -toolexec wrapper that checks, package by package,
// that this toolchain's compiler writes the same bytes as a reference
// compiler (normally stock go1.21.6).
//
// Usage:
//
//	go build -a -toolexec "distssa-objcmp -ref=/path/to/stock/compile -log=DIR [-args=FLAG]... [-refcache=DIR]" PACKAGES
//
// For every compile action it runs the real compile as the go command asked
// and then the reference compile with the same arguments, except that:
//
//   - outputs (-o, -asmhdr, -linkobj) go to files under DIR;
//   - -importcfg points at the reference compiler's own outputs for the
//     dependencies (a compiler refuses export data written by another
//     toolchain version), found by the path of the real outputs;
//   - -goversion names the reference toolchain's version.
//
// It compares exit status, stdout, stderr, the assembly header and the
// objects, where only the toolchain version in object header lines may
// differ (see package objcmp). With -args, extra compiler flags (for
// example "-distssa=exec:2", one per -args) are added to the real compile
// only, which checks that they do not change the output.
//
// Each compile appends one line to DIR/results: "ok PKG" or "FAIL PKG:
// REASON". The wrapper exits with the real compile's status, so the build
// goes on after a mismatch and every package is checked.
//
// With -refcache, builds share their reference compiles: one whose key
// (everything it reads, see refcache.go) another build's compile had
// already is answered from the cache, and its package is appended to
// DIR/refhits.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"distssa/scripts/internal/objcmp"
)

var (
	refCompile = flag.String("ref", "", "reference compile `binary`")
	logDir     = flag.String("log", "", "`dir` for reference outputs and results")
	refCache   = flag.String("refcache", "", "`dir` of reference compiles to share between builds (refcache.go)")
	extraArgs  argList
)

// argList is a repeatable flag: the go command splits -toolexec at
// spaces and honors no quotes, so each extra argument comes in a -args of
// its own.
type argList []string

func (a *argList) String() string     { return strings.Join(*a, " ") }
func (a *argList) Set(v string) error { *a = append(*a, strings.Fields(v)...); return nil }

func init() {
	flag.Var(&extraArgs, "args", "extra `flag` for the real compile only (repeatable)")
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go build -toolexec \"distssa-objcmp -ref=COMPILE -log=DIR\" ...\n")
		flag.PrintDefaults()
		os.Exit(2)
	}
	flag.Parse()
	if flag.NArg() < 1 || *refCompile == "" || *logDir == "" {
		flag.Usage()
	}
	tool, args := flag.Arg(0), flag.Args()[1:]
	name := strings.TrimSuffix(filepath.Base(tool), ".exe")
	if name != "compile" || len(args) == 0 || strings.HasPrefix(args[0], "-V") {
		os.Exit(run(tool, args, nil, nil))
	}
	os.Exit(compare(tool, args))
}

// run runs a tool with our stdio (or the given buffers) and returns its
// exit status.
func run(tool string, args []string, stdout, stderr *bytes.Buffer) int {
	cmd := exec.Command(tool, args...)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if stdout != nil {
		cmd.Stdout, cmd.Stderr = stdout, stderr
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "distssa-objcmp: %v\n", err)
		return 127
	}
}

// expandArgs expands @file response-file arguments the way
// cmd/internal/objabi.Flagparse does: one argument per line, and a line
// that starts with a double quote is a Go string literal.
func expandArgs(in []string) ([]string, bool, error) {
	var out []string
	used := false
	for _, a := range in {
		if !strings.HasPrefix(a, "@") {
			out = append(out, a)
			continue
		}
		used = true
		b, err := os.ReadFile(a[1:])
		if err != nil {
			return nil, false, err
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if strings.HasPrefix(l, `"`) {
				if l, err = strconv.Unquote(l); err != nil {
					return nil, false, fmt.Errorf("%s: %v", a[1:], err)
				}
			}
			out = append(out, l)
		}
	}
	return out, used, nil
}

// flagValue finds -name VALUE or -name=VALUE and returns the index of the
// value and the value.
func flagValue(args []string, name string) (int, string) {
	for i, a := range args {
		if a == "-"+name && i+1 < len(args) {
			return i + 1, args[i+1]
		}
		if strings.HasPrefix(a, "-"+name+"=") {
			return i, a[len(name)+2:]
		}
	}
	return -1, ""
}

func setFlag(args []string, name string, i int, v string) {
	if args[i] == "-"+name || !strings.HasPrefix(args[i], "-"+name+"=") {
		args[i] = v
	} else {
		args[i] = "-" + name + "=" + v
	}
}

// pathKey names the map entry for an output file. Outputs are keyed by
// absolute path, not content: the go command rewrites the build ID inside
// an object after the compile, before dependents import it.
func pathKey(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:])
}

// writeAtomic writes a file under the log dir so that concurrent readers
// never see part of it.
func writeAtomic(path string, data []byte) error {
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o666); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func record(line string) {
	if err := appendLine("results", line); err != nil {
		fmt.Fprintf(os.Stderr, "distssa-objcmp: recording %q: %v\n", line, err)
		os.Exit(3)
	}
}

// appendLine appends a line to the file name in the log dir.
func appendLine(name, line string) error {
	f, err := os.OpenFile(filepath.Join(*logDir, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o666)
	if err == nil {
		// One write of a short line to an O_APPEND file: concurrent
		// wrappers do not interleave.
		_, err = f.Write([]byte(line + "\n"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func toolVersion(tool string) (string, error) {
	out, err := exec.Command(tool, "-V").Output()
	if err != nil {
		return "", fmt.Errorf("%s -V: %v", tool, err)
	}
	// "compile version go1.21.6"
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return "", fmt.Errorf("%s -V: unexpected output %q", tool, out)
	}
	return f[2], nil
}

func compare(tool string, args []string) int {
	var realOut, realErr bytes.Buffer
	realArgs := append(append([]string(nil), extraArgs...), args...)
	status := run(tool, realArgs, &realOut, &realErr)
	os.Stdout.Write(realOut.Bytes())
	os.Stderr.Write(realErr.Bytes())

	pkg := "?"
	if exp, _, err := expandArgs(args); err == nil {
		if _, p := flagValue(exp, "p"); p != "" {
			pkg = p
		}
	}
	if err := compareRef(tool, args, pkg, status, realOut.Bytes(), realErr.Bytes()); err != nil {
		record(fmt.Sprintf("FAIL %s: %v", pkg, err))
	} else {
		record("ok " + pkg)
	}
	return status
}

func compareRef(tool string, args []string, pkg string, status int, stdout, stderr []byte) error {
	exp, usedRsp, err := expandArgs(args)
	if err != nil {
		return err
	}
	vReal, err := toolVersion(tool)
	if err != nil {
		return err
	}
	vRef, err := toolVersion(*refCompile)
	if err != nil {
		return err
	}

	refDir := filepath.Join(*logDir, "ref")
	mapDir := filepath.Join(*logDir, "map")
	for _, d := range []string{refDir, mapDir} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return err
		}
	}
	ref := append([]string(nil), exp...)
	base, err := os.MkdirTemp(refDir, strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+"-")
	if err != nil {
		return err
	}

	// Outputs go to our own files.
	type output struct{ real, ref string }
	var outputs []output
	for _, f := range []string{"o", "asmhdr", "linkobj"} {
		if i, v := flagValue(ref, f); i >= 0 {
			r := filepath.Join(base, f)
			setFlag(ref, f, i, r)
			outputs = append(outputs, output{v, r})
		}
	}
	if i, _ := flagValue(ref, "goversion"); i >= 0 {
		setFlag(ref, "goversion", i, vRef)
	}
	// Dependencies: the reference compiler's own objects.
	if i, cfg := flagValue(ref, "importcfg"); i >= 0 {
		b, err := os.ReadFile(cfg)
		if err != nil {
			return err
		}
		var out strings.Builder
		for _, l := range strings.Split(string(b), "\n") {
			if rest := strings.TrimPrefix(l, "packagefile "); rest != l {
				eq := strings.Index(rest, "=")
				if eq < 0 {
					return fmt.Errorf("importcfg %s: bad line %q", cfg, l)
				}
				m, err := os.ReadFile(filepath.Join(mapDir, pathKey(rest[eq+1:])))
				if err != nil {
					return fmt.Errorf("no reference object for dependency %s (%s); it was not compiled through this wrapper (use go build -a and a fresh GOCACHE)", rest[:eq], rest[eq+1:])
				}
				l = "packagefile " + rest[:eq] + "=" + string(m)
			}
			out.WriteString(l + "\n")
		}
		r := filepath.Join(base, "importcfg")
		if err := os.WriteFile(r, []byte(strings.TrimSuffix(out.String(), "\n")), 0o666); err != nil {
			return err
		}
		setFlag(ref, "importcfg", i, r)
	}
	// The reference compile's key in the cache, before its arguments
	// move to a response file.
	var key string
	if *refCache != "" {
		dir, err := os.Getwd()
		if err == nil {
			key, err = refKey(ref, dir, base)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "distssa-objcmp: %s: not cached: %v\n", pkg, err)
			key = ""
		}
	}
	if usedRsp {
		var rsp strings.Builder
		for _, a := range ref {
			rsp.WriteString(strconv.Quote(a) + "\n")
		}
		r := filepath.Join(base, "args")
		if err := os.WriteFile(r, []byte(rsp.String()), 0o666); err != nil {
			return err
		}
		ref = []string{"@" + r}
	}

	var refOut, refErr bytes.Buffer
	var refStatus int
	if e, ok := cachedRef(key, base); ok {
		refStatus = e.Status
		refOut.Write(e.Stdout)
		refErr.Write(e.Stderr)
		appendLine("refhits", pkg) // a count for identity.sh; it may miss one
	} else {
		refStatus = run(*refCompile, ref, &refOut, &refErr)
		if key != "" {
			e := &refEntry{Status: refStatus, Stdout: refOut.Bytes(), Stderr: refErr.Bytes()}
			if refStatus == 0 {
				for _, o := range outputs {
					e.Outputs = append(e.Outputs, filepath.Base(o.ref))
				}
			}
			if err := storeRef(key, base, e); err != nil {
				fmt.Fprintf(os.Stderr, "distssa-objcmp: %s: storing the reference compile: %v\n", pkg, err)
			}
		}
	}
	switch {
	case refStatus != status:
		return fmt.Errorf("exit status %d, reference %d; output:\n%s%s\nreference output:\n%s%s", status, refStatus, stdout, stderr, refOut.Bytes(), refErr.Bytes())
	case !bytes.Equal(stdout, refOut.Bytes()):
		return fmt.Errorf("stdout differs:\n%s\nreference:\n%s", stdout, refOut.Bytes())
	case !bytes.Equal(stderr, refErr.Bytes()):
		return fmt.Errorf("stderr differs:\n%s\nreference:\n%s", stderr, refErr.Bytes())
	}
	if status != 0 {
		return nil // both failed the same way; no outputs to compare
	}
	// Dependents import the reference object even if this one differs,
	// so that each package is judged on its own.
	for _, o := range outputs {
		if err := writeAtomic(filepath.Join(mapDir, pathKey(o.real)), []byte(o.ref)); err != nil {
			return err
		}
	}
	for _, o := range outputs {
		got, err := os.ReadFile(o.real)
		if err != nil {
			return err
		}
		want, err := os.ReadFile(o.ref)
		if err != nil {
			return err
		}
		if err := objcmp.Equal(got, want, vReal, vRef); err != nil {
			return fmt.Errorf("%s: %v", filepath.Base(o.real), err)
		}
	}
	return nil
}
