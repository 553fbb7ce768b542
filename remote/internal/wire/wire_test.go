// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"
)

func TestGolden(t *testing.T) {
	for i, m := range messages {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != golden[i] {
			t.Errorf("%T: frame %s, want %s", m, got, golden[i])
		}
		want, _ := hex.DecodeString(golden[i])
		got, n, err := Read(bytes.NewReader(want))
		if err != nil || n != len(want) || !reflect.DeepEqual(norm(got), norm(m)) {
			t.Errorf("%T: decoded %#v (%d bytes), %v", m, got, n, err)
		}
	}
}

// bodyOf returns a frame's body: its type and message, without the
// length before them and the checksum after.
func bodyOf(frame []byte) []byte { return frame[4 : len(frame)-4] }

// norm re-encodes m so that nil and empty slices compare equal.
func norm(m any) string {
	b, _ := Encode(m)
	return string(b)
}

func TestBadFrames(t *testing.T) {
	// Bodies (type and message) in frames with a right checksum.
	for _, tc := range []struct{ body, want string }{
		{"", "empty frame"},
		{"63", "unknown message type 99"},
		{"0591a1", "message type 5"},
		{"0591a17800", "1 bytes after the message"},
		{"0592a1", "message type 5"},
	} {
		body, _ := hex.DecodeString(tc.body)
		frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)+4))
		frame = binary.BigEndian.AppendUint32(append(frame, body...), crc32.Checksum(body, crcTable))
		_, _, err := Read(bytes.NewReader(frame))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("body %s: %v, want %q", tc.body, err, tc.want)
		}
	}
	// Frames.
	for _, tc := range []struct{ frame, want string }{
		{"00000000", "has no checksum"},
		{"00000003050505", "has no checksum"},
		{"7fffffff", "exceeds"},
		{"0000000505", "truncated frame"},
		{"000000080591a178dc6fc5", "truncated frame"},
		{"000000080591a178dc6fc576", "checksum mismatch"},
	} {
		b, _ := hex.DecodeString(tc.frame)
		_, _, err := Read(bytes.NewReader(b))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("frame %s: %v, want %q", tc.frame, err, tc.want)
		}
	}
}

// TestFlippedBits checks that every single-bit error in the body or the
// checksum of a frame is caught, for every golden frame.
func TestFlippedBits(t *testing.T) {
	for _, g := range golden {
		frame, _ := hex.DecodeString(g)
		for i := 4; i < len(frame); i++ {
			for bit := 0; bit < 8; bit++ {
				b := bytes.Clone(frame)
				b[i] ^= 1 << bit
				if _, _, err := Read(bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
					t.Fatalf("frame %s with bit %d of byte %d flipped: %v", g, bit, i, err)
				}
			}
		}
	}
}

func TestReadMax(t *testing.T) {
	b, _ := Encode(&Error{Msg: string(make([]byte, 100))})
	if _, _, err := ReadMax(bytes.NewReader(b), 50); err == nil || !strings.Contains(err.Error(), "exceeds the 50-byte limit") {
		t.Errorf("ReadMax: %v", err)
	}
	if _, _, err := ReadMax(bytes.NewReader(b), 200); err != nil {
		t.Errorf("ReadMax: %v", err)
	}
}

func TestCompress(t *testing.T) {
	data := bytes.Repeat([]byte("distssa "), 1000)
	z := Compress(data)
	if len(z) >= len(data)/10 {
		t.Errorf("compressed %d bytes to %d", len(data), len(z))
	}
	if out, err := Decompress(z, uint64(len(data))); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := Decompress(z, 10); err == nil {
		t.Error("a payload larger than announced decompressed")
	}
	if _, err := Decompress(z, uint64(len(data)+1)); err == nil || !strings.Contains(err.Error(), "announced") {
		t.Errorf("a payload smaller than announced: %v", err)
	}
	if _, err := Decompress([]byte("garbage"), 5); err == nil {
		t.Error("garbage decompressed")
	}
	if _, err := Decompress(nil, MaxPayload+1); err == nil {
		t.Error("oversized announcement accepted")
	}
}

func TestMAC(t *testing.T) {
	tok, n1, n2 := []byte("t"), []byte("a"), []byte("b")
	c := ClientMAC(tok, n1, n2)
	if !CheckMAC(c, ClientMAC(tok, n1, n2)) {
		t.Fatal("MAC not deterministic")
	}
	for _, other := range [][]byte{ClientMAC([]byte("u"), n1, n2), ClientMAC(tok, n2, n1), ServerMAC(tok, n1, n2)} {
		if CheckMAC(c, other) {
			t.Error("different inputs give the same MAC")
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, g := range golden {
		b, _ := hex.DecodeString(g)
		f.Add(bodyOf(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(body)
		if err != nil {
			return
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", m, err)
		}
		m2, err := Decode(bodyOf(b))
		if err != nil || norm(m) != norm(m2) {
			t.Fatalf("round trip of %#v: %#v, %v", m, m2, err)
		}
	})
}

// TestHugeLengths checks that declared lengths beyond the frame are
// refused before the decoder allocates for them.
func TestHugeLengths(t *testing.T) {
	for _, body := range []string{
		"0691dddddddddd",   // Query with an array of 3.7e9 hashes
		"0196dd7fffffff",   // Hello with a huge array
		"0691c6ffffffff",   // a huge bin
		"0196df7fffffff00", // a huge map
		"0191c1",           // the never-used byte
		"0a91c9ffffffff01", // a huge ext
	} {
		b, _ := hex.DecodeString(body)
		if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "msgpack:") {
			t.Errorf("body %s: %v, want a msgpack shape error", body, err)
		}
	}
}
