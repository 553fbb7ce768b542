// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package objcmp compares compiler outputs (Go object files and the
// archives that compile -pack writes) byte for byte.
//
// The one permitted difference between two compilers is the toolchain
// version in the "go object GOOS GOARCH VERSION ..." header line that
// begins each object (cmd/internal/objabi.HeaderString). Equal rewrites
// that version field, and nothing else, before comparing.
package objcmp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	arMagic  = "!<arch>\n"
	arHdrLen = 60
	objMagic = "go object "
)

// Member is one archive member.
type Member struct {
	Name string
	Hdr  []byte // the 60-byte header, verbatim
	Data []byte
	Pad  byte // the padding byte after odd-sized data: cmd/compile writes 0, ar writes '\n'
}

// ParseArchive splits a Unix ar archive as written by cmd/compile.
func ParseArchive(b []byte) ([]Member, error) {
	if !bytes.HasPrefix(b, []byte(arMagic)) {
		return nil, errors.New("not an archive (no !<arch> magic)")
	}
	var ms []Member
	off := len(arMagic)
	for off < len(b) {
		if len(b)-off < arHdrLen {
			return nil, fmt.Errorf("truncated member header at offset %d", off)
		}
		h := b[off : off+arHdrLen]
		if string(h[58:60]) != "`\n" {
			return nil, fmt.Errorf("bad member header terminator at offset %d", off)
		}
		size, err := strconv.Atoi(strings.TrimSpace(string(h[48:58])))
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bad member size %q at offset %d", h[48:58], off)
		}
		off += arHdrLen
		if len(b)-off < size {
			return nil, fmt.Errorf("member %q at offset %d: %d bytes, only %d left", strings.TrimSpace(string(h[:16])), off, size, len(b)-off)
		}
		m := Member{Name: strings.TrimSpace(string(h[:16])), Hdr: h, Data: b[off : off+size]}
		off += size
		if size%2 == 1 {
			if off >= len(b) || (b[off] != 0 && b[off] != '\n') {
				return nil, fmt.Errorf("member %q: missing padding byte", m.Name)
			}
			m.Pad = b[off]
			off++
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// WriteArchive is the inverse of ParseArchive. Each header is kept
// verbatim except for its size field, which is recomputed. Odd-sized data
// is padded with the member's Pad byte (0, as cmd/compile pads, unless the
// parsed archive had another).
func WriteArchive(ms []Member) []byte {
	var buf bytes.Buffer
	buf.WriteString(arMagic)
	for _, m := range ms {
		h := append([]byte(nil), m.Hdr...)
		copy(h[48:58], fmt.Sprintf("%-10d", len(m.Data)))
		buf.Write(h)
		buf.Write(m.Data)
		if len(m.Data)%2 == 1 {
			buf.WriteByte(m.Pad)
		}
	}
	return buf.Bytes()
}

// HeaderVersion returns the version field of an object's header line,
// or "" if data does not begin with one.
func HeaderVersion(data []byte) string {
	line, ok := headerLine(data)
	if !ok {
		return ""
	}
	f := strings.Fields(line)
	return f[4]
}

func headerLine(data []byte) (string, bool) {
	if !bytes.HasPrefix(data, []byte(objMagic)) {
		return "", false
	}
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return "", false
	}
	line := string(data[:i])
	if len(strings.Fields(line)) < 5 {
		return "", false
	}
	return line, true
}

// rewriteHeader replaces the version field of the object header line at
// the start of data; it reports whether it did.
func rewriteHeader(data []byte, from, to string) ([]byte, bool) {
	line, ok := headerLine(data)
	if !ok {
		return data, false
	}
	// "go object GOOS GOARCH VERSION..." : the version is the fifth field.
	f := strings.SplitN(line, " ", 6)
	if len(f) < 5 || f[4] != from {
		return data, false
	}
	f[4] = to
	nl := strings.Join(f, " ")
	out := make([]byte, 0, len(data)-len(line)+len(nl))
	out = append(out, nl...)
	out = append(out, data[len(line):]...)
	return out, true
}

// Normalize rewrites the toolchain version from -> to in the header line of
// an object, or of every object member of an archive, and returns the new
// bytes and how many header lines it rewrote.
func Normalize(b []byte, from, to string) ([]byte, int, error) {
	if from == to {
		return b, 0, nil
	}
	if !bytes.HasPrefix(b, []byte(arMagic)) {
		out, ok := rewriteHeader(b, from, to)
		if !ok {
			return b, 0, nil
		}
		return out, 1, nil
	}
	ms, err := ParseArchive(b)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	for i := range ms {
		if d, ok := rewriteHeader(ms[i].Data, from, to); ok {
			ms[i].Data = d
			n++
		}
	}
	return WriteArchive(ms), n, nil
}

// Equal reports whether got (from the compiler whose version is gotVers)
// equals want (from the compiler whose version is wantVers), allowing
// only the version field of object headers to differ. On a difference the
// error says where the two first differ.
func Equal(got, want []byte, gotVers, wantVers string) error {
	norm, _, err := Normalize(got, gotVers, wantVers)
	if err != nil {
		return fmt.Errorf("parsing output: %v", err)
	}
	if bytes.Equal(norm, want) {
		return nil
	}
	if bytes.HasPrefix(want, []byte(arMagic)) && bytes.HasPrefix(norm, []byte(arMagic)) {
		a, errA := ParseArchive(norm)
		b, errB := ParseArchive(want)
		if errA == nil && errB == nil {
			if len(a) != len(b) {
				return fmt.Errorf("archives have %d and %d members", len(a), len(b))
			}
			for i := range a {
				if a[i].Name != b[i].Name {
					return fmt.Errorf("member %d is %q, want %q", i, a[i].Name, b[i].Name)
				}
				if !bytes.Equal(a[i].Data, b[i].Data) {
					return fmt.Errorf("member %q differs: %s", a[i].Name, firstDiff(a[i].Data, b[i].Data))
				}
				if !bytes.Equal(a[i].Hdr[:48], b[i].Hdr[:48]) {
					return fmt.Errorf("member %q header differs: %q vs %q", a[i].Name, a[i].Hdr, b[i].Hdr)
				}
			}
		}
	}
	return fmt.Errorf("outputs differ: %s", firstDiff(norm, want))
}

func firstDiff(a, b []byte) string {
	n := len(a)
	if len(b) < n {
		n = len(b)
	}
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at byte %d of %d/%d (%#02x vs %#02x)", i, len(a), len(b), a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d, equal up to %d", len(a), len(b), n)
}
