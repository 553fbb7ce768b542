// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package distssa

// The compile's output files: the flags that name them, writing them
// atomically and comparing them, for whole compiles (placement.go) and
// verification (verify.go).

import (
	"bytes"
	"fmt"
	"os"

	"cmd/compile/internal/base"
)

// verifyOutputs are the flags that name files the compile writes.
var verifyOutputs = map[string]bool{"o": true, "linkobj": true, "asmhdr": true}

// wholeOutputs maps a whole compile's output names (PROTOCOL.md: the
// output flags) to the flag values of this compile.
func wholeOutputs() map[string]string {
	m := make(map[string]string)
	for name, v := range map[string]string{"o": base.Flag.LowerO, "linkobj": base.Flag.LinkObj, "asmhdr": base.Flag.AsmHdr} {
		if v != "" {
			m[name] = v
		}
	}
	return m
}

// firstDiff returns the offset of the first byte where a and b differ,
// or -1 if they are equal.
func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// writeAtomic writes data to name through a temporary file in the same
// directory, so that no reader sees a partial file. The file gets the
// mode a local compile's os.Create gives it (0666 less the umask).
func writeAtomic(name string, data []byte) error {
	tmp := fmt.Sprintf("%s.distssa-%d.tmp", name, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
