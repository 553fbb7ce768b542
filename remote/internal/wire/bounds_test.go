// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/valyala/gozstd"
)

// allocated returns the bytes f allocates on the Go heap.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// streamed compresses data without its size in the frame header, as a
// hostile peer may.
func streamed(data []byte) []byte {
	var buf bytes.Buffer
	w := gozstd.NewWriter(&buf)
	w.Write(data)
	w.Close()
	w.Release()
	return buf.Bytes()
}

// TestDecompressBomb: a frame of about 2 KB that expands to 64 MiB costs
// no more than its announced size, however that is announced, and an
// announced size is not allocated before the data that fills it.
func TestDecompressBomb(t *testing.T) {
	const big = 64 << 20
	zeros := make([]byte, big)
	bombs := map[string][]byte{"sized": Compress(zeros), "streamed": streamed(zeros)}
	zeros = nil
	small := map[string][]byte{"sized": Compress([]byte("0123456789")), "streamed": streamed([]byte("0123456789"))}
	for kind, bomb := range bombs {
		if len(bomb) > 8<<10 {
			t.Fatalf("%s bomb of %d bytes; the test wants a small one", kind, len(bomb))
		}
		for _, tc := range []struct {
			what   string
			data   []byte
			size   uint64
			want   string
			budget uint64
		}{
			{"bomb announcing 0", bomb, 0, "announces 0 bytes", 64 << 10},
			{"bomb announcing 1 MiB", bomb, 1 << 20, "more than the 1048576 bytes announced", 4 << 20},
			{"10 bytes announcing 64 MiB", small[kind], big, "announced", 1 << 20},
			{"nothing announcing 64 MiB", nil, big, "announces 67108864 bytes", 64 << 10},
			{"bomb announcing more than the limit", bomb, MaxPayload + 1, "exceeds the", 64 << 10},
		} {
			var err error
			n := allocated(func() { _, err = Decompress(tc.data, tc.size) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s: %v, want an error with %q", kind, tc.what, err, tc.want)
			}
			if n > tc.budget {
				t.Errorf("%s %s: allocated %d bytes, budget %d", kind, tc.what, n, tc.budget)
			}
		}
	}
	// The caller's bound applies before anything is decompressed.
	var err error
	n := allocated(func() { _, err = DecompressMax(bombs["sized"], big, 1<<20) })
	if err == nil || !strings.Contains(err.Error(), "exceeds the 1048576-byte limit") || n > 64<<10 {
		t.Errorf("DecompressMax over the caller's bound: %v, %d bytes allocated", err, n)
	}
	// Honestly announced, the same frame decompresses.
	out, err := Decompress(bombs["streamed"], big)
	if err != nil || len(out) != big || out[big-1] != 0 {
		t.Errorf("an honest announcement: %d bytes, %v", len(out), err)
	}
}

// A payload announced as empty must be empty, and the reverse.
func TestDecompressEmpty(t *testing.T) {
	if out, err := Decompress(nil, 0); err != nil || len(out) != 0 {
		t.Errorf("empty payload: %q, %v", out, err)
	}
	if _, err := Decompress(Compress([]byte("x")), 0); err == nil {
		t.Error("a non-empty payload announced as empty decompressed")
	}
	if _, err := Decompress(streamed(nil), 0); err == nil {
		t.Error("a zstd frame announced as empty decompressed")
	}
}

// frame builds a message body: type t, then the msgpack array header of
// n fields, then the parts.
func body(t byte, parts ...[]byte) []byte {
	b := []byte{t}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// arr is a msgpack array32 header of n elements.
func arr(n int) []byte {
	b := []byte{0xdd, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return b
}

func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

// Amplification bounds what Decode may allocate: this many times the
// frame, plus a constant.
const (
	ampFactor = 8
	ampConst  = 128 << 10
)

// TestAmplification builds, for each message type with a variable part,
// the frames that cost the decoder most per byte: long arrays of the
// smallest elements, and structs given as short arrays. Whether Decode
// accepts them or not, it allocates at most ampFactor times the frame
// plus ampConst.
func TestAmplification(t *testing.T) {
	const n = 100000
	nilBin, emptyStr := []byte{0xc0}, []byte{0xa0}
	h := append([]byte{0xc4, 32}, make([]byte, 32)...)
	cases := map[string][]byte{
		"Query of nil hashes":      body(TQuery, []byte{0x92}, arr(n), rep(nilBin, n), nilBin),
		"Query of empty hashes":    body(TQuery, []byte{0x92}, arr(n), rep(emptyStr, n), nilBin),
		"Query of nil proofs":      body(TQuery, []byte{0x92, 0xc0}, arr(n), rep(nilBin, n)),
		"Missing of nil hashes":    body(TMissing, []byte{0x91}, arr(n), rep(nilBin, n)),
		"Missing of 1-byte hashes": body(TMissing, []byte{0x91}, arr(n), rep([]byte{0xc4, 1, 0}, n)),
		"Upload of empty blobs":    body(TUpload, []byte{0x91}, arr(n), rep([]byte{0x90}, n)),
		"Upload of nil blobs":      body(TUpload, []byte{0x91}, arr(n), rep([]byte{0x93, 0xc0, 0, 0xc0}, n)),
		"Start of empty args":      body(TStart, []byte{0x94, 0xa0}, arr(n), rep(emptyStr, n), []byte{0xc0, 0xc0}),
		"Start of empty files":     body(TStart, []byte{0x94, 0xa0, 0xc0, 0xc0}, arr(n), rep([]byte{0x92, 0xa0, 0xc0}, n)),
		"RunWhole of empty env":    body(TRunWhole, []byte{0x95, 0xa0, 0xc0}, arr(n), rep(emptyStr, n), []byte{0xc0, 0xa0}),
		"RunWhole of empty files":  body(TRunWhole, []byte{0x95, 0xa0, 0xc0, 0xc0}, arr(n), rep([]byte{0x90}, n), []byte{0xa0}),
		"Whole of empty outputs":   body(TWhole, []byte{0x98, 0, 0, 0xc0}, arr(n), rep([]byte{0x93, 0xa0, 0, 0xc0}, n), []byte{0xa0, 0, 0, 0xc2}),
		"Hello of empty caps":      body(THello, []byte{0x96, 1}, arr(n), rep(emptyStr, n), []byte{0xc0, 0xc0, 0xa0, 0xa0}),
		"Challenge of empty caps":  body(TChallenge, []byte{0x94, 1}, arr(n), rep(emptyStr, n), []byte{0xc0, 0xc2}),
		"Job of a big bin":         body(TJob, []byte{0x92, 0, 0xc6, 0, 0x10, 0, 0}, make([]byte, 1<<20)),
		"Error of a big string":    body(TError, []byte{0x91, 0xdb, 0, 0x10, 0, 0}, make([]byte, 1<<20)),
	}
	// Mixed with honest elements, cheap ones may pass the budget: these
	// frames sit at its edge.
	for _, nils := range []int{n, 2 * n, 5 * n / 2, 29 * n / 10, 3 * n, 4 * n} {
		q := body(TQuery, []byte{0x92}, arr(n+nils), rep(h, n), rep(nilBin, nils), nilBin)
		cases[fmt.Sprintf("Query of %d hashes and %d nils", n, nils)] = q
		s := body(TStart, []byte{0x94, 0xa0}, arr(2*nils), rep([]byte{0xa1, 'x'}, 2*nils), []byte{0xc0}, arr(n), rep(append([]byte{0x92, 0xa4, '/', 'a', '.', 'x'}, h...), n))
		cases[fmt.Sprintf("Start of %d files and %d one-byte args", n, 2*nils)] = s
	}
	for name, b := range cases {
		var err error
		got := allocated(func() { _, err = Decode(b) })
		t.Logf("%s: frame of %d bytes, %d allocated (%.2f×), error %v", name, len(b), got, float64(got)/float64(len(b)), err)
		if bound := uint64(ampFactor*len(b) + ampConst); got > bound {
			t.Errorf("%s: frame of %d bytes allocated %d (%.1f×), bound %d; decode error %v", name, len(b), got, float64(got)/float64(len(b)), bound, err)
		}
	}
}

// TestHonestFrames: frames as a big compile sends them stay well within
// the decoding budget.
func TestHonestFrames(t *testing.T) {
	h := Hash([]byte("x"))
	q := &Query{}
	st := &Start{Cwd: "/home/user/src/github.com/org/project/internal/pkg", Args: []string{"-o", "/tmp/go-build123/b001/_pkg_.a", "-p", "github.com/org/project/internal/pkg", "-c=4", "-nolocalimports", "-importcfg", "/tmp/go-build123/b001/importcfg", "-pack"}}
	for i := 0; i < 3000; i++ {
		q.Hashes = append(q.Hashes, h)
		q.Proofs = append(q.Proofs, h)
		p := fmt.Sprintf("%s/f%d.go", st.Cwd, i)
		st.Args = append(st.Args, p)
		st.Files = append(st.Files, File{Path: p, Hash: h})
	}
	for i := 0; i < 40; i++ {
		st.Env = append(st.Env, fmt.Sprintf("GO%d=on", i))
	}
	for _, m := range []any{q, st, &RunWhole{Cwd: st.Cwd, Args: st.Args, Env: st.Env, Files: st.Files}} {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		s := &shape{b: bodyOf(b)[1:], budget: 1 << 62}
		if err := s.value(reflect.TypeOf(m)); err != nil {
			t.Fatal(err)
		}
		if s.cost > 3*uint64(len(b)) {
			t.Errorf("%T: frame of %d bytes costs %d to decode, more than 3×", m, len(b), s.cost)
		}
		if _, err := Decode(bodyOf(b)); err != nil {
			t.Errorf("%T: %v", m, err)
		}
	}
}

// TestDecompressSizes round-trips payloads of many sizes, compressible
// or not, through both kinds of frame: the output grows as it comes and
// ends at exactly the announced size.
func TestDecompressSizes(t *testing.T) {
	for _, n := range []int{1, 31, 4096, 100 << 10, 1<<20 + 7, 5 << 20} {
		noise := make([]byte, n)
		x := uint32(n)
		for i := range noise {
			x = x*1664525 + 1013904223
			noise[i] = byte(x >> 24)
		}
		for _, data := range [][]byte{noise, bytes.Repeat([]byte("distssa "), n/8+1)[:n]} {
			for _, z := range [][]byte{Compress(data), streamed(data)} {
				out, err := Decompress(z, uint64(n))
				if err != nil || !bytes.Equal(out, data) {
					t.Fatalf("%d bytes: %d out, %v", n, len(out), err)
				}
				if cap(out) != n {
					t.Errorf("%d bytes: capacity %d", n, cap(out))
				}
				if _, err := Decompress(z, uint64(n-1)); err == nil {
					t.Errorf("%d bytes decompressed announcing %d", n, n-1)
				}
			}
		}
	}
}

func FuzzDecompress(f *testing.F) {
	f.Add(Compress([]byte("package p\n")), uint64(10))
	f.Add(streamed([]byte("package p\n")), uint64(10))
	f.Add(Compress(make([]byte, 1<<16)), uint64(1<<16))
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, size uint64) {
		size %= 4 << 20 // the fuzzer's memory is not the point
		out, err := Decompress(b, size)
		if err == nil && uint64(len(out)) != size {
			t.Fatalf("%d bytes out, %d announced", len(out), size)
		}
	})
}
