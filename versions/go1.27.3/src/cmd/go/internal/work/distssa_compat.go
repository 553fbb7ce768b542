// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package work

// What -distssa needs of go1.27.3's Builder, whose Shells run and show
// commands.

import "os/exec"

// distssaKey is what distssaAgents is keyed by: the state that every
// Shell of the Builder shares, since runOut has a Shell and no Builder.
func (b *Builder) distssaKey() any { return b.backgroundSh.shellShared }

// distssaShowCmd prints a command line as -n and -x do.
func (b *Builder) distssaShowCmd(format string, args ...any) {
	b.backgroundSh.ShowCmd("", format, args...)
}

// DistSSARun runs cmd for an action of b (test.go's test binaries call
// it): see distssaRun.
func (b *Builder) DistSSARun(cmd *exec.Cmd) error {
	return distssaRun(b.distssaKey(), cmd)
}

// distssaRun runs cmd for sh's Builder (Shell.runOut calls it).
func (sh *Shell) distssaRun(cmd *exec.Cmd) error {
	return distssaRun(sh.shellShared, cmd)
}
