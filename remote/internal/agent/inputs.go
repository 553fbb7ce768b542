// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/wire"
)

// hashCache remembers file hashes by path, size, modification time and
// inode, so that the export data that every compile of a build imports is
// hashed once.
type hashCache struct {
	mu  sync.Mutex
	m   map[string]hashEntry
	pos bool // keep each file's wire.Possession too
}

type hashEntry struct {
	size, mtime int64
	ino         uint64
	sum         []byte
	pos         []byte // wire.Possession, with hashCache.pos
}

func newHashCache() *hashCache { return &hashCache{m: map[string]hashEntry{}} }

// newInputCache returns the hash cache of inputs, which keeps their
// possession hashes too: a worker that holds an input already asks for
// its proof (remote.go). They are hashed as the file is read to hash it.
func newInputCache() *hashCache {
	hc := newHashCache()
	hc.pos = true
	return hc
}

func stamp(fi os.FileInfo) (size, mtime int64, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return fi.Size(), fi.ModTime().UnixNano(), ino
}

// hash returns the sha256 and size of a file.
func (hc *hashCache) hash(name string) ([]byte, int64, error) {
	c, err := hc.lookup(name)
	return c.sum, c.size, err
}

// lookup returns a file's entry: its sha256, size and, with hc.pos, its
// possession hash.
func (hc *hashCache) lookup(name string) (hashEntry, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return hashEntry{}, err
	}
	if !fi.Mode().IsRegular() {
		return hashEntry{}, fmt.Errorf("%s is not a regular file", name)
	}
	size, mtime, ino := stamp(fi)
	hc.mu.Lock()
	c, ok := hc.m[name]
	hc.mu.Unlock()
	if ok && c.size == size && c.mtime == mtime && c.ino == ino {
		return c, nil
	}
	data, err := readInput(name)
	if err != nil {
		return hashEntry{}, err
	}
	s := sha256.Sum256(data)
	c = hashEntry{size: size, mtime: mtime, ino: ino, sum: s[:]}
	if hc.pos {
		c.pos = wire.Possession(data)
	}
	hc.mu.Lock()
	hc.m[name] = c
	hc.mu.Unlock()
	return c, nil
}

// inputs is what a compile's workers need: its files by hash, its command
// line and environment, and the toolchain identity.
type inputs struct {
	files []inputFile
	cost  int64 // bytes of .go source
	args  []string
	env   []string
	id    wire.Identity

	localEnv     string // a variable of cmdline.LocalEnv that is set
	cl           *cmdline.Cmdline
	cwd, compile string
	hashOnce     sync.Once
	hashErr      error
}

// target names what a worker's handshake accepts or refuses for these
// inputs: the compile binary (whose hash is the toolchain identity) and
// the target platform.
func (in *inputs) target() string {
	return in.compile + " " + in.id.GOOS + "/" + in.id.GOARCH
}

type inputFile struct {
	path string
	hash []byte
	size int64
	pos  []byte // wire.Possession of the content
}

// ExpandArgs expands @file response-file arguments as the compiler does
// (one argument a line, with \\ and \n escapes).
func ExpandArgs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "@") {
			out = append(out, a)
			continue
		}
		data, err := os.ReadFile(a[1:])
		if err != nil {
			return nil, err
		}
		lines := strings.Split(string(data), "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		for _, l := range lines {
			if strings.Contains(l, `\`) {
				l = strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(l)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// inputs collects the compile's inputs once.
func (c *compile) inputs() (*inputs, error) {
	c.inOnce.Do(func() { c.in, c.inErr = c.a.collect(c.hello) })
	return c.in, c.inErr
}

func (a *Agent) collect(h *localproto.Hello) (*inputs, error) {
	if !filepath.IsAbs(h.Cwd) || !filepath.IsAbs(h.Compile) {
		return nil, fmt.Errorf("relative cwd or compile path")
	}
	args, err := ExpandArgs(h.Args)
	if err != nil {
		return nil, fmt.Errorf("response file: %v", err)
	}
	cl, err := cmdline.Parse(args)
	if err != nil {
		return nil, err
	}
	in := &inputs{args: args}
	env := map[string]string{}
	for _, e := range h.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
		in.env = append(in.env, e)
	}
	// The worker needs the client's GOROOT string for the $GOROOT
	// rewrite; without one in the environment, the compile's own
	// installation is the best guess.
	if _, ok := env["GOROOT"]; !ok {
		if d := filepath.Dir(filepath.Dir(filepath.Dir(h.Compile))); filepath.Base(filepath.Dir(filepath.Dir(h.Compile))) == "tool" {
			in.env = append(in.env, "GOROOT="+filepath.Dir(d))
		}
	}
	// The target: the compile's environment, else the binary's defaults,
	// which its tool directory (pkg/tool/GOOS_GOARCH) names.
	defOS, defArch := runtime.GOOS, runtime.GOARCH
	if os_, arch, ok := strings.Cut(filepath.Base(filepath.Dir(h.Compile)), "_"); ok && !strings.Contains(arch, "_") {
		defOS, defArch = os_, arch
	}
	for _, k := range cmdline.LocalEnv {
		if env[k] != "" && in.localEnv == "" {
			in.localEnv = k
		}
	}
	in.id.GOOS, in.id.GOARCH = env["GOOS"], env["GOARCH"]
	if in.id.GOOS == "" {
		in.id.GOOS = defOS
	}
	if in.id.GOARCH == "" {
		in.id.GOARCH = defArch
	}
	for _, f := range cl.Files {
		fi, err := os.Stat(cmdline.Abs(h.Cwd, f))
		if err != nil {
			return nil, fmt.Errorf("source: %v", err)
		}
		in.cost += fi.Size()
	}
	in.cl, in.cwd, in.compile = cl, h.Cwd, h.Compile
	return in, nil
}

// hashInputs lists and hashes the inputs and the compile binary. It runs
// after GRANT, in the workers' goroutines, so that GRANT does not wait.
func (a *Agent) hashInputs(in *inputs) (err error) {
	if in.id.Hash, _, err = a.ids.hash(in.compile); err != nil {
		return fmt.Errorf("compile binary: %v", err)
	}
	paths, err := in.cl.Inputs(in.cwd, os.ReadFile)
	if err != nil {
		return err
	}
	for _, p := range paths {
		c, err := a.files.lookup(p)
		if err != nil {
			return fmt.Errorf("input: %v", err)
		}
		in.files = append(in.files, inputFile{path: p, hash: c.sum, size: c.size, pos: c.pos})
	}
	return nil
}

// readInput returns what a worker gets of an input file: the file, or,
// for a package archive, an archive of its export data alone. A compile
// reads nothing else of the archives it imports (upstream
// cmd/compile/internal/noder/import.go: the __.PKGDEF member, and the
// fingerprint at its end), so the object code need not travel.
func readInput(name string) ([]byte, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if pkgdef, ok := exportArchive(data); ok {
		return pkgdef, nil
	}
	return data, nil
}

// exportArchive returns the archive made of data's first member when
// data is an ar archive whose first member is __.PKGDEF.
func exportArchive(data []byte) ([]byte, bool) {
	const (
		magic = "!<arch>\n"
		hdr   = 60
	)
	if !bytes.HasPrefix(data, []byte(magic)) || len(data) < len(magic)+hdr {
		return nil, false
	}
	h := data[len(magic) : len(magic)+hdr]
	if strings.TrimRight(string(h[:16]), " ") != "__.PKGDEF" || string(h[58:60]) != "`\n" {
		return nil, false
	}
	size, err := strconv.ParseInt(strings.TrimSpace(string(h[48:58])), 10, 64)
	if err != nil || size < 0 {
		return nil, false
	}
	end := int64(len(magic)+hdr) + size
	if end&1 != 0 {
		end++ // members are padded to an even size
	}
	if end > int64(len(data)) {
		return nil, false
	}
	return data[:end], true
}
