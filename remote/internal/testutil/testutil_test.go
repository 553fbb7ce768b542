// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package testutil

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMissing runs TestMissingHelper in a child: a test that lacks what
// it needs skips, saying why, and with RequireEnv=1 fails, saying why.
func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		require string
		want    []string
	}{
		{"", []string{"--- SKIP: TestMissingHelper", "skipping: no widget here (" + RequireEnv + "=1 makes this a failure)"}},
		{"0", []string{"--- SKIP: TestMissingHelper", "skipping: no widget here"}},
		{"1", []string{"--- FAIL: TestMissingHelper", "no widget here (" + RequireEnv + "=1: a test that cannot run fails)"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMissingHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTUTIL_MISSING_HELPER=1", RequireEnv+"="+tc.require)
		out, err := cmd.CombinedOutput()
		cancel()
		if failed := err != nil; failed != (tc.require == "1") {
			t.Errorf("%s=%q: %v, want a failure only with 1\n%s", RequireEnv, tc.require, err, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s=%q: the output lacks %q:\n%s", RequireEnv, tc.require, w, out)
			}
		}
		if strings.Contains(string(out), "after Missing") {
			t.Errorf("%s=%q: the test went on after Missing:\n%s", RequireEnv, tc.require, out)
		}
	}
}

// TestMissingHelper is TestMissing's child.
func TestMissingHelper(t *testing.T) {
	if os.Getenv("TESTUTIL_MISSING_HELPER") != "1" {
		return
	}
	Missing(t, "no %s here", "widget")
	t.Log("after Missing")
}
