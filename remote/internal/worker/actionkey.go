// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
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
const actionVersion = "distssa action v1"

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
//     replaced by its hash; a dropped flag not at all; any other flag by
//     its name and value;
//   - each source file: its path as given and absolute, and its hash.
//
// Every mention of the client's work directory r.Work is read as
// "$WORK" (and a literal "$" as "$$"), so that the same compile in
// another build of the go command has the same key; this relies on the
// go command's -trimpath of $WORK/bNNN keeping the work directory out of
// the outputs.
// Input hashes come from r.Files; read returns a blob's content (for the
// configs). The errors are the refusals materialize would give.
func actionKey(toolchain []byte, goos, goarch string, r *wire.Run, read func(hash []byte) ([]byte, error)) ([]byte, error) {
	if err := checkCwd(r.Cwd); err != nil {
		return nil, err
	}
	cl, err := cmdline.Parse(r.Args)
	if err != nil {
		return nil, err
	}
	hashes, _, err := checkFiles(r.Files)
	if err != nil {
		return nil, err
	}
	// work reads r.Work as "$WORK"; it doubles every "$" of the rest, so
	// that a literal "$WORK" in a string stays apart from the work dir.
	work := func(s string) string {
		if r.Work == "" {
			return strings.ReplaceAll(s, "$", "$$")
		}
		parts := strings.Split(s, r.Work)
		for i, p := range parts {
			parts[i] = strings.ReplaceAll(p, "$", "$$")
		}
		return strings.Join(parts, "$WORK")
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

	env, _ := goEnv(r.Env)
	last := map[string]string{}
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		last[name] = e
	}
	var sorted []string
	for _, e := range last {
		sorted = append(sorted, work(e))
	}
	sort.Strings(sorted)
	k.str("env")
	k.uint(uint64(len(sorted)))
	for _, e := range sorted {
		k.str(e)
	}
	k.str("cwd")
	k.str(work(r.Cwd))

	for _, f := range cl.Flags {
		var val []byte
		switch f.Kind {
		case cmdline.Drop, cmdline.DropVal:
			continue
		case cmdline.Output:
			// Where the outputs go does not change them.
		case cmdline.Bool:
			if f.Set {
				val = []byte("=" + work(f.Value))
			}
		case cmdline.Input:
			h, err := fileHash("-"+f.Name+" file", f.Value)
			if err != nil {
				return nil, err
			}
			val = h
			if f.Name == "importcfg" || f.Name == "embedcfg" {
				data, err := read(h)
				if err != nil {
					return nil, fmt.Errorf("-%s file %s: %v", f.Name, cmdline.Abs(r.Cwd, f.Value), err)
				}
				if val, err = canonicalCfg(f.Name, data, r.Cwd, hashes, work); err != nil {
					return nil, err
				}
			}
		default:
			val = []byte("=" + work(f.Value))
		}
		k.str("flag")
		k.str(f.Name)
		k.bytes(val)
	}
	for _, f := range cl.Files {
		h, err := fileHash("source file", f)
		if err != nil {
			return nil, err
		}
		k.str("file")
		k.str(work(f))
		k.str(work(cmdline.Abs(r.Cwd, f)))
		k.bytes(h)
	}
	return k.h.Sum(nil), nil
}

// canonicalCfg returns an -importcfg or -embedcfg file with every file it
// names replaced by the hex of its hash, and the work directory by
// "$WORK": what the config means, whatever the paths of its files.
func canonicalCfg(flag string, data []byte, cwd string, hashes map[string][]byte, work func(string) string) ([]byte, error) {
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
	return []byte(work(string(out))), nil
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

func (k *keyWriter) str(s string) {
	k.uint(uint64(len(s)))
	k.h.Write([]byte(s))
}
