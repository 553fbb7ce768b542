// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package objcmp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

const (
	fork  = "go1.21.6-distssa.1"
	stock = "go1.21.6"
)

func member(name, data string) Member {
	h := fmt.Sprintf("%-16s%-12d%-6d%-6d%-8o%-10d`\n", name, 0, 0, 0, 0o644, len(data))
	return Member{Name: name, Hdr: []byte(h), Data: []byte(data)}
}

// archive builds a compile -pack style archive for the given version.
// payload lets a test change bytes after the header.
func archive(version, payload string) []byte {
	hdr := "go object linux amd64 " + version + " X:regabiwrappers,regabiargs\n"
	return WriteArchive([]Member{
		member("__.PKGDEF", hdr+"build id \"abc/def\"\n\n$$B\nexport"+payload+"\n$$\n"),
		member("_go_.o", hdr+"\n!\n\x00go120ld"+payload+"odd"),
	})
}

func TestRoundTrip(t *testing.T) {
	a := archive(stock, "x")
	ms, err := ParseArchive(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "__.PKGDEF" || ms[1].Name != "_go_.o" {
		t.Fatalf("members = %+v", ms)
	}
	if !bytes.Equal(WriteArchive(ms), a) {
		t.Fatal("WriteArchive(ParseArchive(a)) != a")
	}
	if v := HeaderVersion(ms[1].Data); v != stock {
		t.Fatalf("HeaderVersion = %q", v)
	}
}

func TestEqual(t *testing.T) {
	if err := Equal(archive(fork, "x"), archive(stock, "x"), fork, stock); err != nil {
		t.Errorf("version-only difference: %v", err)
	}
	// A version of other parity changes the padding of every member.
	if err := Equal(archive(fork+"0", "x"), archive(stock, "x"), fork+"0", stock); err != nil {
		t.Errorf("odd-length version difference: %v", err)
	}
	// Without the version mapping the archives differ.
	if err := Equal(archive(fork, "x"), archive(stock, "x"), stock, stock); err == nil {
		t.Error("differing versions compared equal without normalization")
	}
	err := Equal(archive(fork, "x"), archive(stock, "y"), fork, stock)
	if err == nil || !strings.Contains(err.Error(), `"__.PKGDEF" differs`) {
		t.Errorf("payload difference: got %v", err)
	}
	// The version string is masked only in the header line, nowhere else.
	err = Equal(archive(fork, fork), archive(stock, stock), fork, stock)
	if err == nil {
		t.Error("a version string outside the header was masked")
	}
	// Plain objects (compile without -pack).
	obj := func(v, p string) []byte { return []byte("go object linux amd64 " + v + " X:none\n\n!\n" + p) }
	if err := Equal(obj(fork, "z"), obj(stock, "z"), fork, stock); err != nil {
		t.Errorf("plain object: %v", err)
	}
	if err := Equal(obj(fork, "z"), obj(stock, "w"), fork, stock); err == nil {
		t.Error("plain objects with different payloads compared equal")
	}
}

func TestBadArchives(t *testing.T) {
	good := archive(stock, "x")
	cases := map[string][]byte{
		"truncated header": good[:len(arMagic)+30],
		"truncated data":   good[:len(good)-3],
		"no magic":         good[1:],
		"bad terminator":   append(append([]byte{}, good[:len(arMagic)+58]...), "xx"...),
		"negative size":    []byte(arMagic + fmt.Sprintf("%-16s%-12d%-6d%-6d%-8o%-10s`\n", "a", 0, 0, 0, 0o644, "-4")),
		"missing padding":  []byte(arMagic + fmt.Sprintf("%-16s%-12d%-6d%-6d%-8o%-10d`\n", "a", 0, 0, 0, 0o644, 1) + "a"),
		"unparseable size": []byte(arMagic + fmt.Sprintf("%-16s%-12d%-6d%-6d%-8o%-10s`\n", "a", 0, 0, 0, 0o644, "zz")),
	}
	for name, b := range cases {
		if _, err := ParseArchive(b); err == nil {
			t.Errorf("%s: ParseArchive succeeded", name)
		}
		if err := Equal(b, good, fork, stock); err == nil {
			t.Errorf("%s: Equal succeeded", name)
		}
	}
}

func FuzzParseArchive(f *testing.F) {
	f.Add(archive(stock, "x"))
	f.Add([]byte(arMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := ParseArchive(b)
		if err != nil {
			return
		}
		// What WriteArchive writes parses back to the same members.
		ms2, err := ParseArchive(WriteArchive(ms))
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if len(ms2) != len(ms) {
			t.Fatalf("reparse: %d members, want %d", len(ms2), len(ms))
		}
		for i := range ms {
			if ms2[i].Name != ms[i].Name || !bytes.Equal(ms2[i].Data, ms[i].Data) {
				t.Fatalf("reparse: member %d changed", i)
			}
		}
	})
}
