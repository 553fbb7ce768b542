// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// countBudget is a Budget that counts what is taken and refuses what
// passes its bound.
type countBudget struct {
	t               *testing.T
	max, used, peak uint64
}

var errOver = errors.New("over the test's budget")

func (b *countBudget) Acquire(n uint64) error {
	if b.used+n > b.max {
		return errOver
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return nil
}

func (b *countBudget) Release(n uint64) {
	if n > b.used {
		b.t.Fatalf("released %d bytes of %d taken", n, b.used)
	}
	b.used -= n
}

// TestReadBudget: ReadBudget takes a frame's memory before it reads the
// body, keeps what the message costs, and gives back everything on
// error; a frame the budget refuses is not read.
func TestReadBudget(t *testing.T) {
	payload := bytes.Repeat([]byte("distssa "), 128<<10)
	h := Hash(payload)
	upload, _ := Encode(&Upload{Blobs: []Blob{{Hash: h, Size: uint64(len(payload)), Data: payload}}})
	// 10000 hashes and 10000 nils: decoding costs more than honestFactor
	// times the frame plus decodeConst, within decodeFactor.
	q := &Query{}
	for i := 0; i < 10000; i++ {
		q.Hashes = append(q.Hashes, h, nil)
	}
	query, _ := Encode(q)

	for _, tc := range []struct {
		what  string
		frame []byte
		max   uint64
		want  string // error; "" for a message
	}{
		{"an upload", upload, 8 << 20, ""},
		{"an upload past the budget", upload, 1 << 20, "over the test's budget"},
		{"a query that costs more than honest", query, 4 << 20, ""},
		{"a query whose decoding passes the budget", query, 4*uint64(len(query)) + decodeConst, "over the test's budget"},
		{"a truncated frame", upload[:len(upload)/2], 8 << 20, "truncated frame"},
		{"a damaged frame", append(upload[:len(upload)-1:len(upload)-1], upload[len(upload)-1]^1), 8 << 20, "checksum mismatch"},
	} {
		b := &countBudget{t: t, max: tc.max}
		r := bytes.NewReader(tc.frame)
		m, n, cost, err := ReadBudget(r, MaxFrame, b)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.what, err)
		case tc.want == "":
			if m == nil || n != len(tc.frame) || cost == 0 || b.used != cost {
				t.Errorf("%s: %T, %d bytes read, cost %d, %d taken; want the message, its cost taken", tc.what, m, n, cost, b.used)
			}
			if frame := uint64(len(tc.frame) - 4); b.peak < frame+cost {
				t.Errorf("%s: at most %d taken for a frame of %d that costs %d", tc.what, b.peak, frame, cost)
			}
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v, want an error with %q", tc.what, err, tc.want)
		case b.used != 0:
			t.Errorf("%s: %d bytes still taken after the error", tc.what, b.used)
		}
		if tc.max < 4*uint64(len(tc.frame)) && r.Len() != len(tc.frame)-4 {
			t.Errorf("%s: the frame the budget refused was read (%d bytes left of %d)", tc.what, r.Len(), len(tc.frame))
		}
	}
}

// TestDecompressBudget: DecompressBudget takes the announced size before
// it allocates the output, keeps it on success and gives it back on
// error; a size the budget refuses is not allocated.
func TestDecompressBudget(t *testing.T) {
	const big = 64 << 20
	bomb := Compress(make([]byte, big))
	b := &countBudget{t: t, max: 1 << 20}
	var err error
	n := allocated(func() { _, err = DecompressBudget(bomb, big, MaxPayload, b) })
	if !errors.Is(err, errOver) || n > 64<<10 || b.used != 0 {
		t.Errorf("a payload past the budget: %v, %d bytes allocated, %d taken", err, n, b.used)
	}
	b.max = 2 * big
	if _, err := DecompressBudget(Compress([]byte("0123456789")), big, MaxPayload, b); err == nil || b.used != 0 {
		t.Errorf("10 bytes announcing 64 MiB: %v, %d taken", err, b.used)
	}
	out, err := DecompressBudget(bomb, big, MaxPayload, b)
	if err != nil || len(out) != big || cap(out) != big || b.used != big {
		t.Errorf("an honest payload: %d bytes (capacity %d), %v, %d taken", len(out), cap(out), err, b.used)
	}
	if out, err := DecompressBudget(nil, 0, MaxPayload, b); err != nil || out != nil || b.used != big {
		t.Errorf("an empty payload: %q, %v, %d taken", out, err, b.used-big)
	}
}
