// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package work

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The local protocol's golden frames, which the compiler's client of the
// agent and the agent (remote/internal/localproto) test against too, and
// the compiler's dial. The overlay puts both in this tree.
const (
	distssaGolden       = "../../../compile/internal/distssa/agentclient/testdata/localproto.golden"
	distssaCompilerDial = "../../../compile/internal/distssa/agentclient/dial_linux.go"
)

// The message types of GRANT and HOLD, as remote/PROTOCOL.md §1 numbers
// them: the test finds the golden frames by these, not by the constants
// it checks.
const (
	distssaGrantType = 2
	distssaHoldType  = 6
)

// distssaGoldenFrames returns the golden frames, in order: each line's
// leading lower-case hex fields, joined.
func distssaGoldenFrames(t *testing.T) [][]byte {
	t.Helper()
	data, err := os.ReadFile(distssaGolden)
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

// distssaFrameType returns a frame's message type and the rest of its
// body, as remote/PROTOCOL.md §1 defines them.
func distssaFrameType(t *testing.T, frame []byte) (byte, []byte) {
	t.Helper()
	n, k := binary.Uvarint(frame)
	if k <= 0 || n == 0 || uint64(len(frame)-k) != n {
		t.Fatalf("golden frame %x: bad length", frame)
	}
	return frame[k], frame[k+1:]
}

// distssaHoldWhat returns the process that a golden HOLD frame names.
func distssaHoldWhat(t *testing.T, frame []byte) string {
	t.Helper()
	_, rest := distssaFrameType(t, frame)
	n, k := binary.Uvarint(rest)
	if k <= 0 || uint64(len(rest)-k) != n {
		t.Fatalf("golden HOLD frame %x: bad string", frame)
	}
	return string(rest[k:])
}

// TestDistSSAGolden checks the go command's HOLD exchange against the
// golden frames: its HOLD frame is the golden one for the same process,
// and it takes every golden GRANT, and no other message, for the answer.
func TestDistSSAGolden(t *testing.T) {
	holds, grants := 0, 0
	for _, frame := range distssaGoldenFrames(t) {
		typ, _ := distssaFrameType(t, frame)
		if typ == distssaHoldType {
			holds++
			what := distssaHoldWhat(t, frame)
			if got := distssaHoldFrame(what); !bytes.Equal(got, frame) {
				t.Errorf("HOLD %q: frame %x, golden %x", what, got, frame)
			}
		}
		err := distssaReadGrant(bufio.NewReader(bytes.NewReader(frame)))
		if typ == distssaGrantType {
			grants++
			if err != nil {
				t.Errorf("golden GRANT %x: %v", frame, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), "want GRANT") {
			t.Errorf("golden frame %x of type %d taken for a GRANT (%v)", frame, typ, err)
		}
	}
	if holds == 0 || grants == 0 {
		t.Fatalf("%s has %d HOLD and %d GRANT frames; want some of each", distssaGolden, holds, grants)
	}
}

// TestDistSSAHold runs distssaHold, and so distssaDial, against an agent
// on a unix socket that expects the golden HOLD and answers with a
// golden frame: a GRANT holds the token until release, any other
// message is refused.
func TestDistSSAHold(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("distssa dials unix sockets on Linux only")
	}
	var hold, grant, other []byte
	for _, frame := range distssaGoldenFrames(t) {
		switch typ, _ := distssaFrameType(t, frame); {
		case typ == distssaHoldType && hold == nil:
			hold = frame
		case typ == distssaGrantType && grant == nil:
			grant = frame
		case typ != distssaGrantType && typ != distssaHoldType && other == nil:
			other = frame
		}
	}
	what := distssaHoldWhat(t, hold)
	for _, tc := range []struct {
		name   string
		answer []byte
		err    string
	}{
		{"grant", grant, ""},
		{"other", other, "want GRANT"},
		{"none", nil, "closed the connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A short directory: a socket path is limited to 108 bytes.
			dir, err := os.MkdirTemp("", "dsh")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			socket := filepath.Join(dir, "a.sock")
			ln, err := net.Listen("unix", socket)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			done := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(time.Minute))
				got := make([]byte, len(hold))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, hold) {
					done <- fmt.Errorf("read HOLD %x, %v; want the golden %x", got, err, hold)
					return
				}
				if tc.answer == nil {
					done <- nil
					return
				}
				if _, err := c.Write(tc.answer); err != nil {
					done <- err
					return
				}
				// The token is held until the go command closes.
				_, err = c.Read(make([]byte, 1))
				if err != io.EOF {
					done <- fmt.Errorf("after the answer: %v, want EOF", err)
					return
				}
				done <- nil
			}()
			release, err := distssaHold(socket, what)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("distssaHold: %v", err)
				}
				release()
			} else if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("distssaHold: %v, want an error that says %q", err, tc.err)
			}
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		})
	}
}

// TestDistSSADialIsTheCompilers checks that distssaDial is the
// compiler's dial (package agentclient), which is tested against the
// golden frames with the compiler's client: the same parameters, results
// and body, token for token. The go command cannot import the
// compiler's package, and neither can go without its own copy at
// bootstrap.
func TestDistSSADialIsTheCompilers(t *testing.T) {
	ours := distssaFuncTokens(t, "distssa_dial_linux.go", "distssaDial")
	theirs := distssaFuncTokens(t, distssaCompilerDial, "dialUnix")
	for i := 0; i < len(ours) || i < len(theirs); i++ {
		a, b := distssaToken{lit: "(end)"}, distssaToken{lit: "(end)"}
		if i < len(ours) {
			a = ours[i]
		}
		if i < len(theirs) {
			b = theirs[i]
		}
		if a.lit != b.lit {
			t.Fatalf("distssaDial differs from the compiler's dialUnix (%s) at token %d: %q on line %d here, %q on line %d there",
				distssaCompilerDial, i, a.lit, a.line, b.lit, b.line)
		}
	}
}

type distssaToken struct {
	lit  string
	line int
}

// distssaFuncTokens returns the tokens of the function name in file,
// from its parameters to the end of its body, without comments.
func distssaFuncTokens(t *testing.T, file, name string) []distssaToken {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name || fn.Body == nil {
			continue
		}
		start, end := fset.Position(fn.Type.Params.Pos()).Offset, fset.Position(fn.Body.End()).Offset
		line := fset.Position(fn.Type.Params.Pos()).Line
		var s scanner.Scanner
		sf := fset.AddFile(file, -1, end-start)
		s.Init(sf, src[start:end], nil, 0)
		var toks []distssaToken
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok == token.SEMICOLON && lit == "\n" {
				continue // an inserted semicolon: the line break
			}
			if lit == "" {
				lit = tok.String()
			}
			toks = append(toks, distssaToken{lit, line + sf.Line(pos) - 1})
		}
		return toks
	}
	t.Fatalf("%s: no function %s", file, name)
	return nil
}
