// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/wire"
)

// actionVersion tags the encoding of action keys; change it with the
// encoding, or with anything else that changes what a key stands for.
const actionVersion = "distssa action v2"

// actionKey returns the key under which the result of a whole compile
// is cached (PROTOCOL.md §3, "Whole compiles"): the sha256 of everything
// that decides what the compile prints and writes, in an unambiguous
// encoding (every field length-prefixed, in a fixed order):
//
//   - the version tag, the sha256 of the compile binary, GOOS, GOARCH;
//   - the GO* environment the compile gets (the last entry of a key wins,
//     as in exec.Cmd), sorted;
//   - the working directory;
//   - each flag of the command line, in order: an output flag by its name
//     only; an input flag by its name and its file's content hash, except
//     -importcfg and -embedcfg, by their content with each file they name
//     replaced by its hash; -trimpath by each rule's prefix and
//     replacement; a dropped flag not at all; any other flag by its name
//     and value;
//   - each source file: its path as given and absolute, its hash, and the
//     name the compile records for it (cmdline.Recorded), which decides
//     what its object says and whether it may hold cgo directives.
//
// The client's work directory r.Work reads "$WORK" where a path begins
// with it (a literal "$" then reads "$$"), and nowhere else: in the
// working directory, the source paths and the prefixes of -trimpath
// rules; so the same compile in another build of the go command has the
// same key. Anything else is keyed as it is: flag values, the
// environment, the replacements of -trimpath, the configs, the recorded
// names. A Work that could change how a flag is read (not a clean
// absolute path, or one with ;, =, >, \ or a control character) is an
// error. A source that names the work dir (where a //line name might,
// which a -trimpath rule under $WORK would rewrite) gets a key that
// reads no $WORK at all.
// Input hashes come from r.Files; read returns a blob's content (for the
// configs and, when $WORK is in a rule, the sources). The errors are the
// refusals materialize would give.
func actionKey(toolchain []byte, goos, goarch string, r *wire.RunWhole, read func(hash []byte) ([]byte, error)) ([]byte, error) {
	if err := checkCwd(r.Cwd); err != nil {
		return nil, err
	}
	if err := checkWork(r.Work); err != nil {
		return nil, err
	}
	cl, err := cmdline.Parse(r.Args)
	if err != nil {
		return nil, err
	}
	hashes, paths, err := checkFiles(r.Files)
	if err != nil {
		return nil, err
	}
	// What materialize refuses for the worker's own -trimpath rules.
	if _, err := cmdline.TopDirs(append(paths, r.Cwd)...); err != nil {
		return nil, err
	}
	key, inRule, err := actionKeyWork(toolchain, goos, goarch, r, cl, hashes, r.Work, read)
	if err != nil || !inRule {
		return key, err
	}
	// A //line name is rewritten by the -trimpath rules as the compile
	// reads them, $WORK or not: if a source may name the work dir in one,
	// its key reads the work dir as it is.
	for _, f := range cl.Files {
		data, err := read(hashes[cmdline.Abs(r.Cwd, f)])
		if err != nil {
			return nil, fmt.Errorf("source file %s: %v", cmdline.Abs(r.Cwd, f), err)
		}
		if bytes.Contains(foldPath(data), foldPath([]byte(r.Work))) {
			key, _, err = actionKeyWork(toolchain, goos, goarch, r, cl, hashes, "", read)
			return key, err
		}
	}
	return key, nil
}

// checkWork checks a RunWhole's work directory: empty, or a clean absolute
// path without a character that the -trimpath syntax or its matching
// reads (; = > \) and without control characters. The error names it.
func checkWork(w string) error {
	if w == "" {
		return nil
	}
	if err := CheckPath(w); err != nil {
		return fmt.Errorf("work directory: %v", err)
	}
	for _, c := range []byte(w) {
		if c < ' ' || c == 0x7f || strings.IndexByte(";=>\\", c) >= 0 {
			return fmt.Errorf("work directory %q holds %q: it is substituted in -trimpath, where that character is syntax", w, c)
		}
	}
	return nil
}

// foldPath folds ASCII case and \ to /, as the compiler's -trimpath
// matching does.
func foldPath(b []byte) []byte {
	f := make([]byte, len(b))
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '\\':
			c = '/'
		}
		f[i] = c
	}
	return f
}

// actionKeyWork computes the key with work ("" for none) read as $WORK,
// and says whether it was in the prefix of a -trimpath rule.
func actionKeyWork(toolchain []byte, goos, goarch string, r *wire.RunWhole, cl *cmdline.Cmdline, hashes map[string][]byte, work string, read func([]byte) ([]byte, error)) ([]byte, bool, error) {
	inRule := false
	// path reads a path that is work or below it as $WORK and the rest;
	// it doubles every "$" of the rest, so that a literal "$WORK" stays
	// apart from the work dir.
	path := func(p string) string {
		if work != "" && (p == work || strings.HasPrefix(p, work+"/")) {
			return "$WORK" + strings.ReplaceAll(p[len(work):], "$", "$$")
		}
		return strings.ReplaceAll(p, "$", "$$")
	}
	fileHash := func(what, p string) ([]byte, error) {
		a := cmdline.Abs(r.Cwd, p)
		h, ok := hashes[a]
		if !ok {
			return nil, fmt.Errorf("%s %s was not uploaded", what, a)
		}
		return h, nil
	}

	k := keyWriter{h: sha256.New()}
	k.str(actionVersion)
	k.bytes(toolchain)
	k.str(goos)
	k.str(goarch)

	env, goroot := goEnv(r.Env)
	last := map[string]string{}
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		last[name] = e
	}
	var sorted []string
	for _, e := range last {
		sorted = append(sorted, e)
	}
	sort.Strings(sorted)
	k.str("env")
	k.uint(uint64(len(sorted)))
	for _, e := range sorted {
		k.str(e)
	}
	k.str("cwd")
	k.str(path(r.Cwd))

	for _, f := range cl.Flags {
		var val []byte
		switch f.Kind {
		case cmdline.Drop, cmdline.DropVal:
			continue
		case cmdline.Output:
			// Where the outputs go does not change them.
		case cmdline.Bool:
			if f.Set {
				val = []byte("=" + f.Value)
			}
		case cmdline.Input:
			h, err := fileHash("-"+f.Name+" file", f.Value)
			if err != nil {
				return nil, false, err
			}
			val = h
			if f.Name == "importcfg" || f.Name == "embedcfg" {
				data, err := read(h)
				if err != nil {
					return nil, false, fmt.Errorf("-%s file %s: %v", f.Name, cmdline.Abs(r.Cwd, f.Value), err)
				}
				if val, err = canonicalCfg(f.Name, data, r.Cwd, hashes); err != nil {
					return nil, false, err
				}
			}
		case cmdline.Trim:
			// Each rule by its prefix, read as a path, and its
			// replacement, as it is: a replacement under $WORK puts the
			// work dir into the object.
			t := keyWriter{h: sha256.New()}
			for _, rule := range cmdline.Rules(f.Value) {
				p := path(rule.Prefix)
				inRule = inRule || strings.HasPrefix(p, "$WORK")
				t.str(p)
				t.str(rule.To)
				t.bool(rule.Arrow)
			}
			val = t.h.Sum(nil)
		default:
			val = []byte("=" + f.Value)
		}
		k.str("flag")
		k.str(f.Name)
		k.bytes(val)
	}
	trim, _ := cl.Get("trimpath")
	for _, f := range cl.Files {
		h, err := fileHash("source file", f)
		if err != nil {
			return nil, false, err
		}
		a := cmdline.Abs(r.Cwd, f)
		k.str("file")
		k.str(path(f))
		k.str(path(a))
		k.bytes(h)
		k.str(cmdline.Recorded(a, trim, goroot))
	}
	return k.h.Sum(nil), inRule, nil
}

// canonicalCfg returns an -importcfg or -embedcfg file with every file it
// names replaced by the hex of its hash: what the config means, whatever
// the paths of its files.
func canonicalCfg(flag string, data []byte, cwd string, hashes map[string][]byte) ([]byte, error) {
	var missing error
	byHash := func(p string) string {
		h, ok := hashes[p]
		if !ok && missing == nil {
			missing = fmt.Errorf("file named by -%s %s was not uploaded", flag, p)
		}
		return hex.EncodeToString(h)
	}
	rewrite := cmdline.RewriteImportcfg
	if flag == "embedcfg" {
		rewrite = cmdline.RewriteEmbedcfg
	}
	out, _, err := rewrite(data, cwd, byHash)
	if err != nil {
		return nil, fmt.Errorf("-%s: %v", flag, err)
	}
	if missing != nil {
		return nil, missing
	}
	return out, nil
}

// keyWriter writes length-prefixed fields to a hash.
type keyWriter struct{ h hash.Hash }

func (k *keyWriter) uint(n uint64) {
	var b [binary.MaxVarintLen64]byte
	k.h.Write(b[:binary.PutUvarint(b[:], n)])
}

func (k *keyWriter) bytes(b []byte) {
	k.uint(uint64(len(b)))
	k.h.Write(b)
}

func (k *keyWriter) bool(b bool) {
	if b {
		k.uint(1)
	} else {
		k.uint(0)
	}
}

func (k *keyWriter) str(s string) {
	k.uint(uint64(len(s)))
	k.h.Write([]byte(s))
}
