// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agentclient

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

var testMsgs = []Msg{
	&Hello{Version: 3, Compile: "/go/pkg/tool/linux_amd64/compile", Cwd: "/src", Args: []string{"-p=p", "-o", "p.o", "p.go"}, Env: []string{"GOROOT=/go", "GOARCH=amd64"}, Caps: CanWhole | CanSplit},
	&Hello{Version: 3},
	&Grant{N: 2, Verify: 1},
	&Whole{Status: StatusOK, Files: []File{{Name: "o", Data: []byte("obj")}}, Verify: 1, Host: "[::1]:7070"},
	&Verdict{Match: 0, Msg: "-o differs at byte 7"},
	&Grant{N: 3},
	&Grant{N: 0, Reason: "no hosts"},
	&Grant{Kind: KindWhole},
	&Whole{Status: StatusOK, Exit: 2, Output: []byte("p.go:1:1: syntax error\n"), Files: []File{{Name: "o", Data: []byte("!<arch>\n")}, {Name: "asmhdr"}}},
	&Whole{Status: StatusFailed, Msg: "worker w:1: connection refused"},
	&Job{Worker: 2, Data: []byte("distssa\x00job")},
	&Job{Worker: 0},
	&Result{Worker: 1, Status: StatusOK, Data: bytes.Repeat([]byte{0, 0xff, 0x80}, 1000)},
	&Result{Worker: 0, Status: StatusFailed, Data: []byte("host h1:7000: connection refused")},
	&Stats{PkgPath: "net/http", Funcs: 1000, Remote: 900, Cost: 1 << 40, RemoteCost: 1<<40 - 1, ResultBytes: 12345678,
		Phases: []Phase{{Worker: 0, Name: "front end", Start: 1 << 60, Dur: 1 << 33}, {Worker: 2, Name: "transfer", Start: 1<<60 + 7, Dur: 0}}},
}

// goldenMsgs are the messages of testdata/localproto.golden, in order,
// in this side's types; nil where the compiler has no type (HOLD, which
// the go command sends).
var goldenMsgs = []Msg{
	&Hello{Version: 5, Compile: "/c", Cwd: "/w", Args: []string{"-p=p", "a.go"}, Env: []string{"GOOS=linux"}, Caps: CanWhole | CanSplit},
	&Grant{N: 2},
	&Grant{Reason: "small"},
	&Grant{Kind: KindWhole},
	&Grant{N: 3, Verify: 1},
	&Job{Worker: 1, Data: []byte{0xff}},
	&Job{Worker: 0},
	&Result{Worker: 300, Status: StatusFailed, Data: []byte("x")},
	&Stats{PkgPath: "p", Funcs: 3, Remote: 2, Cost: 200, RemoteCost: 150, ResultBytes: 1},
	&Stats{PkgPath: "p", Funcs: 3, Remote: 2, Cost: 200, RemoteCost: 150, ResultBytes: 1,
		Phases: []Phase{{Worker: 0, Name: "fe", Start: 5, Dur: 2}, {Worker: 1, Name: "x", Start: 300, Dur: 1}}},
	nil,
	&Whole{Status: StatusOK, Exit: 2, Output: []byte("e\n"), Files: []File{{Name: "o", Data: []byte{1, 2}}}},
	&Whole{Status: StatusFailed, Msg: "w"},
	&Whole{Files: []File{{Name: "o", Data: []byte{7}}}, Verify: 1, Host: "h:1"},
	&Verdict{Match: 0, Msg: "o differs"},
	&Verdict{Match: 1},
}

// goldenFrames returns the frames of testdata/localproto.golden, in
// order: each line's leading lower-case hex fields, joined.
func goldenFrames(t *testing.T) [][]byte {
	t.Helper()
	data, err := os.ReadFile("testdata/localproto.golden")
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		var frame []byte
		for _, f := range strings.Fields(line) {
			b, err := hex.DecodeString(f)
			if err != nil || strings.ToLower(f) != f {
				break
			}
			frame = append(frame, b...)
		}
		frames = append(frames, frame)
	}
	return frames
}

// TestGolden checks this side's codec against the golden frames the
// agent's tests (remote/internal/localproto) and the go command's
// (cmd/go/internal/work, HOLD) use too: same bytes out, same messages
// in.
func TestGolden(t *testing.T) {
	frames := goldenFrames(t)
	if len(frames) != len(goldenMsgs) {
		t.Fatalf("the golden file has %d frames, goldenMsgs %d", len(frames), len(goldenMsgs))
	}
	for i, m := range goldenMsgs {
		if m == nil {
			continue
		}
		var out bytes.Buffer
		writeFrame(&out, m.encode())
		if !bytes.Equal(out.Bytes(), frames[i]) {
			t.Errorf("%T: frame %x, golden %x", m, out.Bytes(), frames[i])
		}
		body, err := readFrame(bufio.NewReader(bytes.NewReader(frames[i])))
		if err != nil {
			t.Errorf("golden frame %d: %v", i, err)
			continue
		}
		got, err := decodeMsg(body)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("golden frame %d: decoded %+v, %v; want %+v", i, got, err, m)
		}
	}
}

// TestFrames: every message survives a frame round trip, one after
// the other on one stream.
func TestFrames(t *testing.T) {
	var stream bytes.Buffer
	for _, m := range testMsgs {
		if err := writeFrame(&stream, m.encode()); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&stream)
	for _, want := range testMsgs {
		body, err := readFrame(r)
		if err != nil {
			t.Fatalf("reading %T: %v", want, err)
		}
		got, err := decodeMsg(body)
		if err != nil {
			t.Fatalf("decoding %T: %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip: got %+v, want %+v", got, want)
		}
	}
	if _, err := readFrame(r); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

// TestAgentFramesCorrupt: truncated, extended, oversize and garbled
// input gives errors, never a panic or a large allocation.
func TestFramesCorrupt(t *testing.T) {
	for _, m := range testMsgs {
		body := m.encode()
		for i := 0; i < len(body); i++ {
			if _, err := decodeMsg(body[:i]); err == nil {
				t.Errorf("%T cut to %d of %d bytes decoded without error", m, i, len(body))
			}
		}
		if _, err := decodeMsg(append(body[:len(body):len(body)], 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
			t.Errorf("%T with a trailing byte: %v, want a trailing data error", m, err)
		}
		var frame bytes.Buffer
		writeFrame(&frame, body)
		b := frame.Bytes()
		for i := 1; i < len(b); i++ {
			if _, err := readFrame(bufio.NewReader(bytes.NewReader(b[:i]))); err == nil || err == io.EOF {
				t.Errorf("%T frame cut to %d of %d bytes: %v, want an error other than EOF", m, i, len(b), err)
			}
		}
	}
	for _, body := range [][]byte{nil, {0}, {6}, {0xff}} {
		if _, err := decodeMsg(body); err == nil {
			t.Errorf("decodeMsg(%x) succeeded", body)
		}
	}
	// A count larger than the message cannot allocate.
	w := writer{buf: []byte{msgHello}}
	w.uvarint(1)
	w.str("c")
	w.str("d")
	w.uvarint(1 << 60)
	if _, err := decodeMsg(w.buf); err == nil {
		t.Errorf("HELLO with 2^60 args decoded")
	}
	st := writer{buf: (&Stats{PkgPath: "p"}).encode()}
	st.buf = st.buf[:len(st.buf)-1] // its count of phases, 0
	st.uvarint(1 << 60)
	if _, err := decodeMsg(st.buf); err == nil || !strings.Contains(err.Error(), "count") {
		t.Errorf("STATS with 2^60 phases: %v, want a count error", err)
	}
	// Oversize frames: the limit itself, and lengths that overflow.
	var big writer
	big.uvarint(maxFrame + 1)
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(big.buf))); err != errFrameTooLarge {
		t.Errorf("frame of %d bytes: %v, want %v", maxFrame+1, err, errFrameTooLarge)
	}
	over := bytes.Repeat([]byte{0xff}, 11)
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(over))); err == nil {
		t.Errorf("frame length of 11 bytes read without error")
	}
	// The largest allowed length with little data is truncated, and
	// reading it does not allocate the length.
	var lim writer
	lim.uvarint(maxFrame)
	lim.buf = append(lim.buf, 1, 2, 3)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readFrame(bufio.NewReader(bytes.NewReader(lim.buf)))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("short frame of announced length %d: %v, want truncated", maxFrame, err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 16<<20 {
		t.Errorf("reading a short frame allocated %d bytes", d)
	}
}

// FuzzFrame: arbitrary input never panics, and what decodes
// re-encodes to the same message.
func FuzzFrame(f *testing.F) {
	for _, m := range testMsgs {
		var b bytes.Buffer
		writeFrame(&b, m.encode())
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			body, err := readFrame(r)
			if err != nil {
				break
			}
			m, err := decodeMsg(body)
			if err != nil {
				continue
			}
			again, err := decodeMsg(m.encode())
			if err != nil || !reflect.DeepEqual(again, m) {
				t.Fatalf("%+v re-encoded decodes as %+v, %v", m, again, err)
			}
		}
	})
}
