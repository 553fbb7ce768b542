// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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

// kind is the kind of a remote task.
type kind int

const (
	split kind = iota // worker mode: the backend of the functions a Job names (Start)
	whole             // the whole compile, in normal mode (RunWhole)
)

// task is what Start and RunWhole have in common: a compile's command line,
// environment and inputs, as the client sent them.
type task struct {
	cwd   string
	args  []string
	env   []string
	files []wire.File
}

// workdir is a materialized task: its job directory, command line and
// environment.
type workdir struct {
	dir  string // private job directory
	root string // dir/root: client paths live under it
	out  string // dir/out: -distssaworker and output flags
	args []string
	env  []string
	cwd  string // root + client cwd
	pkg  string // -p, for logs

	cl      *cmdline.Cmdline
	inputs  []string          // per flag of cl: the materialized file of an Input flag
	sources []string          // the positional files, as the compile gets them
	goroot  string            // the client's GOROOT
	topDirs []string          // top-level directories of the client paths
	unmap   map[string]string // job dir path → client path, for the compile's output
}

// prepare checks a Start and materializes it under a new job directory,
// with the worker-mode command line. Its errors refuse the job; they
// name the offending path or flag.
func (c *conn) prepare(m *wire.Start) (*workdir, error) {
	j, err := c.materialize(&task{cwd: m.Cwd, args: m.Args, env: m.Env, files: m.Files})
	if err != nil {
		return nil, err
	}
	j.args = j.commandLine(split)
	return j, nil
}

// checkFiles checks a task's file list: every path absolute and clean,
// no path listed twice with different contents. It returns the hash of
// each path and the distinct paths in their order.
func checkFiles(files []wire.File) (map[string][]byte, []string, error) {
	hashes := map[string][]byte{}
	var paths []string
	for _, f := range files {
		if err := CheckPath(f.Path); err != nil {
			return nil, nil, fmt.Errorf("input: %v", err)
		}
		if prev, ok := hashes[f.Path]; ok {
			if !bytes.Equal(prev, f.Hash) {
				return nil, nil, fmt.Errorf("input %s listed twice with different contents", f.Path)
			}
			continue
		}
		hashes[f.Path] = f.Hash
		paths = append(paths, f.Path)
	}
	return hashes, paths, nil
}

// checkCwd checks a task's working directory: a clean absolute path, or /.
func checkCwd(cwd string) error {
	if err := CheckPath(cwd); err != nil && cwd != "/" {
		return fmt.Errorf("cwd: %v", err)
	}
	return nil
}

// checkTask refuses a task whose compile would read or write files
// outside its job directory, before anything is materialized: an
// environment that sets a variable of cmdline.LocalEnv (the client keeps
// such a compile local; here it would be dropped, not obeyed), a command
// line without -importcfg (the compile would look for imports in the
// worker's own GOROOT), a relative source path that leaves the working
// directory (the compile opens it as given, from ROOT + cwd).
func checkTask(cl *cmdline.Cmdline, env []string) error {
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		for _, l := range cmdline.LocalEnv {
			if k == l && v != "" {
				return fmt.Errorf("environment variable %s is set: it makes the compile write files where it runs; compile it locally", k)
			}
		}
		if k == "GOROOT" && strings.Contains(v, ";") {
			return fmt.Errorf("environment variable GOROOT=%s holds ;: it goes into -trimpath, where ; separates rules", v)
		}
	}
	if _, ok := cl.Get("importcfg"); !ok {
		return errors.New("no -importcfg: a worker's compile finds its imports through one")
	}
	for _, f := range cl.Files {
		if !filepath.IsAbs(f) && !filepath.IsLocal(f) {
			return fmt.Errorf("source file %s leaves the working directory: relative paths must stay below it", f)
		}
	}
	return nil
}

// goEnv returns the entries of env that a compile on the worker gets
// from the client: those of cmdline.CompileEnv (GOOS and GOARCH are the
// connection's target), in the client's order; and the client's GOROOT.
func goEnv(env []string) (kept []string, goroot string) {
	for _, e := range env {
		k, v, ok := strings.Cut(e, "=")
		if !ok || !cmdline.CompileEnv[k] || strings.IndexByte(e, 0) >= 0 {
			continue
		}
		if k == "GOROOT" {
			goroot = v
		}
		kept = append(kept, e)
	}
	return kept, goroot
}

// materialize checks a task and places its inputs under a new job
// directory: each file at root + its client path, the -importcfg and
// -embedcfg rewritten to the materialized paths. It checks that every
// file the compile reads was uploaded. The command line is left to
// commandLine.
func (c *conn) materialize(t *task) (*workdir, error) {
	if err := checkCwd(t.cwd); err != nil {
		return nil, err
	}
	cl, err := cmdline.Parse(t.args)
	if err != nil {
		return nil, err
	}
	if err := checkTask(cl, t.env); err != nil {
		return nil, err
	}
	hashes, paths, err := checkFiles(t.files)
	if err != nil {
		return nil, err
	}
	if err := c.s.checkJobSize(hashes, paths, t.cwd); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(c.s.cfg.CacheDir+"/jobs", fmt.Sprintf("%d-", c.s.jobSeq.Add(1)))
	if err != nil {
		return nil, err
	}
	j := &workdir{dir: dir, root: dir + "/root", out: dir + "/out", cl: cl, unmap: map[string]string{}}
	j.pkg, _ = cl.Get("p")
	fail := func(err error) (*workdir, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	for _, d := range []string{j.root, j.out, dir + "/cfg", dir + "/tmp"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}
	// A blob is copied into the job once, checked against its sha256 as
	// it is copied, and its other paths are hard links of that copy: the
	// job's bytes are those of its distinct blobs. The copy is the job's
	// own, never a link of the store's file: a compile that is not
	// confined (no Landlock, or -sandbox=false) could make a link
	// writable and change the blob under another job's running compile.
	copies := map[string]string{} // blob → the job's copy
	written := int64(0)
	for _, p := range paths {
		dst := j.root + p
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fail(fmt.Errorf("input %s: %v", p, err))
		}
		h := string(hashes[p])
		if first, ok := copies[h]; ok && os.Link(first, dst) == nil {
			continue
		}
		// The first path of a blob, or one whose link the file system
		// refused (too many links, or no links at all): a copy, which
		// counts against the bound.
		size, _ := c.s.store.Size(hashes[p])
		if written += size; written > c.s.cfg.JobBytes {
			return fail(fmt.Errorf("input %s: copies of %d bytes, more than the worker's bound of %d bytes per job (the job directory's file system refused a hard link)",
				p, written, c.s.cfg.JobBytes))
		}
		if err := c.s.store.Materialize(hashes[p], dst); err != nil {
			return fail(fmt.Errorf("input %s: %v", p, err))
		}
		copies[h] = dst
	}
	j.cwd = j.root + t.cwd
	if err := os.MkdirAll(j.cwd, 0o755); err != nil {
		return fail(err)
	}
	// Every file the compile reads must have been uploaded: a path that
	// was not would be looked up outside the job directory.
	need := func(what, p string) (string, error) {
		a := cmdline.Abs(t.cwd, p)
		if _, ok := hashes[a]; !ok {
			return "", fmt.Errorf("%s %s was not uploaded", what, a)
		}
		return j.root + a, nil
	}
	mapped := func(p string) string { return j.root + p }

	var env []string
	env, j.goroot = goEnv(t.env)
	j.env = append(env, "GOOS="+c.goos, "GOARCH="+c.goarch, "TMPDIR="+dir+"/tmp")

	j.inputs = make([]string, len(cl.Flags))
	for i, f := range cl.Flags {
		switch f.Kind {
		case cmdline.Output:
			j.unmap[j.outFile(f.Name)] = f.Value
			continue
		case cmdline.Input:
		default:
			continue
		}
		p, err := need("-"+f.Name+" file", f.Value)
		if err != nil {
			return fail(err)
		}
		if f.Name == "importcfg" || f.Name == "embedcfg" {
			data, err := os.ReadFile(p)
			if err != nil {
				return fail(err)
			}
			rewrite := cmdline.RewriteImportcfg
			if f.Name == "embedcfg" {
				rewrite = cmdline.RewriteEmbedcfg
			}
			data, names, err := rewrite(data, t.cwd, mapped)
			if err != nil {
				return fail(fmt.Errorf("-%s: %v", f.Name, err))
			}
			for _, n := range names {
				if _, err := need("file named by -"+f.Name, n); err != nil {
					return fail(err)
				}
			}
			p = dir + "/cfg/" + f.Name
			if err := os.WriteFile(p, data, 0o444); err != nil {
				return fail(err)
			}
			j.unmap[p] = f.Value
		}
		j.inputs[i] = p
	}
	if j.topDirs, err = cmdline.TopDirs(append(paths, t.cwd)...); err != nil {
		return fail(err)
	}
	for _, f := range cl.Files {
		if _, err := need("source file", f); err != nil {
			return fail(err)
		}
		if filepath.IsAbs(f) {
			f = mapped(filepath.Clean(f))
		}
		j.sources = append(j.sources, f)
	}
	return j, nil
}

// checkJobSize refuses a job whose materialization would pass the
// worker's bounds, before anything is written: the files and the
// directories it creates (Options.JobFiles), and the bytes of its
// distinct blobs (Options.JobBytes; a blob listed under several paths is
// materialized once). A blob the store lacks counts nothing here; the
// materialization refuses the job for it.
func (s *Server) checkJobSize(hashes map[string][]byte, paths []string, cwd string) error {
	max := s.cfg.JobFiles
	if len(paths) > max {
		return fmt.Errorf("%d input files, more than the worker's bound of %d files and directories per job", len(paths), max)
	}
	// The directories: each path's parents, and the cwd and its own.
	dirs := map[string]bool{}
	parents := func(d string) {
		for ; d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for _, p := range paths {
		parents(filepath.Dir(p))
	}
	parents(cwd)
	if n := len(paths) + len(dirs); n > max {
		return fmt.Errorf("%d files and directories, more than the worker's bound of %d per job", n, max)
	}
	var size int64
	seen := map[string]bool{}
	for _, h := range hashes {
		if n, ok := s.store.Size(h); ok && !seen[string(h)] {
			seen[string(h)] = true
			size += n
		}
	}
	if size > s.cfg.JobBytes {
		return fmt.Errorf("inputs of %d distinct bytes, more than the worker's bound of %d bytes per job", size, s.cfg.JobBytes)
	}
	return nil
}

// outFile is where the compile writes the file of output flag name.
func (j *workdir) outFile(name string) string { return j.out + "/" + name + ".out" }

// commandLine returns the arguments the compile runs with: the client's
// flags with input files mapped into the job root and output files into
// the job dir, profiling flags dropped, -trimpath mapping the job root
// back to the client's paths, then the source files. Worker mode (split)
// adds -distssaworker; a whole compile runs in normal mode.
func (j *workdir) commandLine(k kind) []string {
	var args []string
	if k == split {
		args = append(args, "-distssaworker="+j.out)
	}
	trim := ""
	args = append(args, j.cl.FlagArgs(func(i int, f cmdline.Flag) (string, bool) {
		switch f.Kind {
		case cmdline.Trim:
			trim = f.Value
			return "", false
		case cmdline.Output:
			return j.outFile(f.Name), true
		case cmdline.Input:
			return j.inputs[i], true
		}
		return f.Value, true
	})...)
	args = append(args, "-trimpath="+cmdline.Trimpath(trim, j.root, j.goroot, j.topDirs))
	// "--" keeps the positional files apart from the flags, whatever their names.
	args = append(args, "--")
	return append(args, j.sources...)
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

// acquire waits for one of the worker's slots, unless the peer goes
// away first; it returns the time it waited and the function that frees
// the slot.
func (c *conn) acquire() (queue time.Duration, release func(), err error) {
	t0 := time.Now()
	c.s.st.queued.Add(1)
	w := c.watchPeer()
	select {
	case c.s.sem <- struct{}{}:
	case <-c.s.hardCtx.Done():
		c.s.st.queued.Add(^uint64(0))
		w.stop()
		return 0, nil, c.s.hardCtx.Err()
	case <-w.gone:
		c.s.st.queued.Add(^uint64(0))
		return 0, nil, w.stop()
	}
	if err := w.stop(); err != nil {
		<-c.s.sem // the peer went away as the slot came
		c.s.st.queued.Add(^uint64(0))
		return 0, nil, err
	}
	c.s.st.queued.Add(^uint64(0))
	c.s.st.running.Add(1)
	queue = time.Since(t0)
	c.s.st.queueNs.Add(uint64(queue))
	return queue, func() { <-c.s.sem; c.s.st.running.Add(^uint64(0)) }, nil
}

// serveStart serves a Start: it waits for a slot, materializes the job,
// starts the compile, then waits for the Job and answers the Result.
// Job-level failures are answered on the connection; an error return
// means the connection itself failed.
func (c *conn) serveStart(m *wire.Start) error {
	if err := c.uploadErr; err != nil {
		c.uploadErr = nil
		c.s.st.refused.Add(1)
		return c.send(&wire.Error{Msg: err.Error()})
	}
	if c.s.cfg.Replay > 0 {
		c.s.st.refused.Add(1)
		return c.send(&wire.Error{Msg: "job refused: " + errReplaySplit.Error()})
	}
	if err := c.unproven(m.Files); err != nil {
		c.s.st.refused.Add(1)
		c.log.Warn("job refused", "err", err)
		return c.send(&wire.Error{Msg: "job refused: " + err.Error()})
	}
	queue, release, err := c.acquire()
	if err != nil {
		return err
	}
	defer release()

	j, err := c.prepare(m)
	c.freeMsg() // the Start's memory
	if err != nil {
		c.s.st.refused.Add(1)
		c.log.Warn("job refused", "err", err)
		return c.send(&wire.Error{Msg: "job refused: " + err.Error()})
	}
	defer os.RemoveAll(j.dir)
	c.s.st.jobs.Add(1)

	ctx, cancel := context.WithTimeout(c.s.hardCtx, c.s.cfg.JobTimeout)
	defer cancel()
	cmd := c.s.compileCommand(ctx, j)
	cmd.Dir, cmd.Env = j.cwd, j.env
	var errOut tail
	cmd.Stdout, cmd.Stderr = &errOut, &errOut
	pr, pw := io.Pipe()
	defer pw.Close()
	cmd.Stdin = pr
	cmd.WaitDelay = 5 * time.Second
	// For an agent with CapStream, the compile writes its result on
	// descriptor 3 as it compiles, and each read of it goes on at once
	// as a Chunk (stream).
	var rp, wp *os.File
	if c.streams {
		var err error
		if rp, wp, err = os.Pipe(); err != nil {
			c.s.st.failed.Add(1)
			return c.send(&wire.Error{Msg: "starting compile: " + err.Error()})
		}
		cmd.ExtraFiles = []*os.File{wp}
		cmd.Env = append(cmd.Env, resultFDEnv+"=3")
	}
	// Start now, so that the worker's front end overlaps the client's.
	err = cmd.Start()
	if wp != nil {
		wp.Close()
	}
	if err != nil {
		if rp != nil {
			rp.Close()
		}
		c.s.st.failed.Add(1)
		return c.send(&wire.Error{Msg: "starting compile: " + err.Error()})
	}
	defer killRest(cmd)
	var chunks chan []byte // nil once drained
	if rp != nil {
		chunks = stream(rp)
		defer func() {
			if chunks != nil {
				for range chunks { // until the compile's end closes the pipe
				}
			}
		}()
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
		if errors.Is(err, errMemory) {
			c.s.st.failed.Add(1)
			c.send(&wire.Result{Status: 1, Msg: "job: " + err.Error()})
		}
		return err
	}
	jm, ok := msg.(*wire.Job)
	if !ok {
		kill()
		return fmt.Errorf("expected job, got %T", msg)
	}
	data, err := wire.DecompressBudget(jm.Data, jm.Size, wire.MaxPayload, &c.mem)
	c.freeMsg() // the Job's frame: only data remains
	if err != nil {
		kill()
		c.s.st.failed.Add(1)
		return c.send(&wire.Result{Status: 1, Msg: "job: " + err.Error()})
	}
	go func() {
		pw.Write(data) // a compile that died already shows in Wait
		pw.Close()
		c.mem.Release(uint64(len(data)))
	}()
	t1 := time.Now()
	// Until the Result the agent sends nothing: a connection that closes
	// (a hedged job's loser, an agent that gave up) kills the compile.
	w := c.watchPeer()
	var streamed uint64
	var sendErr error
	forward := func(b []byte) {
		if sendErr == nil {
			sendErr = c.send(&wire.Chunk{Size: uint64(len(b)), Data: wire.Compress(b)})
		}
		streamed += uint64(len(b))
	}
wait:
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				chunks = nil // a nil channel: the select waits for the end
				continue
			}
			forward(b)
			if sendErr != nil {
				kill()
				break wait
			}
		case err = <-exited:
			if chunks != nil {
				for b := range chunks { // what the compile wrote before its end
					forward(b)
				}
				chunks = nil
			}
			break wait
		case <-w.gone:
			kill()
			break wait
		}
	}
	if connErr := w.stop(); connErr != nil || sendErr != nil { // the compile has ended, one way or the other
		if connErr == nil {
			connErr = sendErr
		}
		c.s.st.failed.Add(1)
		os.RemoveAll(j.dir)
		c.log.Info("job", "kind", "split", "pkg", j.pkg, "status", 1, "queue", queue, "run", time.Since(t1),
			"msg", "compile killed: connection lost")
		return connErr
	}
	run := time.Since(t1)
	res := &wire.Result{Status: 1, RunNs: uint64(run)}
	switch {
	case ctx.Err() != nil:
		res.Msg = fmt.Sprintf("compile cancelled: %v", ctx.Err())
	case err != nil:
		res.Msg = fmt.Sprintf("compile: %v: %s", err, cmdline.LastLine(string(errOut.b)))
	case len(data) == 0:
		res.Status = 0
	case c.streams && streamed == 0:
		res.Msg = "compile streamed no result: " + cmdline.LastLine(string(errOut.b))
	case c.streams:
		res.Status, res.Size = 0, 0 // the Chunks carried it
	default:
		out, rerr := os.ReadFile(j.out + "/result")
		if rerr != nil {
			res.Msg = "compile wrote no result: " + cmdline.LastLine(string(errOut.b))
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
	c.log.Info("job", "kind", "split", "pkg", j.pkg, "status", res.Status, "queue", queue, "run", run, "result", res.Size+streamed, "msg", res.Msg)
	return c.send(res)
}

// resultFDEnv names the descriptor on which a compile in worker mode
// streams its result (cmd/compile/internal/distssa).
const resultFDEnv = "DISTSSA_RESULT_FD"

// stream reads a compile's result from r as it comes, each read a
// slice on the channel it returns, which closes at the end of the
// stream (the compile's end). The caller drains it.
func stream(r *os.File) chan []byte {
	ch := make(chan []byte, 16)
	go func() {
		defer close(ch)
		defer r.Close()
		buf := make([]byte, 1<<20)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				ch <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}
