// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"bytes"
	"encoding/hex"
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

// norm re-encodes m so that nil and empty slices compare equal.
func norm(m any) string {
	b, _ := Encode(m)
	return string(b)
}

func TestBadFrames(t *testing.T) {
	for _, tc := range []struct{ frame, want string }{
		{"00000000", "empty frame"},
		{"0000000163", "unknown message type 99"},
		{"7fffffff", "exceeds"},
		{"0000000505", "truncated frame"},
		{"000000040591a1", "truncated frame"},
		{"000000030591a1", "message type 5"},
		{"000000050591a17800", "1 bytes after the message"},
		{"000000030592a1", "message type 5"},
	} {
		b, _ := hex.DecodeString(tc.frame)
		_, _, err := Read(bytes.NewReader(b))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("frame %s: %v, want %q", tc.frame, err, tc.want)
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
		f.Add(b[4:])
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
		m2, err := Decode(b[4:])
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
