// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package cmdline reads a compile command line the way the worker must
// see it: which flags it has (against a whitelist), which files it reads,
// and how it is rewritten to run in a job directory (PROTOCOL.md §1,
// "What the worker runs"). The agent uses it to collect a compile's
// inputs, the worker to check and rewrite the command it runs.
package cmdline

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Kind says what the worker does with a flag.
type Kind int

const (
	Bool    Kind = iota + 1 // no value; passed through
	Value                   // passed through
	Input                   // names an input file
	Output                  // names an output file: moved into the job dir
	Trim                    // -trimpath: rewritten
	Drop                    // no value; dropped
	DropVal                 // takes a value; dropped (-memprofilerate, -distssa)
)

// Whitelist lists every flag a worker accepts. Any other flag refuses the
// job: a flag the worker does not know might read or write files outside
// the job directory, or print diagnostics that the worker would lose.
var Whitelist = map[string]Kind{
	"+": Bool, "B": Bool, "C": Bool, "N": Bool, "l": Bool, "e": Bool,
	"asan": Bool, "clobberdead": Bool, "clobberdeadreg": Bool, "complete": Bool,
	"dwarf": Bool, "dwarfbasentries": Bool, "dwarflocationlists": Bool,
	"dynlink": Bool, "errorurl": Bool, "linkshared": Bool, "msan": Bool,
	"nolocalimports": Bool, "pack": Bool, "race": Bool, "shared": Bool,
	"smallframes": Bool, "std": Bool, "wb": Bool,
	// Diagnostics: printed, so a whole compile brings them back (a
	// compile with them does not split: its own choice).
	"S": Bool, "m": Bool, "live": Bool,
	"t": Drop, "v": Drop,

	"buildid": Value, "c": Value, "d": Value, "gendwarfinl": Value,
	"goversion": Value, "installsuffix": Value, "lang": Value, "p": Value,
	"spectre": Value,

	"importcfg": Input, "embedcfg": Input, "symabis": Input, "pgoprofile": Input,
	"o": Output, "linkobj": Output, "asmhdr": Output,
	"trimpath": Trim,

	"memprofilerate": DropVal, "distssa": DropVal,
}

// writers lists the flags that make a compile write a file of their own,
// beside its outputs: off the whitelist, so that such a compile stays
// local, where its file is wanted (cmd/compile/internal/gc/util.go and
// main.go).
var writers = map[string]bool{
	"bench": true, "blockprofile": true, "cpuprofile": true, "memprofile": true,
	"mutexprofile": true, "traceprofile": true,
}

// checkDebug refuses a -d value with a setting that writes a file where
// the compile runs: ssa/PHASE/dump=FUNC (cmd/compile/internal/ssa's
// PhaseOption; objabi.DebugFlag splits a setting at its first = or :).
func checkDebug(v string) error {
	for _, s := range strings.Split(v, ",") {
		key := s
		if i := strings.IndexAny(s, "=:"); i >= 0 {
			key = s[:i]
		}
		phase, ok := strings.CutPrefix(key, "ssa/")
		if !ok {
			continue
		}
		if _, flag, ok := strings.Cut(phase, "/"); ok && flag == "dump" {
			return fmt.Errorf("flag -d setting %s writes a file where the compile runs", key)
		}
	}
	return nil
}

// Flag is one flag of a command line.
type Flag struct {
	Name  string
	Value string // for flags with a value, or "-B=true" style bools
	Set   bool   // Value was given (with = for bools)
	Kind  Kind
}

// Cmdline is a parsed compile command line.
type Cmdline struct {
	Flags []Flag
	Files []string // positional arguments (the .go files), as given
}

// FlagArgs returns the flags as arguments for a compile run elsewhere
// (a worker's job, the agent's race of a straggler): without the flags a
// worker drops, a Bool flag given without a value as it was, and every
// other flag as -name=value, value being what value returns for the
// flag (index i in Flags); a flag for which it returns false is left out.
func (c *Cmdline) FlagArgs(value func(i int, f Flag) (string, bool)) []string {
	var args []string
	for i, f := range c.Flags {
		switch {
		case f.Kind == Drop || f.Kind == DropVal:
			continue
		case f.Kind == Bool && !f.Set:
			args = append(args, "-"+f.Name)
			continue
		}
		if v, ok := value(i, f); ok {
			args = append(args, "-"+f.Name+"="+v)
		}
	}
	return args
}

// Parse parses a compile's arguments (os.Args[1:]) against the whitelist.
// The error names the first flag that is not on it.
func Parse(args []string) (*Cmdline, error) {
	c := &Cmdline{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "@") {
			return nil, fmt.Errorf("response file argument %q (expand it first)", a)
		}
		if len(a) < 2 || a[0] != '-' {
			c.Files = append(c.Files, args[i:]...)
			break
		}
		if a == "--" {
			c.Files = append(c.Files, args[i+1:]...)
			break
		}
		name := strings.TrimPrefix(a[1:], "-")
		name, val, hasVal := strings.Cut(name, "=")
		kind, ok := Whitelist[name]
		if writers[name] {
			return nil, fmt.Errorf("flag -%s writes a file where the compile runs", name)
		}
		if !ok || name == "" {
			return nil, fmt.Errorf("flag -%s is not on the worker's whitelist", name)
		}
		f := Flag{Name: name, Value: val, Set: hasVal, Kind: kind}
		if kind != Bool && kind != Drop && !hasVal {
			if i+1 == len(args) {
				return nil, fmt.Errorf("flag -%s needs a value", name)
			}
			i++
			f.Value, f.Set = args[i], true
		}
		if name == "d" {
			if err := checkDebug(f.Value); err != nil {
				return nil, err
			}
		}
		c.Flags = append(c.Flags, f)
	}
	for _, f := range c.Files {
		if strings.HasPrefix(f, "@") {
			return nil, fmt.Errorf("response file argument %q (expand it first)", f)
		}
	}
	return c, nil
}

// Get returns the value of the last occurrence of flag name.
func (c *Cmdline) Get(name string) (string, bool) {
	for i := len(c.Flags) - 1; i >= 0; i-- {
		if c.Flags[i].Name == name {
			return c.Flags[i].Value, true
		}
	}
	return "", false
}

// Abs makes p absolute against cwd and cleans it.
func Abs(cwd, p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(cwd, p)
	}
	return filepath.Clean(p)
}

// Inputs lists the absolute paths of every file the compile reads: its
// .go files, the input flags' files, and the files that the importcfg and
// embedcfg name. read reads a file of the client.
func (c *Cmdline) Inputs(cwd string, read func(string) ([]byte, error)) ([]string, error) {
	set := map[string]bool{}
	for _, f := range c.Files {
		set[Abs(cwd, f)] = true
	}
	for _, f := range c.Flags {
		if f.Kind != Input {
			continue
		}
		p := Abs(cwd, f.Value)
		set[p] = true
		var names []string
		switch f.Name {
		case "importcfg", "embedcfg":
			data, err := read(p)
			if err != nil {
				return nil, err
			}
			if f.Name == "importcfg" {
				_, names, err = RewriteImportcfg(data, cwd, nil)
			} else {
				_, names, err = RewriteEmbedcfg(data, cwd, nil)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %v", p, err)
			}
		}
		for _, n := range names {
			set[n] = true
		}
	}
	var l []string
	for p := range set {
		l = append(l, p)
	}
	sort.Strings(l)
	return l, nil
}

// RewriteImportcfg maps the file of every packagefile and packageshlib
// line through mapPath (nil: unchanged) and returns the new config with
// the absolute paths of the files it names.
func RewriteImportcfg(data []byte, cwd string, mapPath func(string) string) ([]byte, []string, error) {
	var out strings.Builder
	var names []string
	for i, line := range strings.Split(string(data), "\n") {
		verb, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		if verb == "packagefile" || verb == "packageshlib" {
			pkg, file, ok := strings.Cut(strings.TrimSpace(args), "=")
			if !ok || pkg == "" || file == "" {
				return nil, nil, fmt.Errorf("line %d: bad %s %q", i+1, verb, args)
			}
			file = Abs(cwd, file)
			names = append(names, file)
			if mapPath != nil {
				file = mapPath(file)
			}
			line = verb + " " + pkg + "=" + file
		}
		if i > 0 {
			out.WriteByte('\n')
		}
		out.WriteString(line)
	}
	return []byte(out.String()), names, nil
}

// embedcfg is the -embedcfg file's JSON.
type embedcfg struct {
	Patterns map[string][]string
	Files    map[string]string
}

// RewriteEmbedcfg is RewriteImportcfg for an -embedcfg file.
func RewriteEmbedcfg(data []byte, cwd string, mapPath func(string) string) ([]byte, []string, error) {
	var cfg embedcfg
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, nil, err
	}
	var names []string
	for k, v := range cfg.Files {
		p := Abs(cwd, v)
		names = append(names, p)
		if mapPath != nil {
			cfg.Files[k] = mapPath(p)
		}
	}
	sort.Strings(names)
	out, err := json.Marshal(&cfg)
	return out, names, err
}

// Trimpath builds the worker's -trimpath value (PROTOCOL.md §1): each
// client rule with a prefix, with root prefixed to it; root+goroot =>
// $GOROOT; root/d => /d for each top-level directory d of the
// materialized files; then each client rule unchanged (for //line
// names). Every path under root is rewritten by the first three kinds,
// as the compile would rewrite the client path, so that a client rule
// that names a directory above root (or has no prefix, and so would
// match all of root) never sees it.
func Trimpath(client, root, goroot string, topDirs []string) string {
	var rules []string
	var orig []string
	if client != "" {
		orig = strings.Split(client, ";")
	}
	for _, r := range orig {
		if from, _, _ := splitRule(r); from != "" {
			rules = append(rules, root+r)
		}
	}
	if goroot != "" {
		rules = append(rules, root+goroot+"=>$GOROOT")
	}
	for _, d := range topDirs {
		rules = append(rules, root+"/"+d+"=>/"+d)
	}
	rules = append(rules, orig...)
	return strings.Join(rules, ";")
}

// splitRule splits a -trimpath rule into its prefix and replacement, at
// its last "=>" as the compiler does (cmd/internal/objabi); arrow says
// whether it had one.
func splitRule(r string) (from, to string, arrow bool) {
	if i := strings.LastIndex(r, "=>"); i >= 0 {
		return r[:i], r[i+2:], true
	}
	return r, "", false
}

// Rule is one rule of a -trimpath value: Prefix => To, or a bare prefix
// (Arrow false) that is removed.
type Rule struct {
	Prefix, To string
	Arrow      bool
}

// Rules splits a -trimpath value into its rules, as the compiler does.
func Rules(trimpath string) []Rule {
	var rules []Rule
	for _, r := range strings.Split(trimpath, ";") {
		from, to, arrow := splitRule(r)
		rules = append(rules, Rule{from, to, arrow})
	}
	return rules
}

// HasPathPrefix reports whether the compiler's -trimpath matching sees
// prefix as leading path elements of p: it folds ASCII case and reads \
// as /, and the prefix must end where an element does.
func HasPathPrefix(p, prefix string) bool {
	if len(prefix) > len(p) {
		return false
	}
	fold := func(c byte) byte {
		switch {
		case 'A' <= c && c <= 'Z':
			return c + 'a' - 'A'
		case c == '\\':
			return '/'
		}
		return c
	}
	for i := 0; i < len(prefix); i++ {
		if fold(p[i]) != fold(prefix[i]) {
			return false
		}
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/' || p[len(prefix)] == '\\'
}

// Recorded returns the file name that a compile with the given
// -trimpath value and GOROOT records for the source file at absolute
// path p (what cmd/internal/objabi.AbsFile gives, on a Unix host): the
// first rule whose prefix is a path prefix of p rewrites it; a path no
// rule rewrote reads $GOROOT for goroot; an empty name reads ??. The
// worker's own rules (Trimpath) give a compile in the job directory the
// same names.
func Recorded(p, trimpath, goroot string) string {
	name, done := p, false
	for _, r := range Rules(trimpath) {
		if r.Prefix == "" || !HasPathPrefix(p, r.Prefix) {
			continue
		}
		switch {
		case len(p) == len(r.Prefix):
			name = r.To
		case r.To == "":
			name = p[len(r.Prefix)+1:]
		default:
			name = r.To + p[len(r.Prefix):]
		}
		done = true
		break
	}
	if !done && goroot != "" && HasPathPrefix(p, goroot) {
		name = "$GOROOT" + p[len(goroot):]
	}
	if name == "" {
		name = "??"
	}
	return name
}

// TopDirs returns the sorted distinct first elements of absolute paths.
// The worker's rule root/d => /d must give back every path under root/d
// as it was; since the compiler folds case and reads \ as / when it
// matches a rule (HasPathPrefix), two paths that it could not tell apart
// there (/tmp and /TMP, /a/b and /a\b) are an error.
func TopDirs(paths ...string) ([]string, error) {
	set := map[string]bool{}
	for _, p := range paths {
		d, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		if d != "" {
			set[d] = true
		}
	}
	var l []string
	for d := range set {
		l = append(l, d)
	}
	sort.Strings(l)
	for _, p := range paths {
		for _, d := range l {
			if HasPathPrefix(p, "/"+d) && !strings.HasPrefix(p, "/"+d) {
				return nil, fmt.Errorf("paths %s and /%s differ only in letter case or in \\ for /: the compile's -trimpath matching cannot tell them apart", p, d)
			}
		}
	}
	return l, nil
}

// CompileEnv lists the environment variables that a worker's compile
// gets from the client: those that the compiler reads and that can
// change what it writes (internal/buildcfg, cmd/internal/objabi,
// cmd/compile). GOOS and GOARCH come from the connection's target. No
// other variable (GOCACHE, GOFLAGS, GOPATH, …) reaches the worker or its
// result cache's key.
var CompileEnv = map[string]bool{
	"GOROOT": true, "GOAMD64": true, "GO386": true, "GOARM": true,
	"GOMIPS": true, "GOMIPS64": true, "GOPPC64": true, "GOWASM": true,
	"GOEXPERIMENT": true, "GODEBUG": true, "GO_EXTLINK_ENABLED": true,
	"GOCLOBBERDEADHASH": true,
}

// LocalEnv lists the environment variables with which a compile stays
// local: they make it write files where it runs (GOSSAFUNC's ssa.html,
// GOSSADIR, the hash debugger's GSHS_LOGFILE) or set debug flags that
// may (GOCOMPILEDEBUG). A worker refuses a task whose environment sets
// one.
var LocalEnv = []string{"GOSSAFUNC", "GOSSADIR", "GOCOMPILEDEBUG", "GSHS_LOGFILE"}

// LastLine returns the last line of a compile's output, less surrounding
// space: what a one-line message of its failure quotes.
func LastLine(out string) string {
	out = strings.TrimSpace(out)
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return out
}
