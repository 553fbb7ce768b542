// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package result

// Low-level encoding of worker results: varints and length-prefixed
// strings, in a frame with a magic, a format version and a CRC-32C.
//
//	frame = magic version:uvarint payload crc32c:4 bytes little-endian
//
// The checksum covers everything before it. A reader never panics on bad
// input: it records the first error and returns zero values after it.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

const (
	frameMagic = "distssa\x00"

	// FormatVersion is the version of the result encoding. Bump it on
	// any change to what is written or how, and with it FormatVersion in
	// distssa's remote/internal/testutil, whose tests write jobs.
	FormatVersion = 4 // 4: a result is chunks, which may stream

	// maxChunk bounds a chunk's size, so that a corrupt size cannot make
	// a reader allocate much.
	maxChunk = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

type writer struct {
	buf []byte
}

// The append helpers of encoding/binary are newer than the oldest
// bootstrap toolchain (Go 1.17), so this file uses the Put forms.

func (w *writer) uvarint(v uint64) {
	var b [binary.MaxVarintLen64]byte
	w.buf = append(w.buf, b[:binary.PutUvarint(b[:], v)]...)
}

func (w *writer) varint(v int64) {
	var b [binary.MaxVarintLen64]byte
	w.buf = append(w.buf, b[:binary.PutVarint(b[:], v)]...)
}

func (w *writer) uint32(v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	w.buf = append(w.buf, b[:]...)
}

func (w *writer) str(s string) {
	w.uvarint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}

func (w *writer) float64(f float64) {
	// The raw bits: -0.0 and NaN payloads must survive.
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], math.Float64bits(f))
	w.buf = append(w.buf, b[:]...)
}

// seal frames payload with the magic, the format version and a checksum.
func seal(payload []byte) []byte {
	w := writer{buf: make([]byte, 0, len(frameMagic)+binary.MaxVarintLen64+len(payload)+4)}
	w.buf = append(w.buf, frameMagic...)
	w.uvarint(FormatVersion)
	w.buf = append(w.buf, payload...)
	w.uint32(crc32c(w.buf))
	return w.buf
}

// sealChunk frames payload as a result's chunk: its size, then its frame.
func sealChunk(payload []byte) []byte {
	f := seal(payload)
	var size [4]byte
	binary.LittleEndian.PutUint32(size[:], uint32(len(f)))
	return append(size[:], f...)
}

// NextChunk splits the first chunk off a result, b: it returns the
// chunk's frame, for Decoder.Chunk, and the rest of b.
func NextChunk(b []byte) (frame, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, ErrTruncated
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxChunk {
		return nil, nil, fmt.Errorf("result chunk of %d bytes exceeds %d", n, maxChunk)
	}
	if uint64(len(b)-4) < uint64(n) {
		return nil, nil, ErrTruncated
	}
	return b[4 : 4+n], b[4+n:], nil
}

// ReadChunk reads the next chunk of a result from r, as a worker
// streams it, and returns the chunk whole (its size and its frame, for
// NextChunk). At the end of r between chunks, it returns io.EOF.
func ReadChunk(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = ErrTruncated
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(size[:])
	if n > maxChunk {
		return nil, fmt.Errorf("result chunk of %d bytes exceeds %d", n, maxChunk)
	}
	b := make([]byte, 4+n)
	copy(b, size[:])
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = ErrTruncated
		}
		return nil, err
	}
	return b, nil
}

// Errors from unseal that callers may want to tell apart.
var (
	ErrNotResult  = errors.New("not a distssa result (bad magic)")
	ErrChecksum   = errors.New("distssa result is corrupted (checksum mismatch)")
	ErrTruncated  = errors.New("distssa result is truncated")
	ErrVersionSkw = errors.New("distssa result format version mismatch")
)

// unseal checks a frame and returns its payload.
func unseal(b []byte) ([]byte, error) {
	if len(b) < len(frameMagic) || string(b[:len(frameMagic)]) != frameMagic {
		return nil, ErrNotResult
	}
	if len(b) < len(frameMagic)+1+4 {
		return nil, ErrTruncated
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32c(body) != sum {
		return nil, ErrChecksum
	}
	v, n := binary.Uvarint(body[len(frameMagic):])
	if n <= 0 {
		return nil, ErrTruncated
	}
	if v != FormatVersion {
		return nil, fmt.Errorf("%w: result has version %d, this compiler reads version %d", ErrVersionSkw, v, FormatVersion)
	}
	return body[len(frameMagic)+n:], nil
}

type reader struct {
	buf []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...interface{}) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

// count reads a length and checks that at least min bytes per element
// remain, so that a corrupt length cannot make the caller allocate much.
func (r *reader) count(min int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if min < 1 {
		min = 1
	}
	if v > uint64(len(r.buf)-r.off)/uint64(min) {
		r.fail("count %d exceeds the %d bytes left", v, len(r.buf)-r.off)
		return 0
	}
	return int(v)
}

// intN reads a varint that must fit in bits bits.
func (r *reader) intN(bits uint) int64 {
	v := r.varint()
	if lim := int64(1) << (bits - 1); v < -lim || v >= lim {
		r.fail("value %d does not fit in %d bits", v, bits)
		return 0
	}
	return v
}

// uintN reads a uvarint that must fit in bits bits.
func (r *reader) uintN(bits uint) uint64 {
	v := r.uvarint()
	if bits < 64 && v >= uint64(1)<<bits {
		r.fail("value %d does not fit in %d bits", v, bits)
		return 0
	}
	return v
}

func (r *reader) str() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.buf[r.off : r.off+n])
	r.off += n
	return s
}

func (r *reader) float64() float64 {
	if r.err != nil {
		return 0
	}
	if len(r.buf)-r.off < 8 {
		r.fail("unexpected end of data")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.buf[r.off:]))
	r.off += 8
	return v
}

// done checks that all input was consumed.
func (r *reader) done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.fail("%d bytes of trailing data", len(r.buf)-r.off)
	}
	return r.err
}
