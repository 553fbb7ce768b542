// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package localproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// golden holds each message with its frame, as PROTOCOL.md §1 defines it.
var golden = []struct {
	m     Msg
	frame string // hex
}{
	{&Hello{Version: 5, Compile: "/c", Cwd: "/w", Args: []string{"-p=p", "a.go"}, Env: []string{"GOOS=linux"}, Caps: CanWhole | CanSplit},
		"20" + "01" + "05" + "022f63" + "022f77" + "02" + "042d703d70" + "04612e676f" + "01" + "0a474f4f533d6c696e7578" + "03"},
	{&Grant{N: 2}, "05" + "02" + "02" + "00" + "00" + "00"},
	{&Grant{N: 0, Reason: "small"}, "0a" + "02" + "00" + "05736d616c6c" + "00" + "00"},
	{&Grant{Kind: KindWhole}, "05" + "02" + "00" + "00" + "01" + "00"},
	{&Grant{N: 3, Verify: 1}, "05" + "02" + "03" + "00" + "00" + "01"},
	{&Job{Worker: 1, Data: []byte{0xff}}, "04" + "03" + "01" + "01ff"},
	{&Job{Worker: 0}, "03" + "03" + "00" + "00"},
	{&Result{Worker: 300, Status: 1, Data: []byte("x")}, "06" + "04" + "ac02" + "01" + "0178"},
	{&Stats{PkgPath: "p", Funcs: 3, Remote: 2, Cost: 200, RemoteCost: 150, ResultBytes: 1}, "0b" + "05" + "0170" + "03" + "02" + "c801" + "9601" + "01" + "00"},
	{&Stats{PkgPath: "p", Funcs: 3, Remote: 2, Cost: 200, RemoteCost: 150, ResultBytes: 1,
		Phases: []Phase{{Worker: 0, Name: "fe", Start: 5, Dur: 2}, {Worker: 1, Name: "x", Start: 300, Dur: 1}}},
		"17" + "05" + "0170" + "03" + "02" + "c801" + "9601" + "01" + "02" + "00" + "026665" + "05" + "02" + "01" + "0178" + "ac02" + "01"},
	{&Hold{What: "link"}, "06" + "06" + "046c696e6b"},
	{&Whole{Status: 0, Exit: 2, Output: []byte("e\n"), Files: []File{{Name: "o", Data: []byte{1, 2}}}, Msg: ""},
		"0f" + "07" + "00" + "02" + "02650a" + "01" + "016f" + "020102" + "00" + "00" + "00"},
	{&Whole{Status: 1, Msg: "w"}, "09" + "07" + "01" + "00" + "00" + "00" + "0177" + "00" + "00"},
	{&Whole{Files: []File{{Name: "o", Data: []byte{7}}}, Verify: 1, Host: "h:1"},
		"0f" + "07" + "00" + "00" + "00" + "01" + "016f" + "0107" + "00" + "01" + "03683a31"},
	{&Verdict{Match: 0, Msg: "o differs"}, "0c" + "08" + "00" + "096f2064696666657273"},
	{&Verdict{Match: 1}, "03" + "08" + "01" + "00"},
}

func TestGolden(t *testing.T) {
	for _, g := range golden {
		var buf bytes.Buffer
		if err := Write(&buf, g.m); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(buf.Bytes()); got != g.frame {
			t.Errorf("%T: frame %s, want %s", g.m, got, g.frame)
		}
		want, _ := hex.DecodeString(g.frame)
		m, err := Read(bufio.NewReader(bytes.NewReader(want)))
		if err != nil || !reflect.DeepEqual(m, g.m) {
			t.Errorf("%T: decoded %#v, %v", g.m, m, err)
		}
	}
}

func TestBadFrames(t *testing.T) {
	for _, tc := range []struct{ frame, want string }{
		{"", "EOF"},
		{"80", "truncated frame length"},
		{"ffffffff0f", "exceeds"},
		{"05", "truncated frame"},
		{"00", "empty frame"},
		{"0109", "unknown message type 9"},
		{"020200", "truncated"},
		{"06020000000000", "1 bytes after its fields"},
		{"0403007f00", "string of 127 bytes"},
		{"070101012f012f05", "list of 5 strings"},
		{"06070000000900", "9 files"},
		{"0b0501700302c801960101" + "09", "9 phases"},
	} {
		b, _ := hex.DecodeString(tc.frame)
		_, err := Read(bufio.NewReader(bytes.NewReader(b)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("frame %s: err %v, want %q", tc.frame, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, g := range golden {
		b, _ := hex.DecodeString(g.frame)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			m, err := Read(r)
			if err != nil {
				if err == io.EOF && r.Buffered() != 0 {
					t.Fatal("EOF with bytes left")
				}
				return
			}
			// What decodes re-encodes to a frame that decodes the same.
			m2, err := Decode(Encode(m))
			if err != nil || !reflect.DeepEqual(normalize(m), normalize(m2)) {
				t.Fatalf("round trip of %#v: %#v, %v", m, m2, err)
			}
		}
	})
}

// normalize maps empty slices to nil, which the encoding does not tell apart.
func normalize(m Msg) Msg {
	switch m := m.(type) {
	case *Job:
		if len(m.Data) == 0 {
			m.Data = nil
		}
	case *Result:
		if len(m.Data) == 0 {
			m.Data = nil
		}
	case *Whole:
		if len(m.Output) == 0 {
			m.Output = nil
		}
		for i := range m.Files {
			if len(m.Files[i].Data) == 0 {
				m.Files[i].Data = nil
			}
		}
	}
	return m
}

// TestReadGrowsAsDataComes: a frame that announces 512 MiB and brings 10
// bytes costs its reader about those 10 bytes, not the announcement.
func TestReadGrowsAsDataComes(t *testing.T) {
	frame := binary.AppendUvarint(nil, MaxFrame)
	frame = append(frame, "0123456789"...)
	var err error
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	_, err = Read(bufio.NewReader(bytes.NewReader(frame)))
	runtime.ReadMemStats(&b)
	if err == nil || !strings.Contains(err.Error(), "truncated frame") {
		t.Errorf("Read: %v, want a truncated frame", err)
	}
	if n := b.TotalAlloc - a.TotalAlloc; n > 256<<10 {
		t.Errorf("Read allocated %d bytes for 10 bytes of a frame", n)
	}
	// A frame bigger than the first chunk still reads whole.
	big := &Job{Worker: 1, Data: bytes.Repeat([]byte("job "), 300<<10)}
	var buf bytes.Buffer
	Write(&buf, big)
	if m, err := Read(bufio.NewReader(&buf)); err != nil || !reflect.DeepEqual(m, big) {
		t.Errorf("a big frame: %v", err)
	}
}

// sharedGolden is the golden file that the three implementations of the
// protocol test against: the compiler and the go command keep their own
// code (bootstrap rule), and the file holds all three to the same bytes.
const sharedGolden = "../../../src/cmd/compile/internal/distssa/agentclient/testdata/localproto.golden"

// readGolden returns the frames of a golden file, in order, as hex: each
// line's leading lower-case hex fields, joined.
func readGolden(t *testing.T, name string) []string {
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var frames []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		var frame strings.Builder
		for _, f := range strings.Fields(line) {
			if _, err := hex.DecodeString(f); err != nil || strings.ToLower(f) != f {
				break
			}
			frame.WriteString(f)
		}
		frames = append(frames, frame.String())
	}
	return frames
}

// TestSharedGolden checks that the agent's golden frames are the shared
// file's, in order.
func TestSharedGolden(t *testing.T) {
	frames := readGolden(t, sharedGolden)
	if len(frames) != len(golden) {
		t.Fatalf("%s has %d frames, the agent's golden %d", sharedGolden, len(frames), len(golden))
	}
	for i, g := range golden {
		if frames[i] != g.frame {
			t.Errorf("%T: the agent's frame %s, the shared file's %s", g.m, g.frame, frames[i])
		}
	}
}
