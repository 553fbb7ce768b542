// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// backrefs counts the references between the files of a Go package that
// run back up: it shows how far a package is from reading bottom to top.
//
// Usage (from the repository, after src/make.bash):
//
//	go run ./scripts/backrefs [-goroot goroot] [-v] cmd/compile/internal/distssa/...
//
// For each package it type-checks the package's files (the build's for
// this GOOS and GOARCH, not its tests) against the export data of its
// imports, which the toolchain in -goroot builds (go list -export, run in
// GOROOT/src/cmd for cmd/... packages and in GOROOT/src otherwise). The
// files are the overlay's (-src, the repository's src/) where it has the
// package, so that a staged tree older than the checkout does not count. A file refers to another when
// it uses a name the other declares: a package-level function, variable,
// constant or type, a method or a struct field. Each ordered pair of
// files counts once, whatever the number of names.
//
// Files are then ordered bottom to top so that as few references as
// possible run from a lower file to a higher one (an exact minimum: a
// dynamic program over the subsets of files). Those that still do are
// the back-references: a package whose files refer to each other in a
// cycle has at least one. A file's floor is 0 if it refers to no other
// file, and otherwise one more than the highest floor it refers to,
// back-references left out. References between packages are not counted:
// Go's imports cannot run back up.
//
// It prints, per package, the files with their floors, the number of
// references and of back-references, and (with -v) each reference with
// the names that make it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

var (
	gorootFlag = flag.String("goroot", "goroot", "the GOROOT whose go command lists the packages and builds their imports")
	srcFlag    = flag.String("src", "src", "the overlay: a package's files are read from here if it has the package's directory")
	verbose    = flag.Bool("v", false, "print every reference with its names")
)

type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Export     string
	DepOnly    bool
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./scripts/backrefs [-goroot DIR] [-v] PACKAGE...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	goroot, err := filepath.Abs(*gorootFlag)
	if err != nil {
		fatalf("%v", err)
	}
	dir := filepath.Join(goroot, "src")
	if strings.HasPrefix(flag.Arg(0), "cmd/") {
		dir = filepath.Join(dir, "cmd")
	}
	cmd := exec.Command(filepath.Join(goroot, "bin", "go"), append([]string{"list", "-export", "-deps", "-json=ImportPath,Dir,GoFiles,Export,DepOnly"}, flag.Args()...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOROOT="+goroot, "GOFLAGS=", "GOTOOLCHAIN=local")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fatalf("go list in %s: %v", dir, err)
	}
	exports := make(map[string]string)
	var pkgs []listed
	for d := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := d.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			fatalf("go list output: %v", err)
		}
		exports[p.ImportPath] = p.Export
		if !p.DepOnly {
			pkgs = append(pkgs, p)
		}
	}
	total := 0
	for _, p := range pkgs {
		total += count(p, exports)
	}
	fmt.Printf("total: %d back-references\n", total)
}

func isDir(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.IsDir()
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "backrefs: "+format+"\n", args...)
	os.Exit(1)
}

// count prints the files of p with their floors and returns the number
// of back-references.
func count(p listed, exports map[string]string) int {
	if d := filepath.Join(*srcFlag, p.ImportPath); isDir(d) {
		ents, err := os.ReadDir(d)
		if err != nil {
			fatalf("%v", err)
		}
		p.Dir, p.GoFiles = d, nil
		for _, e := range ents {
			name := e.Name()
			if ok, err := build.Default.MatchFile(d, name); err == nil && ok && !strings.HasSuffix(name, "_test.go") {
				p.GoFiles = append(p.GoFiles, name)
			}
		}
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
		if err != nil {
			fatalf("%v", err)
		}
		files = append(files, f)
	}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if exports[path] == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(exports[path])
	})
	info := &types.Info{Uses: make(map[*ast.Ident]types.Object), Selections: make(map[*ast.SelectorExpr]*types.Selection)}
	conf := types.Config{Importer: imp}
	pkg, err := conf.Check(p.ImportPath, fset, files, info)
	if err != nil {
		fatalf("%s: %v", p.ImportPath, err)
	}

	// refs[from][to] are the names file from uses that file to declares.
	n := len(files)
	index := make(map[string]int)
	for i, name := range p.GoFiles {
		index[filepath.Join(p.Dir, name)] = i
	}
	refs := make([][]map[string]bool, n)
	for i := range refs {
		refs[i] = make([]map[string]bool, n)
	}
	add := func(at token.Pos, obj types.Object) {
		if obj == nil || obj.Pkg() != pkg || !obj.Pos().IsValid() {
			return
		}
		// Package-level names, methods and fields; not locals.
		level := obj.Parent() == pkg.Scope()
		if f, ok := obj.(*types.Func); ok && f.Type().(*types.Signature).Recv() != nil {
			level = true
		}
		if v, ok := obj.(*types.Var); ok && v.IsField() {
			level = true
		}
		if !level {
			return
		}
		from, ok1 := index[fset.Position(at).Filename]
		to, ok2 := index[fset.Position(obj.Pos()).Filename]
		if !ok1 || !ok2 || from == to {
			return
		}
		if refs[from][to] == nil {
			refs[from][to] = make(map[string]bool)
		}
		refs[from][to][obj.Name()] = true
	}
	for id, obj := range info.Uses {
		add(id.Pos(), obj)
	}
	for sel, s := range info.Selections {
		add(sel.Sel.Pos(), s.Obj())
	}
	edges := 0
	for i := range refs {
		for j := range refs[i] {
			if refs[i][j] != nil {
				edges++
			}
		}
	}

	// best[s] is the fewest back-references of the files in set s placed
	// at the bottom, in some order; last[s] the file on top of them.
	if n > 24 {
		fatalf("%s: %d files is too many for an exact order", p.ImportPath, n)
	}
	full := 1<<n - 1
	best := make([]int, full+1)
	last := make([]int, full+1)
	for s := 1; s <= full; s++ {
		best[s] = 1 << 30
		for v := 0; v < n; v++ {
			if s&(1<<v) == 0 {
				continue
			}
			below := s &^ (1 << v)
			c := best[below]
			for u := 0; u < n; u++ {
				if below&(1<<u) != 0 && refs[u][v] != nil {
					c++ // u, lower, refers to v above it
				}
			}
			if c < best[s] {
				best[s], last[s] = c, v
			}
		}
	}
	order := make([]int, n) // bottom to top
	for s, i := full, n-1; s != 0; i-- {
		order[i] = last[s]
		s &^= 1 << last[s]
	}
	pos := make([]int, n)
	for i, f := range order {
		pos[f] = i
	}
	floor := make([]int, n)
	for _, f := range order {
		for t := 0; t < n; t++ {
			if refs[f][t] != nil && pos[t] < pos[f] && floor[t]+1 > floor[f] {
				floor[f] = floor[t] + 1
			}
		}
	}

	fmt.Printf("%s: %d files, %d references between them, %d back-references\n", p.ImportPath, n, edges, best[full])
	byFloor := append([]int(nil), order...)
	sort.SliceStable(byFloor, func(i, j int) bool {
		a, b := byFloor[i], byFloor[j]
		if floor[a] != floor[b] {
			return floor[a] > floor[b]
		}
		return p.GoFiles[a] < p.GoFiles[b]
	})
	for _, f := range byFloor {
		fmt.Printf("\tfloor %2d  %s\n", floor[f], p.GoFiles[f])
	}
	for _, f := range order {
		for t := 0; t < n; t++ {
			if refs[f][t] == nil {
				continue
			}
			back := pos[t] > pos[f]
			if !back && !*verbose {
				continue
			}
			var names []string
			for name := range refs[f][t] {
				names = append(names, name)
			}
			sort.Strings(names)
			mark := "  "
			if back {
				mark = "BACK"
			}
			fmt.Printf("\t%s %s -> %s: %s\n", mark, p.GoFiles[f], p.GoFiles[t], strings.Join(names, ", "))
		}
	}
	return best[full]
}
