// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"distssa/remote/internal/wire"
)

// syncBuffer is a bytes.Buffer for a logger of many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestMessagesNoWorkerPaths provokes failures whose errors name the
// worker's paths (a job dir's, the store's, the compile's, the cache
// dir's): what the client gets says what failed without them, and the
// worker's log keeps them.
func TestMessagesNoWorkerPaths(t *testing.T) {
	var log syncBuffer
	s, addr, _ := startFakeOptions(t, Options{Slots: 2, JobTimeout: time.Minute, Log: slog.New(slog.NewTextHandler(&log, nil))})
	c, _ := dial(t, addr, nil, s.Toolchain())
	check := func(what, msg, want string) {
		t.Helper()
		if msg == "" || !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want a message with %q", what, msg, want)
		}
		for _, p := range []string{s.cfg.CacheDir, s.cfg.Compile, filepath.Dir(s.cfg.Compile), "/jobs/", "/root/"} {
			if strings.Contains(msg, p) {
				t.Errorf("%s: %q names the worker's %s", what, msg, p)
			}
		}
	}
	errMsg := func(m any) string {
		if e, ok := m.(*wire.Error); ok {
			return e.Msg
		}
		return ""
	}

	// An input whose directory is another input: mkdir fails in the job
	// root.
	clash := func(split bool) any {
		r := fakeRun(c, "ok")
		files := c.put(map[string]string{"/w/a": "a", "/w/a/p.go": "package p\n"})
		r.Files = append(files, r.Files[1]) // /w/a first, then /w/a/p.go, importcfg
		r.Args[len(r.Args)-1] = "/w/a/p.go"
		if split {
			c.send(&wire.Start{Cwd: r.Cwd, Args: r.Args, Env: r.Env, Files: r.Files})
		} else {
			c.send(r)
		}
		return c.recv()
	}
	check("materialize (Run)", errMsg(clash(false)), "input /w/a/p.go: mkdir /w/a: not a directory")
	check("materialize (Start)", errMsg(clash(true)), "input /w/a/p.go: mkdir /w/a: not a directory")
	if !strings.Contains(log.String(), s.cfg.CacheDir+"/jobs/") {
		t.Errorf("the log lacks the job dir of the failure:\n%s", log.String())
	}

	// A split compile that fails: the last line of its stderr names the
	// source in the job root.
	c.send(fakeStart(c, "print"))
	if m, ok := c.recv().(*wire.Started); !ok {
		t.Fatalf("start: %#v", m)
	}
	c.send(&wire.Job{Size: 3, Data: wire.Compress([]byte("job"))})
	res, ok := c.recv().(*wire.Result)
	if !ok {
		t.Fatalf("no result: %#v", res)
	}
	check("split compile", res.Msg, "compile: exit status 3: /w/p.go")

	// A stored blob damaged on disk: the store's error names its file.
	r := fakeRun(c, "ok")
	cfg := []byte("# import config\n")
	err := filepath.WalkDir(s.cfg.CacheDir+"/store", func(p string, d fs.DirEntry, err error) error {
		if b, rerr := os.ReadFile(p); err == nil && !d.IsDir() && rerr == nil && bytes.Equal(b, cfg) {
			os.Chmod(p, 0o600)
			return os.WriteFile(p, []byte("# import config!\n"), 0o600)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c.send(r)
	check("damaged blob", errMsg(c.recv()), "-importcfg file /w/importcfg: blob ")

	// The compile binary is gone: exec names it.
	if err := os.Remove(s.cfg.Compile); err != nil {
		t.Fatal(err)
	}
	d := c.whole(fakeRun(c, "gone"))
	check("compile gone (Run)", d.Msg, "starting compile: fork/exec the compile: no such file or directory")
	c.send(fakeStart(c, "gone"))
	check("compile gone (Start)", errMsg(c.recv()), "starting compile: fork/exec the compile: no such file or directory")

	// No jobs dir: the job dir cannot be made.
	if err := os.RemoveAll(s.cfg.CacheDir + "/jobs"); err != nil {
		t.Fatal(err)
	}
	c.send(fakeRun(c, "nojobs"))
	check("no jobs dir", errMsg(c.recv()), "the cache directory: no such file or directory")
}

// TestScrub: worker paths go where a path starts and ends, whatever
// surrounds them; a path that merely begins like one stays.
func TestScrub(t *testing.T) {
	s := &Server{cfg: Options{CacheDir: "/var/cache/w", Compile: "/opt/go/pkg/tool/linux_amd64/compile"}}
	for _, tc := range []struct{ in, want string }{
		{"input /w/a: mkdir /var/cache/w/jobs/3-123/root/w/a: not a directory", "input /w/a: mkdir /w/a: not a directory"},
		{"-trimpath=/var/cache/w/jobs/3-123/root/w=>x;/var/cache/w/jobs/3-123/root", "-trimpath=/w=>x;/"},
		{"open /var/cache/w/jobs/3-123/tmp/x: no space", "open the job directory: no space"},
		{"mkdirtemp /var/cache/w/jobs/4-*: no such file", "mkdirtemp the job directory: no such file"},
		{"blob ab… in /var/cache/w/store/ab/abcdef: bad", "blob ab… in the store: bad"},
		{`lock "/var/cache/w": busy`, `lock "the cache directory": busy`},
		{"fork/exec /opt/go/pkg/tool/linux_amd64/compile: no such file", "fork/exec the compile: no such file"},
		{"/var/cache/wx/a /home/var/cache/w/a /opt/go/pkg/tool/linux_amd64/compile2", "/var/cache/wx/a /home/var/cache/w/a /opt/go/pkg/tool/linux_amd64/compile2"},
		{"", ""},
	} {
		if got := s.scrub(tc.in); got != tc.want {
			t.Errorf("scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
