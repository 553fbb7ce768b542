// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"distssa/remote/internal/auth"
	"distssa/remote/internal/hosts"
)

// TestTokenLength: a token of fewer than 16 bytes, from a file (less
// surrounding space) or from DISTSSA_TOKEN, is refused, naming where it
// came from.
func TestTokenLength(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content, want string // want: in the error; empty: the token read
	}{
		{"0123456789abcdef\n", ""},
		{"  0123456789abcdef-and-more  \n", ""},
		{"0123456789abcde\n", "token file FILE holds 15 bytes: a token needs at least 16"},
		{"s3cret", "token file FILE holds 6 bytes"},
		{" \n", "token file FILE is empty"},
	} {
		f := filepath.Join(dir, "token")
		os.WriteFile(f, []byte(tc.content), 0o600)
		tok, err := auth.ReadToken(f)
		want := strings.ReplaceAll(tc.want, "FILE", f)
		if tc.want == "" && (err != nil || string(tok) != strings.TrimSpace(tc.content)) ||
			tc.want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %q, %v; want %q", tc.content, tok, err, want)
		}
	}
	t.Setenv("DISTSSA_TOKEN", "short")
	_, err := New(Config{Hosts: []hosts.Host{{Addr: "127.0.0.1:1", Slots: 1}}})
	if err == nil || !strings.Contains(err.Error(), "DISTSSA_TOKEN holds 5 bytes: a token needs at least 16") {
		t.Errorf("short DISTSSA_TOKEN: %v", err)
	}
	t.Setenv("DISTSSA_TOKEN", "0123456789abcdef")
	if _, err := New(Config{Hosts: []hosts.Host{{Addr: "127.0.0.1:1", Slots: 1}}}); err != nil {
		t.Errorf("DISTSSA_TOKEN of 16 bytes: %v", err)
	}
}

// TestTokenFileMode: as ssh does with its keys, a token file that its
// group or others may read (or write) is refused, naming the file, its
// mode and the fix; an owner-only one is read. The agent's hosts file
// (token=) says which line names it.
func TestTokenFileMode(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "token")
	if err := os.WriteFile(f, []byte("0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		want string // in the error; empty: the token is read
	}{
		{0o600, ""},
		{0o400, ""},
		{0o644, "token file FILE has mode 0644: others may read it; make it private with: chmod 600 FILE"},
		{0o640, "token file FILE has mode 0640"},
		{0o604, "token file FILE has mode 0604"},
		{0o620, "token file FILE has mode 0620"},
	} {
		if err := os.Chmod(f, tc.mode); err != nil {
			t.Fatal(err)
		}
		tok, err := auth.ReadToken(f)
		want := strings.ReplaceAll(tc.want, "FILE", f)
		if tc.want == "" && (err != nil || string(tok) != "0123456789abcdef") ||
			tc.want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("mode %#o: %q, %v; want %q", tc.mode, tok, err, want)
		}
	}
	os.Chmod(f, 0o644)
	_, err := New(Config{HostsFile: "hosts.txt", Hosts: []hosts.Host{{Addr: "127.0.0.1:1", Slots: 1, Line: 3, TokenFile: f}}})
	if err == nil || !strings.Contains(err.Error(), "hosts.txt:3: token file "+f+" has mode 0644") {
		t.Errorf("hosts.txt token= of mode 0644: %v", err)
	}
	os.Chmod(f, 0o600)
	if _, err := New(Config{HostsFile: "hosts.txt", Hosts: []hosts.Host{{Addr: "127.0.0.1:1", Slots: 1, Line: 3, TokenFile: f}}}); err != nil {
		t.Errorf("hosts.txt token= of mode 0600: %v", err)
	}
}
