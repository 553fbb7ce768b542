// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"distssa/remote/internal/cmdline"
	"distssa/remote/internal/wire"
)

// CheckPath checks a client path: absolute, clean, not the root, no NUL,
// bounded. Joined to a job root it stays inside that root.
func CheckPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case len(p) > 4096:
		return fmt.Errorf("path of %d bytes", len(p))
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("path %q contains NUL", p)
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute", p)
	case filepath.Clean(p) != p:
		return fmt.Errorf("path %q is not clean", p)
	case p == "/":
		return errors.New("path / names no file")
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." || e == "." {
			return fmt.Errorf("path %q has a %q element", p, e)
		}
	}
	return nil
}

// job is a materialized job: its directory, command line and environment.
type job struct {
	dir  string // private job directory
	root string // dir/root: client paths live under it
	out  string // dir/out: -distssaworker and output flags
	args []string
	env  []string
	cwd  string // root + client cwd
	pkg  string // -p, for logs
}

// prepare checks a Start and materializes it under a new job directory.
// Its errors refuse the job; they name the offending path or flag.
func (c *conn) prepare(m *wire.Start) (*job, error) {
	if err := CheckPath(m.Cwd); err != nil && m.Cwd != "/" {
		return nil, fmt.Errorf("cwd: %v", err)
	}
	cl, err := cmdline.Parse(m.Args)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(c.s.cfg.CacheDir+"/jobs", fmt.Sprintf("%d-", c.s.jobSeq.Add(1)))
	if err != nil {
		return nil, err
	}
	j := &job{dir: dir, root: dir + "/root", out: dir + "/out"}
	j.pkg, _ = cl.Get("p")
	fail := func(err error) (*job, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	for _, d := range []string{j.root, j.out, dir + "/cfg", dir + "/tmp"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}
	files := map[string]string{}
	var paths []string
	for _, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return fail(fmt.Errorf("input: %v", err))
		}
		h := string(f.Hash)
		if prev, ok := files[f.Path]; ok {
			if prev != h {
				return fail(fmt.Errorf("input %s listed twice with different contents", f.Path))
			}
			continue
		}
		files[f.Path] = h
		paths = append(paths, f.Path)
		dst := j.root + f.Path
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fail(fmt.Errorf("input %s: %v", f.Path, err))
		}
		if err := c.s.store.Materialize(f.Hash, dst); err != nil {
			return fail(fmt.Errorf("input %s: %v", f.Path, err))
		}
	}
	j.cwd = j.root + m.Cwd
	if err := os.MkdirAll(j.cwd, 0o755); err != nil {
		return fail(err)
	}
	// Every file the compile reads must have been uploaded: a path that
	// was not would be looked up outside the job directory.
	need := func(what, p string) (string, error) {
		a := cmdline.Abs(m.Cwd, p)
		if _, ok := files[a]; !ok {
			return "", fmt.Errorf("%s %s was not uploaded", what, a)
		}
		return j.root + a, nil
	}
	mapped := func(p string) string { return j.root + p }

	var env []string
	goroot := ""
	for _, e := range m.Env {
		k, v, ok := strings.Cut(e, "=")
		if !ok || !strings.HasPrefix(k, "GO") || strings.IndexByte(e, 0) >= 0 || k == "GOOS" || k == "GOARCH" {
			continue
		}
		if k == "GOROOT" {
			goroot = v
		}
		env = append(env, e)
	}
	j.env = append(env, "GOOS="+c.goos, "GOARCH="+c.goarch, "TMPDIR="+dir+"/tmp")

	args := []string{"-distssaworker=" + j.out}
	trim := ""
	for _, f := range cl.Flags {
		v := f.Value
		switch f.Kind {
		case cmdline.Drop, cmdline.DropVal:
			continue
		case cmdline.Bool:
			if !f.Set {
				args = append(args, "-"+f.Name)
				continue
			}
		case cmdline.Trim:
			trim = v
			continue
		case cmdline.Output:
			v = j.out + "/" + f.Name + ".out"
		case cmdline.Input:
			p, err := need("-"+f.Name+" file", v)
			if err != nil {
				return fail(err)
			}
			v = p
			if f.Name == "importcfg" || f.Name == "embedcfg" {
				data, err := os.ReadFile(p)
				if err != nil {
					return fail(err)
				}
				rewrite := cmdline.RewriteImportcfg
				if f.Name == "embedcfg" {
					rewrite = cmdline.RewriteEmbedcfg
				}
				data, names, err := rewrite(data, m.Cwd, mapped)
				if err != nil {
					return fail(fmt.Errorf("-%s: %v", f.Name, err))
				}
				for _, n := range names {
					if _, err := need("file named by -"+f.Name, n); err != nil {
						return fail(err)
					}
				}
				v = dir + "/cfg/" + f.Name
				if err := os.WriteFile(v, data, 0o444); err != nil {
					return fail(err)
				}
			}
		}
		args = append(args, "-"+f.Name+"="+v)
	}
	top := cmdline.TopDirs(append(paths, m.Cwd)...)
	args = append(args, "-trimpath="+cmdline.Trimpath(trim, j.root, goroot, top))
	// "--" keeps the positional files apart from the flags, whatever their names.
	args = append(args, "--")
	for _, f := range cl.Files {
		if _, err := need("source file", f); err != nil {
			return fail(err)
		}
		if filepath.IsAbs(f) {
			f = mapped(filepath.Clean(f))
		}
		args = append(args, f)
	}
	j.args = args
	return j, nil
}

// tail keeps the last bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 16<<10 {
		t.b = append(t.b[:0], t.b[len(t.b)-8<<10:]...)
	}
	return len(p), nil
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// runJob serves a Start: it waits for a slot, materializes the job,
// starts the compile, then waits for the Job and answers the Result.
// Job-level failures are answered on the connection; an error return
// means the connection itself failed.
func (c *conn) runJob(m *wire.Start) error {
	if err := c.uploadErr; err != nil {
		c.uploadErr = nil
		c.s.st.refused.Add(1)
		return c.send(&wire.Error{Msg: err.Error()})
	}
	t0 := time.Now()
	c.s.st.queued.Add(1)
	select {
	case c.s.sem <- struct{}{}:
	case <-c.s.hardCtx.Done():
		c.s.st.queued.Add(^uint64(0))
		return c.s.hardCtx.Err()
	}
	c.s.st.queued.Add(^uint64(0))
	c.s.st.running.Add(1)
	defer func() { <-c.s.sem; c.s.st.running.Add(^uint64(0)) }()
	queue := time.Since(t0)
	c.s.st.queueNs.Add(uint64(queue))

	j, err := c.prepare(m)
	if err != nil {
		c.s.st.refused.Add(1)
		c.log.Warn("job refused", "err", err)
		return c.send(&wire.Error{Msg: "job refused: " + err.Error()})
	}
	defer os.RemoveAll(j.dir)
	c.s.st.jobs.Add(1)

	ctx, cancel := context.WithTimeout(c.s.hardCtx, c.s.cfg.JobTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.s.cfg.Compile, j.args...)
	cmd.Dir, cmd.Env = j.cwd, j.env
	var errOut tail
	cmd.Stdout, cmd.Stderr = &errOut, &errOut
	pr, pw := io.Pipe()
	defer pw.Close()
	cmd.Stdin = pr
	cmd.WaitDelay = 5 * time.Second
	// Start now, so that the worker's front end overlaps the client's.
	if err := cmd.Start(); err != nil {
		c.s.st.failed.Add(1)
		return c.send(&wire.Error{Msg: "starting compile: " + err.Error()})
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := func() { cancel(); pw.CloseWithError(errors.New("job cancelled")); <-exited }
	if err := c.send(&wire.Started{QueueNs: uint64(queue)}); err != nil {
		kill()
		return err
	}
	msg, err := c.recv(c.s.cfg.JobTimeout)
	if err != nil {
		kill()
		return err
	}
	jm, ok := msg.(*wire.Job)
	if !ok {
		kill()
		return fmt.Errorf("expected job, got %T", msg)
	}
	data, err := wire.Decompress(jm.Data, jm.Size)
	if err != nil {
		kill()
		c.s.st.failed.Add(1)
		return c.send(&wire.Result{Status: 1, Msg: "job: " + err.Error()})
	}
	go func() {
		pw.Write(data) // a compile that died already shows in Wait
		pw.Close()
	}()
	t1 := time.Now()
	err = <-exited
	run := time.Since(t1)
	res := &wire.Result{Status: 1, RunNs: uint64(run)}
	switch {
	case ctx.Err() != nil:
		res.Msg = fmt.Sprintf("compile cancelled: %v", ctx.Err())
	case err != nil:
		res.Msg = fmt.Sprintf("compile: %v: %s", err, lastLine(string(errOut.b)))
	case len(data) == 0:
		res.Status = 0
	default:
		out, rerr := os.ReadFile(j.out + "/result")
		if rerr != nil {
			res.Msg = "compile wrote no result: " + lastLine(string(errOut.b))
		} else {
			res.Status, res.Size, res.Data = 0, uint64(len(out)), wire.Compress(out)
		}
	}
	if res.Status == 0 {
		c.s.st.ok.Add(1)
	} else {
		c.s.st.failed.Add(1)
	}
	os.RemoveAll(j.dir) // before the answer: the client may look
	c.log.Info("job", "pkg", j.pkg, "status", res.Status, "queue", queue, "run", run, "result", res.Size, "msg", res.Msg)
	return c.send(res)
}
