// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package work

// What -distssa needs of go1.21.6's Builder, which runs and shows
// commands itself.

import "os/exec"

// distssaKey is what distssaAgents is keyed by: the Builder.
func (b *Builder) distssaKey() interface{} { return b }

// distssaShowCmd prints a command line as -n and -x do.
func (b *Builder) distssaShowCmd(format string, args ...interface{}) {
	b.Showcmd("", format, args...)
}

// DistSSARun runs cmd for an action of b (test.go's test binaries and
// exec.go's runOut call it): see distssaRun.
func (b *Builder) DistSSARun(cmd *exec.Cmd) error {
	return distssaRun(b.distssaKey(), cmd)
}
