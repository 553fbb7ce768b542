// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"distssa/remote/internal/wire"
)

// A client learns what failed, not where on the worker: the messages it
// gets (Error, Whole.Msg, Result.Msg) and what a whole compile printed
// name none of the worker's paths. The worker's log keeps them.

// scrubMsg scrubs the message of an Error, Whole or Result on its way to
// the client, and logs the message it replaces.
func (c *conn) scrubMsg(m any) {
	var msg *string
	switch m := m.(type) {
	case *wire.Error:
		msg = &m.Msg
	case *wire.Whole:
		msg = &m.Msg
	case *wire.Result:
		msg = &m.Msg
	default:
		return
	}
	if *msg == "" {
		return
	}
	if s := c.s.scrub(*msg); s != *msg {
		if c.log != nil {
			c.log.Info("message to the client without the worker's paths", "msg", s, "full", *msg)
		}
		*msg = s
	}
}

// needle is a worker path that scrub replaces.
type needle struct {
	path, repl string
	jobs       bool // the jobs directory: what follows decides
}

// scrub returns msg with the worker's paths replaced: a path under a
// job's root reads as the client path it stands for; any other path in
// a job directory, the store, the cache directory or the compile binary
// reads "the job directory", "the store", "the cache directory" or "the
// compile". A path counts only where one starts and ends (after a space,
// a quote, "=" and so on).
func (s *Server) scrub(msg string) string {
	var needles []needle
	for _, d := range pathForms(s.cfg.CacheDir) {
		needles = append(needles, needle{d + "/jobs/", "", true}, needle{d + "/store", "the store", false},
			needle{d, "the cache directory", false})
	}
	for _, p := range pathForms(s.cfg.Compile) {
		needles = append(needles, needle{p, "the compile", false})
	}
	sort.SliceStable(needles, func(i, j int) bool { return len(needles[i].path) > len(needles[j].path) })

	var b strings.Builder
	i := 0
next:
	for i < len(msg) {
		if i == 0 || !pathByte(msg[i-1]) {
			for _, n := range needles {
				if !strings.HasPrefix(msg[i:], n.path) {
					continue
				}
				j := i + len(n.path)
				if n.jobs {
					// jobs/NAME/root: the client path follows.
					k := j
					for k < len(msg) && pathByte(msg[k]) && msg[k] != '/' {
						k++
					}
					if r := k + len("/root"); strings.HasPrefix(msg[k:], "/root") && (r == len(msg) || !pathByte(msg[r]) || msg[r] == '/') {
						if r == len(msg) || msg[r] != '/' {
							b.WriteByte('/')
						}
						i = r
						continue next
					}
					b.WriteString("the job directory")
					i = pathEnd(msg, k)
					continue next
				}
				if j < len(msg) && pathByte(msg[j]) && msg[j] != '/' {
					continue // a longer name
				}
				b.WriteString(n.repl)
				i = pathEnd(msg, j)
				continue next
			}
		}
		b.WriteByte(msg[i])
		i++
	}
	return b.String()
}

// pathForms returns p as given, absolute and with its links resolved,
// each once ("" gives none).
func pathForms(p string) []string {
	if p == "" {
		return nil
	}
	forms := []string{filepath.Clean(p)}
	if a, err := filepath.Abs(p); err == nil {
		forms = append(forms, a)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		if r, err = filepath.Abs(r); err == nil {
			forms = append(forms, r)
		}
	}
	var l []string
	for _, f := range forms {
		if f != "/" && f != "." && !slices.Contains(l, f) {
			l = append(l, f)
		}
	}
	return l
}

// pathByte says whether c may be part of a path in a message: not a
// space, a control character, a quote or a separator that messages put
// around paths.
func pathByte(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte("\"'`:;,=()[]{}<>|", c) < 0
}

// pathEnd returns the index in msg where the path that goes on at i ends.
func pathEnd(msg string, i int) int {
	for i < len(msg) && pathByte(msg[i]) {
		i++
	}
	return i
}
