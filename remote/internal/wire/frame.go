// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"sync"

	"github.com/valyala/gozstd"
	"github.com/vmihailenco/msgpack/v5"
)

// crcTable is CRC-32C (Castagnoli), which the frame checksum uses.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Encode returns m's frame: a 4-byte big-endian length, the type byte,
// the msgpack body (structs as arrays, compact integers) and the CRC-32C
// of type and body, big-endian.
func Encode(m any) ([]byte, error) {
	t, err := typeOf(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0, 0, t})
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint32(buf.Bytes(), crc32.Checksum(buf.Bytes()[4:], crcTable))
	if len(b)-4 > MaxFrame {
		return nil, fmt.Errorf("wire: message of %d bytes exceeds the %d-byte limit", len(b)-4, MaxFrame)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

// Decode parses a frame body (type byte and msgpack).
func Decode(body []byte) (any, error) {
	return decode(body, nil)
}

// decode is Decode; between the check of the body and its decoding it
// calls spend, if not nil, with what the decoding will cost (by
// checkShape's model), and its error stops the decoding.
func decode(body []byte, spend func(cost uint64) error) (any, error) {
	if len(body) == 0 {
		return nil, errors.New("wire: empty frame")
	}
	m := newMsg(body[0])
	if m == nil {
		return nil, fmt.Errorf("wire: unknown message type %d", body[0])
	}
	cost, err := checkShape(reflect.TypeOf(m), body[1:])
	if err != nil {
		return nil, fmt.Errorf("wire: message type %d: %v", body[0], err)
	}
	if spend != nil {
		if err := spend(cost); err != nil {
			return nil, fmt.Errorf("wire: message type %d: %w", body[0], err)
		}
	}
	r := bytes.NewReader(body[1:])
	dec := msgpack.NewDecoder(r)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("wire: message type %d: %v", body[0], err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("wire: message type %d: %d bytes after the message", body[0], r.Len())
	}
	return m, nil
}

// Write sends m; it returns the number of bytes written.
func Write(w io.Writer, m any) (int, error) {
	b, err := Encode(m)
	if err != nil {
		return 0, err
	}
	return w.Write(b)
}

// Read reads one message; it returns the number of bytes read.
func Read(r io.Reader) (any, int, error) { return ReadMax(r, MaxFrame) }

// MaxHandshakeFrame bounds the frames a worker reads before the peer is
// authenticated.
const MaxHandshakeFrame = 64 << 10

// ReadMax is Read with a smaller bound on the frame.
func ReadMax(r io.Reader, max uint32) (any, int, error) {
	m, n, _, err := ReadBudget(r, max, nil)
	return m, n, err
}

// A Budget accounts for the memory that a receiver spends on what its
// peer sends. Acquire takes n bytes before they are allocated; it may
// wait for them, and its error refuses what needs them. Release gives
// n bytes back.
type Budget interface {
	Acquire(n uint64) error
	Release(n uint64)
}

// ReadBudget is ReadMax that takes the frame's memory from b (if not
// nil) before it allocates it. Before it reads the body it takes the
// body's length and what decoding an honest frame of that length costs
// (honestFactor times it, plus decodeConst). Once the body is checked,
// it gives back what the decoding will not cost (by checkShape's model
// of what the decoder allocates), or takes what it costs beyond that;
// once the body is decoded, the body's length. What the message costs
// stays taken: ReadBudget returns it, and the caller releases it when it
// is done with the message. On error nothing stays taken; after an
// error of b's the connection cannot go on (the body is unread, or
// dropped).
func ReadBudget(r io.Reader, max uint32, b Budget) (m any, nread int, cost uint64, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, 0, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > max {
		return nil, 4, 0, fmt.Errorf("wire: frame of %d bytes exceeds the %d-byte limit", n, max)
	}
	if n < 4 {
		return nil, 4, 0, fmt.Errorf("wire: frame of %d bytes has no checksum", n)
	}
	if b == nil {
		// Grow the buffer as bytes arrive rather than trusting the length.
		var body bytes.Buffer
		got, err := io.CopyN(&body, r, int64(n))
		if err != nil {
			return nil, 4 + int(got), 0, fmt.Errorf("wire: truncated frame: %v", err)
		}
		v, err := checkFrame(body.Bytes())
		if err != nil {
			return nil, 4 + int(n), 0, err
		}
		m, err := Decode(v)
		return m, 4 + int(n), 0, err
	}
	// The budget holds the length: the body is allocated at once.
	held := uint64(n) + honestFactor*uint64(n) + decodeConst
	if err := b.Acquire(held); err != nil {
		return nil, 4, 0, fmt.Errorf("wire: frame of %d bytes: %w", n, err)
	}
	body := make([]byte, n)
	if got, err := io.ReadFull(r, body); err != nil {
		b.Release(held)
		return nil, 4 + got, 0, fmt.Errorf("wire: truncated frame: %v", err)
	}
	if body, err = checkFrame(body); err == nil {
		m, err = decode(body, func(c uint64) error {
			// The body stays until the decoding ends.
			if need := uint64(n) + c; need > held {
				if err := b.Acquire(need - held); err != nil {
					return fmt.Errorf("decoding costs %d bytes: %w", c, err)
				}
				held = need
			} else {
				b.Release(held - need)
				held = need
			}
			cost = c
			return nil
		})
	}
	if err != nil {
		b.Release(held)
		return nil, 4 + int(n), 0, err
	}
	b.Release(held - cost) // the body's
	return m, 4 + int(n), cost, nil
}

// checkFrame checks a frame body's checksum and returns the body
// without it. The checksum catches what TCP's does not: a frame damaged
// on its way (a bit flipped by a faulty NIC, router or relay) would
// decode to other arguments or other object code.
func checkFrame(body []byte) ([]byte, error) {
	b, sum := body[:len(body)-4], binary.BigEndian.Uint32(body[len(body)-4:])
	if crc32.Checksum(b, crcTable) != sum {
		return nil, errors.New("wire: frame checksum mismatch (damaged in transit)")
	}
	return b, nil
}

// Compress zstd-compresses a payload.
func Compress(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return gozstd.Compress(nil, b)
}

// Decompress undoes Compress and checks the announced size, which is at
// most MaxPayload.
func Decompress(b []byte, size uint64) ([]byte, error) { return DecompressMax(b, size, MaxPayload) }

// DecompressMax is Decompress with the caller's bound on the size. An
// empty payload announces 0 bytes and only it does. Memory grows with
// the output as it is produced, from at most a small multiple of the
// compressed input, and decompression stops as soon as the output
// passes the announced size: a peer's announcement costs nothing until
// its data backs it.
func DecompressMax(b []byte, size, max uint64) ([]byte, error) {
	if err := checkPayload(b, size, max); err != nil || size == 0 {
		return nil, err
	}
	return decompress(b, size, min(size, 8*uint64(len(b))+64<<10))
}

// DecompressBudget is DecompressMax that takes the announced size from
// budget before it allocates the output, which it then does at once.
// On success the size stays taken: the caller releases it when it is
// done with the output. On error nothing stays taken.
func DecompressBudget(b []byte, size, max uint64, budget Budget) ([]byte, error) {
	if err := checkPayload(b, size, max); err != nil || size == 0 {
		return nil, err
	}
	if err := budget.Acquire(size); err != nil {
		return nil, fmt.Errorf("payload of %d bytes: %w", size, err)
	}
	out, err := decompress(b, size, size)
	if err != nil {
		budget.Release(size)
	}
	return out, err
}

// checkPayload checks a payload's announced size against its bound and
// its zstd frame header, before anything is decompressed.
func checkPayload(b []byte, size, max uint64) error {
	if max > MaxPayload {
		max = MaxPayload
	}
	switch {
	case size > max:
		return fmt.Errorf("payload of %d bytes exceeds the %d-byte limit", size, max)
	case size == 0 && len(b) == 0:
		return nil
	case size == 0:
		return fmt.Errorf("a payload of %d compressed bytes announces 0 bytes", len(b))
	case len(b) == 0:
		return fmt.Errorf("an empty payload announces %d bytes", size)
	}
	return checkZstdHeader(b, size)
}

// decompress decompresses a checked payload of the announced size into
// a buffer of first bytes, which grows as the output comes.
func decompress(b []byte, size, first uint64) ([]byte, error) {
	zr, _ := zstdReaders.Get().(*gozstd.Reader)
	if zr == nil {
		zr = gozstd.NewReader(nil)
	}
	src := bytes.NewReader(b)
	zr.Reset(src, nil)
	defer func() {
		zr.Reset(nil, nil)
		zstdReaders.Put(zr)
	}()
	out := make([]byte, 0, first)
	for {
		if len(out) == cap(out) {
			if uint64(len(out)) == size {
				break
			}
			grown := make([]byte, len(out), min(size, 2*uint64(cap(out))))
			copy(grown, out)
			out = grown
		}
		n, err := zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			return nil, fmt.Errorf("payload decompresses to %d bytes, %d announced", len(out), size)
		}
		if err != nil {
			return nil, fmt.Errorf("zstd: %v", err)
		}
	}
	// The output has its announced size: anything more is an error.
	var one [1]byte
	n, err := zr.Read(one[:])
	if n > 0 {
		return nil, fmt.Errorf("payload decompresses to more than the %d bytes announced", size)
	}
	if err != io.EOF {
		return nil, fmt.Errorf("zstd: %v", err)
	}
	return out, nil
}

// zstdReaders holds stream decoders for reuse: each owns C buffers.
var zstdReaders sync.Pool

// checkZstdHeader reads the header of the first zstd frame in b
// (RFC 8878 §3.1.1.1) and refuses, before any decoding, a frame whose
// recorded content size differs from the announced size or whose window
// (the decoder's buffer) is larger than twice the announced size and
// 8 MiB.
func checkZstdHeader(b []byte, size uint64) error {
	if len(b) < 5 || binary.LittleEndian.Uint32(b) != 0xfd2fb528 {
		return errors.New("payload is not a zstd frame")
	}
	desc := b[4]
	single := desc&0x20 != 0
	pos := 5
	var window uint64
	if !single {
		if len(b) < pos+1 {
			return errors.New("zstd: truncated frame header")
		}
		wd := b[pos]
		pos++
		base := uint64(1) << (10 + wd>>3)
		window = base + base/8*uint64(wd&7)
	}
	pos += []int{0, 1, 2, 4}[desc&3] // dictionary ID
	fcsLen := []int{0, 2, 4, 8}[desc>>6]
	if fcsLen == 0 && single {
		fcsLen = 1
	}
	if len(b) < pos+fcsLen {
		return errors.New("zstd: truncated frame header")
	}
	var fcs uint64
	switch fcsLen {
	case 1:
		fcs = uint64(b[pos])
	case 2:
		fcs = uint64(binary.LittleEndian.Uint16(b[pos:])) + 256
	case 4:
		fcs = uint64(binary.LittleEndian.Uint32(b[pos:]))
	case 8:
		fcs = binary.LittleEndian.Uint64(b[pos:])
	}
	if fcsLen > 0 && fcs > size {
		return fmt.Errorf("payload's zstd frame holds %d bytes, more than the %d bytes announced", fcs, size)
	}
	if fcsLen > 0 && fcs < size {
		return fmt.Errorf("payload's zstd frame holds %d bytes, fewer than the %d bytes announced", fcs, size)
	}
	if single {
		window = fcs
	}
	if window > 2*size && window > 8<<20 {
		return fmt.Errorf("zstd: window of %d bytes for a payload of %d", window, size)
	}
	return nil
}
