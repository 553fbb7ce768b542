// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package main

// The reference cache (-refcache=DIR) lets the builds of one test run
// share their reference compiles: scripts/identity.sh checks one set of
// packages with several sets of distssa flags, and the reference side,
// stock go1.21.6 with the go command's arguments, is the same compile
// each time. An entry is keyed by everything the reference compile
// reads: its binary, its working directory, the GO* environment, and
// its arguments with each input file replaced by a hash of its content
// (and, for the importcfg and the embedcfg, of the files they name).
// It holds the compile's exit status, stdout, stderr and outputs.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// noCache lists flags with which a compile writes files beside its
// outputs, or reads files that its arguments do not name (-I searches
// directories for imports): such a compile is not cached.
var noCache = []string{"-coveragecfg", "-json", "-cpuprofile", "-memprofile", "-blockprofile",
	"-mutexprofile", "-traceprofile", "-bench", "-I"}

// workDir matches a path in a go command's work directory ($WORK/bNNN),
// which differs from build to build; -trimpath removes it from what the
// compile records.
var workDir = regexp.MustCompile(`/go-build[0-9]+/b[0-9]+`)

// refKey returns the cache key of the reference compile ref, run in
// dir, whose own files (outputs, importcfg, response file) are under
// base; "" if it is not to be cached.
func refKey(ref []string, dir, base string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "distssa-objcmp reference v1\n")
	st, err := os.Stat(*refCompile)
	if err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(*refCompile)
	fmt.Fprintf(h, "compile %q %d %d\ndir %q\n", abs, st.Size(), st.ModTime().UnixNano(), dir)
	var env []string
	for _, kv := range os.Environ() {
		// GOCACHE differs between builds and the compile does not read it.
		if strings.HasPrefix(kv, "GO") && !strings.HasPrefix(kv, "GOCACHE=") {
			env = append(env, kv)
		}
	}
	sort.Strings(env)
	for _, kv := range env {
		fmt.Fprintf(h, "env %q\n", kv)
	}
	// Each $WORK/bNNN becomes $W1, $W2, … in order of appearance.
	works := map[string]string{}
	norm := func(s string) string {
		s = strings.ReplaceAll(s, base, "$REF")
		return workDir.ReplaceAllStringFunc(s, func(w string) string {
			if _, ok := works[w]; !ok {
				works[w] = "$W" + strconv.Itoa(len(works)+1)
			}
			return works[w]
		})
	}
	for i, a := range ref {
		for _, f := range noCache {
			if a == f || strings.HasPrefix(a, f+"=") {
				return "", nil
			}
		}
		fmt.Fprintf(h, "arg %q\n", norm(a))
		var err error
		switch {
		case i > 0 && ref[i-1] == "-importcfg", strings.HasPrefix(a, "-importcfg="):
			err = hashImportcfg(h, dir, strings.TrimPrefix(a, "-importcfg="))
		case i > 0 && ref[i-1] == "-embedcfg", strings.HasPrefix(a, "-embedcfg="):
			err = hashEmbedcfg(h, dir, strings.TrimPrefix(a, "-embedcfg="))
		default:
			// Any other argument that names a file is an input (the
			// outputs, under base, do not exist yet).
			p := a
			if j := strings.Index(a, "="); strings.HasPrefix(a, "-") && j > 0 {
				p = a[j+1:]
			}
			if p != "" && !strings.HasPrefix(abspath(dir, p), base+string(filepath.Separator)) {
				err = hashFile(h, dir, p, false)
			}
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func abspath(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// hashFile adds the content of the file p to h; a path that is not a
// regular file adds nothing unless must is set, when it is an error.
func hashFile(h io.Writer, dir, p string, must bool) error {
	p = abspath(dir, p)
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		if must {
			return fmt.Errorf("reference cache: %s: not a file (%v)", p, err)
		}
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	c := sha256.New()
	if _, err := io.Copy(c, f); err != nil {
		return err
	}
	fmt.Fprintf(h, "file %x\n", c.Sum(nil))
	return nil
}

// hashImportcfg adds an importcfg to h, with the content of every
// package file it names in place of its path.
func hashImportcfg(h io.Writer, dir, cfg string) error {
	b, err := os.ReadFile(abspath(dir, cfg))
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(l, "packagefile ")
		if !ok {
			rest, ok = strings.CutPrefix(l, "packageshlib ")
		}
		if eq := strings.Index(rest, "="); ok && eq >= 0 {
			fmt.Fprintf(h, "importcfg %q\n", l[:len(l)-len(rest)]+rest[:eq])
			if err := hashFile(h, dir, rest[eq+1:], true); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(h, "importcfg %q\n", l)
	}
	return nil
}

// hashEmbedcfg adds an embedcfg to h, with the content of every file it
// names.
func hashEmbedcfg(h io.Writer, dir, cfg string) error {
	b, err := os.ReadFile(abspath(dir, cfg))
	if err != nil {
		return err
	}
	var c struct {
		Patterns map[string][]string
		Files    map[string]string
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("embedcfg %s: %v", cfg, err)
	}
	pats, _ := json.Marshal(c.Patterns)
	fmt.Fprintf(h, "embed patterns %s\n", pats)
	names := make([]string, 0, len(c.Files))
	for n := range c.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "embed %q\n", n)
		if err := hashFile(h, dir, c.Files[n], true); err != nil {
			return err
		}
	}
	return nil
}

// refEntry is what the cache keeps of a reference compile.
type refEntry struct {
	Status         int
	Stdout, Stderr []byte
	Outputs        []string // the outputs' base names under base, in order
}

// cachedRef fills the outputs under base from the cache entry key and
// returns the entry, or false if there is none (or no key).
func cachedRef(key, base string) (*refEntry, bool) {
	if key == "" {
		return nil, false
	}
	dir := filepath.Join(*refCache, key)
	b, err := os.ReadFile(filepath.Join(dir, "entry.json"))
	if err != nil {
		return nil, false
	}
	var e refEntry
	if json.Unmarshal(b, &e) != nil {
		return nil, false
	}
	for _, o := range e.Outputs {
		if linkOrCopy(filepath.Join(dir, o), filepath.Join(base, o)) != nil {
			return nil, false
		}
	}
	return &e, true
}

// linkOrCopy makes the file dst a hard link of src, or a copy. Nothing
// writes a reference output once its compile is done, so the cache and
// the builds may share the files.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o666)
}

// storeRef keeps a reference compile's results under key; an entry that
// another wrapper stored first stays.
func storeRef(key, base string, e *refEntry) error {
	if err := os.MkdirAll(*refCache, 0o777); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(*refCache, "tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, o := range e.Outputs {
		if err := linkOrCopy(filepath.Join(base, o), filepath.Join(tmp, o)); err != nil {
			return err
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "entry.json"), b, 0o666); err != nil {
		return err
	}
	err = os.Rename(tmp, filepath.Join(*refCache, key))
	if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
		err = nil // another wrapper stored it first
	}
	return err
}
