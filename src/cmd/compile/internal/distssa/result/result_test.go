// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"cmd/compile/internal/base"
	"cmd/internal/obj"
	"cmd/internal/obj/x86"
	"cmd/internal/src"
)

func TestMain(m *testing.M) {
	base.Ctxt = obj.Linknew(&x86.Linkamd64)
	base.Ctxt.Pkgpath = "p" // the assembler wants one (go1.27.3's Flushplist)
	// Position bases 1 to 3, which testFunc's positions name.
	for _, name := range []string{"a.go", "b.go", "c.go"} {
		base.Ctxt.PosTable.XPos(src.MakePos(src.NewFileBase(name, "/p/"+name), 1, 1))
	}
	os.Exit(m.Run())
}

// testFunc builds a Prog list that uses every encoded field and every
// kind of Addr.Val, the way genssa would leave it.
var testFuncs int

func testFunc(t testing.TB) *obj.Prog {
	testFuncs++
	fnSym := base.Ctxt.LookupABIInit(fmt.Sprintf("p.F%d", testFuncs), obj.ABIInternal, func(s *obj.LSym) { s.Pkg = "p" })
	fi := fnSym.NewFuncInfo()
	callee := base.Ctxt.LookupABI("runtime.morestack", obj.ABI0)
	data := base.Ctxt.Lookup("p.data")
	jt := base.Ctxt.Lookup("p.F.jump0")
	var list []*obj.Prog
	add := func(as obj.As) *obj.Prog {
		p := &obj.Prog{Ctxt: base.Ctxt, As: as, Pc: int64(len(list)), Pos: src.XPosFromRaw(int32(1+len(list)%3), uint32(0x1234+len(list)))}
		if len(list) > 0 {
			list[len(list)-1].Link = p
		}
		list = append(list, p)
		return p
	}
	text := add(obj.ATEXT)
	text.From = obj.Addr{Type: obj.TYPE_MEM, Name: obj.NAME_EXTERN, Sym: fnSym}
	text.To = obj.Addr{Type: obj.TYPE_TEXTSIZE, Offset: 24, Val: int32(16)}
	fi.Text = text
	mov := add(x86.AMOVQ)
	mov.From = obj.Addr{Type: obj.TYPE_MEM, Reg: x86.REG_AX, Index: x86.REG_CX, Scale: 8, Offset: -40, Name: obj.NAME_AUTO, Sym: data}
	mov.To = obj.Addr{Type: obj.TYPE_REG, Reg: x86.REG_DX}
	mov.Spadj = -8
	mov.Mark = 3
	mov.Scond = 1
	mov.Reg = x86.REG_BX
	mov.RegTo2 = x86.REG_SI
	fc := add(x86.AMOVSD)
	fc.From = obj.Addr{Type: obj.TYPE_FCONST, Val: math.Copysign(0, -1)}
	fc.To = obj.Addr{Type: obj.TYPE_REG, Reg: x86.REG_X0}
	sc := add(obj.ANOP)
	sc.From = obj.Addr{Type: obj.TYPE_SCONST, Val: "hello\x00"}
	vpr := add(x86.AVPERM2I128)
	vpr.From = obj.Addr{Type: obj.TYPE_CONST, Offset: 1}
	vpr.RestArgs = []obj.AddrPos{{Addr: obj.Addr{Type: obj.TYPE_REG, Reg: x86.REG_Y1}, Pos: obj.Source}, {Addr: obj.Addr{Type: obj.TYPE_REG, Reg: x86.REG_Y2}, Pos: obj.Destination}}
	call := add(obj.ACALL)
	call.To = obj.Addr{Type: obj.TYPE_MEM, Name: obj.NAME_EXTERN, Sym: callee, Class: 2}
	jmp := add(obj.AJMP)
	ret := add(obj.ARET)
	jmp.To = obj.Addr{Type: obj.TYPE_BRANCH, Val: ret}
	back := add(obj.AJMP)
	back.To = obj.Addr{Type: obj.TYPE_BRANCH, Val: mov}
	back.Pc = 2 // out of order, as pp.Append makes
	add(obj.AEND)
	fi.AddInlMark(call, 7)
	fi.JumpTables = append(fi.JumpTables, obj.JumpTable{Sym: jt, Targets: []*obj.Prog{ret, mov, ret}})
	return text
}

func listOf(text *obj.Prog) []*obj.Prog {
	var l []*obj.Prog
	for p := text; p != nil; p = p.Link {
		l = append(l, p)
	}
	return l
}

func TestRoundTrip(t *testing.T) {
	text := testFunc(t)
	data, syms, err := encodeFunc(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(syms) != 4 {
		t.Errorf("symbol table has %d entries, want 4", len(syms))
	}
	d, err := decodeFunc(data, func() *obj.Prog { return new(obj.Prog) })
	if err != nil {
		t.Fatal(err)
	}
	orig := listOf(text)
	if len(d.progs) != len(orig) {
		t.Fatalf("decoded %d Progs, want %d", len(d.progs), len(orig))
	}
	index := map[*obj.Prog]int{}
	for i, p := range d.progs {
		index[p] = i
	}
	for i, p := range orig {
		q := *d.progs[i]
		want := *p
		// Pointers into the list compare by position.
		if (q.Link == nil) != (want.Link == nil) || (q.Link != nil && q.Link != d.progs[i+1]) {
			t.Errorf("Prog %d: bad Link", i)
		}
		q.Link, want.Link = nil, nil
		if b, ok := want.To.Val.(*obj.Prog); ok {
			if q.To.Val != d.progs[indexOf(orig, b)] {
				t.Errorf("Prog %d: branch target is not Prog %d", i, indexOf(orig, b))
			}
			q.To.Val, want.To.Val = nil, nil
		}
		if !reflect.DeepEqual(q, want) {
			t.Errorf("Prog %d:\n got %+v\nwant %+v", i, q, want)
		}
	}
	if f, ok := d.progs[2].From.Val.(float64); !ok || !math.Signbit(f) {
		t.Errorf("-0.0 came back as %v", d.progs[2].From.Val)
	}
	for i, s := range d.syms {
		if s != syms[i] {
			t.Errorf("symbol %q resolved to a different LSym", syms[i].Name)
		}
	}
	fi := text.From.Sym.Func()
	ps, ids := fi.InlMarkProgs()
	if len(d.refs.inlProgs) != 1 || d.refs.inlProgs[0] != d.progs[indexOf(orig, ps[0])] || d.refs.inlIDs[0] != ids[0] {
		t.Errorf("inline marks: got %v %v", d.refs.inlProgs, d.refs.inlIDs)
	}
	if len(d.refs.jumpTables) != 1 || d.refs.jumpTables[0].Sym != fi.JumpTables[0].Sym || len(d.refs.jumpTables[0].Targets) != 3 {
		t.Fatalf("jump tables: got %+v", d.refs.jumpTables)
	}
	for j, tg := range fi.JumpTables[0].Targets {
		if d.refs.jumpTables[0].Targets[j] != d.progs[indexOf(orig, tg)] {
			t.Errorf("jump table target %d differs", j)
		}
	}
}

func indexOf(l []*obj.Prog, p *obj.Prog) int {
	for i, q := range l {
		if q == p {
			return i
		}
	}
	return -1
}

func TestEncodeRejects(t *testing.T) {
	for name, mutate := range map[string]func(l []*obj.Prog){
		"assembler field": func(l []*obj.Prog) { l[1].Isize = 3 },
		"foreign target":  func(l []*obj.Prog) { l[6].To.Val = &obj.Prog{} },
		"val type":        func(l []*obj.Prog) { l[3].From.Val = 1.5i },
		"unnamed symbol":  func(l []*obj.Prog) { l[1].From.Sym = &obj.LSym{} },
		"not ATEXT":       func(l []*obj.Prog) { l[0].As = obj.ANOP },
	} {
		l := listOf(testFunc(t))
		mutate(l)
		if _, _, err := encodeFunc(l[0]); err == nil {
			t.Errorf("%s: encoding succeeded", name)
		}
	}
}

func TestVersionSkew(t *testing.T) {
	data, _, err := encodeFunc(testFunc(t))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := unseal(data)
	if err != nil {
		t.Fatal(err)
	}
	// The same payload framed as the next format version.
	var w writer
	w.buf = append(w.buf, frameMagic...)
	w.uvarint(FormatVersion + 1)
	w.buf = append(w.buf, payload...)
	w.uint32(crc32c(w.buf))
	_, err = decodeFunc(w.buf, func() *obj.Prog { return new(obj.Prog) })
	if want := fmt.Sprintf("version %d", FormatVersion); !errors.Is(err, ErrVersionSkw) || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want a version mismatch naming %s", err, want)
	}
}

// TestCorruption flips every bit and cuts every prefix of a result: each
// must give an error, never a panic or a silent success.
func TestCorruption(t *testing.T) {
	data, _, err := encodeFunc(testFunc(t))
	if err != nil {
		t.Fatal(err)
	}
	alloc := func() *obj.Prog { return new(obj.Prog) }
	for i := range data {
		for bit := 0; bit < 8; bit++ {
			b := append([]byte(nil), data...)
			b[i] ^= 1 << bit
			if _, err := decodeFunc(b, alloc); err == nil {
				t.Fatalf("bit %d of byte %d flipped: decoded without error", bit, i)
			}
		}
	}
	for n := 0; n < len(data); n++ {
		if _, err := decodeFunc(data[:n], alloc); err == nil {
			t.Fatalf("truncated to %d bytes: decoded without error", n)
		}
	}
	if _, err := decodeFunc([]byte("go object linux amd64"), alloc); !errors.Is(err, ErrNotResult) {
		t.Errorf("foreign data: got %v", err)
	}
}

// TestBadPayloads checks the decoder's own checks, behind a valid frame.
func TestBadPayloads(t *testing.T) {
	alloc := func() *obj.Prog { return new(obj.Prog) }
	for name, payload := range map[string][]byte{
		"empty":             {},
		"huge symbol count": {0xff, 0xff, 0xff, 0x0f},
		"no progs":          {0, 0, 0, 0},
		"bad ABI":           {1, 1, 'x', 9, 0},
		"trailing data":     append(mustPayload(t), 0),
	} {
		if _, err := decodeFunc(seal(payload), alloc); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// TestPositionOutOfRange checks that a Prog naming a position base the
// compile does not have is refused when decoded, not left to crash the
// assembler or the DWARF writer later.
func TestPositionOutOfRange(t *testing.T) {
	n := len(base.Ctxt.PosTable.Bases())
	for _, idx := range []int32{int32(n), int32(n) + 1, 1 << 30} {
		text := testFunc(t)
		text.Link.Pos = src.XPosFromRaw(idx, 0x1234)
		data, _, err := encodeFunc(text)
		if err != nil {
			t.Fatal(err)
		}
		_, err = decodeFunc(data, func() *obj.Prog { return new(obj.Prog) })
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("position base %d out of range", idx)) {
			t.Errorf("position base %d of %d: got error %v", idx, n, err)
		}
	}
}

func mustPayload(t testing.TB) []byte {
	data, _, err := encodeFunc(testFunc(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := unseal(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzDecode feeds arbitrary payloads, framed with a valid checksum so
// that they reach the decoder proper.
func FuzzDecode(f *testing.F) {
	f.Add(mustPayload(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		d, err := decodeFunc(seal(payload), func() *obj.Prog { return new(obj.Prog) })
		if err != nil {
			return
		}
		// Whatever decodes is a well-formed list.
		for i, p := range d.progs {
			if i+1 < len(d.progs) && p.Link != d.progs[i+1] || i+1 == len(d.progs) && p.Link != nil {
				t.Fatalf("Prog %d: bad Link", i)
			}
			if b, ok := p.To.Val.(*obj.Prog); ok && indexOf(d.progs, b) < 0 {
				t.Fatalf("Prog %d: branch outside the list", i)
			}
		}
	})
}

// testResult encodes a worker result with one compiled group (testFunc,
// with content symbols in its FuncInfo) and one local group.
func testResult(t testing.TB) ([]byte, [32]byte) {
	text := testFunc(t)
	fi := text.From.Sym.Func()
	fi.GCLocals = base.Ctxt.LookupInit(fmt.Sprintf("gclocals·test%d", testFuncs), func(s *obj.LSym) {
		s.P = []byte{1, 2, 3, 4}
		s.Set(obj.AttrContentAddressable, true)
	})
	fi.StackObjects = base.Ctxt.Lookup(text.From.Sym.Name + ".stkobj")
	fi.StackObjects.P = make([]byte, 16)
	fi.StackObjects.R = []obj.Reloc{{Off: 8, Siz: 4, Type: 1, Add: 2, Sym: base.Ctxt.Lookup("runtime.gcbits.01")}}
	var enc resultEncoder
	addGroup(t, &enc, text)
	enc.localGroup("p.G<ABIInternal>", "runtime types: example")
	var fp [32]byte
	fp[3] = 7
	return enc.finish(fp, func(p *Phases) { *p = testPhases }), fp
}

// addGroup adds to enc a compiled group of the one function whose Progs
// start at text, with no type side effects, and returns its name.
func addGroup(t testing.TB, enc *resultEncoder, text *obj.Prog) string {
	rec, err := enc.encodeFuncRecord(text, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var tw writer
	tw.uvarint(0)
	tw.uvarint(0)
	tw.uvarint(0)
	name := FuncKey(text.From.Sym)
	enc.okGroup(name, tw.buf, [][]byte{rec})
	return name
}

// testPhases are the phases of testResult.
var testPhases = Phases{Start: time.Unix(1700000000, 123), FrontEnd: 800 * time.Millisecond, Job: 2 * time.Millisecond,
	Backend: 1500 * time.Millisecond, Encode: 40 * time.Millisecond}

func TestResultRoundTrip(t *testing.T) {
	data, fp := testResult(t)
	res, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	groups, rv := res.Groups, res.rv
	if res.Fingerprint != fp || len(groups) != 2 {
		t.Fatalf("fingerprint %x, %d groups", res.Fingerprint[:4], len(groups))
	}
	if ph := res.Phases; !ph.Start.Equal(testPhases.Start) || ph.FrontEnd != testPhases.FrontEnd || ph.Job != testPhases.Job ||
		ph.Backend != testPhases.Backend || ph.Encode != testPhases.Encode {
		t.Errorf("phases decoded as %+v, want %+v", ph, testPhases)
	}
	if g := groups[1]; g.Name != "p.G<ABIInternal>" || g.Reason != "runtime types: example" {
		t.Errorf("local group decoded as %+v", g)
	}
	g := groups[0]
	if g.Reason != "" || len(g.funcs) != 1 {
		t.Fatalf("compiled group decoded as %+v", g)
	}
	d := g.funcs[0]
	if c := d.slots[slotGCLocals]; c == nil || string(c.p) != "\x01\x02\x03\x04" || c.attr&obj.AttrContentAddressable == 0 {
		t.Errorf("gclocals content: %+v", c)
	}
	c := d.slots[slotStackObjects]
	if c == nil || len(c.r) != 1 || c.r[0].Off != 8 || c.r[0].Add != 2 || c.r[0].Sym.Name != "runtime.gcbits.01" {
		t.Fatalf("stkobj content: %+v", c)
	}
	// Symbols are placeholders until the client resolves them.
	if !rv.placeholder[c.r[0].Sym] || rv.sym(c.r[0].Sym) != base.Ctxt.Lookup("runtime.gcbits.01") {
		t.Errorf("relocation symbol was not a placeholder resolving to the real symbol")
	}
	if len(d.refs.jumpTables) != 1 || d.refs.jumpAttrs[0] != base.Ctxt.Lookup(d.refs.jumpTables[0].Sym.Name).Attribute {
		t.Errorf("jump table: %+v %v", d.refs.jumpTables, d.refs.jumpAttrs)
	}
}

// TestResultChunks streams a result of two groups, a chunk each, and
// checks that it decodes the same chunk by chunk as whole; that the
// second chunk refers to symbols that only the first one names; and
// that a result without its last chunk, or with a chunk after it, does
// not decode.
func TestResultChunks(t *testing.T) {
	var enc resultEncoder
	var fp [32]byte
	fp[0] = 5
	var chunks [][]byte
	var names []string
	for i := 0; i < 2; i++ {
		names = append(names, addGroup(t, &enc, testFunc(t)))
		chunks = append(chunks, enc.chunk(fp))
	}
	chunks = append(chunks, enc.finish(fp, func(p *Phases) { *p = testPhases }))
	whole := bytes.Join(chunks, nil)

	res, err := Decode(whole)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != 2 || res.Groups[0].Name != names[0] || res.Groups[1].Name != names[1] || res.Fingerprint != fp ||
		!res.Phases.Start.Equal(testPhases.Start) {
		t.Fatalf("whole result decoded as %d groups, fingerprint %x, phases %+v", len(res.Groups), res.Fingerprint[:1], res.Phases)
	}

	r := bytes.NewReader(whole)
	d := NewDecoder()
	var counts []int
	for {
		c, err := ReadChunk(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frame, rest, err := NextChunk(c)
		if err != nil || len(rest) != 0 {
			t.Fatalf("NextChunk: %v, %d bytes left", err, len(rest))
		}
		if d.Ended() {
			t.Fatalf("ended before chunk %d", len(counts))
		}
		gs, err := d.Chunk(frame)
		if err != nil {
			t.Fatalf("chunk %d: %v", len(counts), err)
		}
		counts = append(counts, len(gs))
	}
	if !reflect.DeepEqual(counts, []int{1, 1, 0}) || !d.Ended() || len(d.Result().Groups) != 2 {
		t.Fatalf("streamed: groups per chunk %v, ended %v, %d groups", counts, d.Ended(), len(d.Result().Groups))
	}
	if d.Result().Groups[1].funcs[0].name != res.Groups[1].funcs[0].name {
		t.Errorf("the second group's function differs streamed and whole")
	}

	second, _, _ := NextChunk(chunks[1])
	if _, err := NewDecoder().Chunk(second); err == nil {
		t.Errorf("the second chunk decoded without the symbols of the first")
	}
	if _, err := Decode(bytes.Join(chunks[:2], nil)); !errors.Is(err, ErrTruncated) {
		t.Errorf("a result without its last chunk: %v, want %v", err, ErrTruncated)
	}
	if _, err := Decode(append(whole, chunks[2]...)); err == nil {
		t.Errorf("a result with a chunk after the last decoded")
	}
	if _, err := ReadChunk(bytes.NewReader(whole[:len(whole)-1])); err != nil {
		t.Errorf("ReadChunk of a whole first chunk: %v", err)
	}
	r = bytes.NewReader(chunks[0][:len(chunks[0])-1])
	if _, err := ReadChunk(r); !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadChunk of a cut chunk: %v, want %v", err, ErrTruncated)
	}
}

// TestResultCorruption cuts and garbles a worker result, and checks
// payloads behind a valid checksum: errors, never panics.
func TestResultCorruption(t *testing.T) {
	data, _ := testResult(t)
	for n := 0; n < len(data); n++ {
		if _, err := Decode(data[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: decoded without error", n)
		}
	}
	payload, err := unseal(data[4:])
	if err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		b := append([]byte(nil), payload...)
		b[i] ^= 0xff
		Decode(sealChunk(b)) // must not panic
		b = append([]byte(nil), payload[:i]...)
		if _, err := Decode(sealChunk(b)); err == nil {
			t.Fatalf("payload cut to %d bytes: decoded without error", i)
		}
	}
}

// TestBadPhases checks that a result whose phase record is malformed
// does not decode: a start before the Unix epoch, a duration out of
// bounds, a record cut short or followed by more.
func TestBadPhases(t *testing.T) {
	var enc resultEncoder
	enc.localGroup("p.G<ABIInternal>", "example")
	var fp [32]byte
	good := Phases{Start: time.Unix(1, 0), FrontEnd: time.Second, Job: time.Second, Backend: time.Second, Encode: time.Second}
	if _, err := Decode(enc.finish(fp, func(p *Phases) { *p = good })); err != nil {
		t.Fatalf("good phases: %v", err)
	}
	payload, err := unseal(enc.finish(fp, func(p *Phases) { *p = good })[4:])
	if err != nil {
		t.Fatal(err)
	}
	var gw writer
	good.encode(&gw)
	head := payload[:len(payload)-len(gw.buf)] // everything before the phases
	// rec writes a phase record: a start, then durations.
	rec := func(start int64, ds ...uint64) func(*writer) {
		return func(w *writer) {
			w.varint(start)
			for _, d := range ds {
				w.uvarint(d)
			}
		}
	}
	for name, tc := range map[string]struct {
		rec  func(w *writer)
		want string
	}{
		"zero start":     {rec(0, 1, 1, 1, 1), "phases: start 0"},
		"negative start": {rec(-5, 1, 1, 1, 1), "phases: start -5"},
		"huge backend":   {rec(1, 1, 1, 1<<63, 1), "phases: backend of"},
		"huge encode":    {rec(1, 1, 1, 1, uint64(maxPhase)+1), "phases: encode of"},
		"cut":            {rec(1, 1, 1), "bad uvarint"},
		"trailing":       {rec(1, 1, 1, 1, 1, 0), "trailing data"},
		"missing":        {func(*writer) {}, "bad varint"},
	} {
		w := writer{buf: append([]byte(nil), head...)}
		tc.rec(&w)
		if _, err := Decode(sealChunk(w.buf)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one with %q", name, err, tc.want)
		}
	}
}

func FuzzDecodeResult(f *testing.F) {
	data, _ := testResult(f)
	payload, err := unseal(data[4:])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(payload)
	f.Fuzz(func(t *testing.T, payload []byte) {
		res, err := Decode(sealChunk(payload))
		if err != nil {
			return
		}
		for _, g := range res.Groups {
			if g.Reason == "" && len(g.funcs) == 0 {
				t.Fatalf("group %q: neither reason nor functions", g.Name)
			}
		}
	})
}

func TestJob(t *testing.T) {
	var fp [32]byte
	fp[0] = 9
	names := []string{"p.F<ABIInternal>", "p.(*T).M<ABI0>"}
	gotFP, gotNames, err := DecodeJob(EncodeJob(fp, names))
	if err != nil || gotFP != fp || !reflect.DeepEqual(gotNames, names) {
		t.Fatalf("job round trip: %x %v %v", gotFP[:2], gotNames, err)
	}
	b := EncodeJob(fp, names)
	for n := 0; n < len(b); n++ {
		if _, _, err := DecodeJob(b[:n]); err == nil {
			t.Fatalf("job cut to %d bytes decoded", n)
		}
	}
}
