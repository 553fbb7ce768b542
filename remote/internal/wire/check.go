// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"encoding/binary"
	"fmt"
)

// checkShape walks one msgpack value without decoding it and checks that
// every declared length fits in the bytes that follow (each element of an
// array or map takes at least one byte). The msgpack decoder trusts
// declared array lengths when it allocates; this check bounds what a peer
// can make the decoder allocate by the size of its frame.
func checkShape(b []byte) error {
	pos, pending := 0, 1
	need := func(n uint64) error {
		if n > uint64(len(b)-pos) {
			return fmt.Errorf("msgpack: length %d at offset %d exceeds the %d bytes left", n, pos, len(b)-pos)
		}
		return nil
	}
	// length reads a k-byte big-endian length.
	length := func(k int) (uint64, error) {
		if err := need(uint64(k)); err != nil {
			return 0, err
		}
		var n uint64
		switch k {
		case 1:
			n = uint64(b[pos])
		case 2:
			n = uint64(binary.BigEndian.Uint16(b[pos:]))
		case 4:
			n = uint64(binary.BigEndian.Uint32(b[pos:]))
		}
		pos += k
		return n, nil
	}
	for ; pending > 0; pending-- {
		if err := need(1); err != nil {
			return err
		}
		c := b[pos]
		pos++
		var skip, items uint64 // payload bytes; contained values
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			items = 2 * uint64(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			items = uint64(c & 0x0f)
		case c >= 0xa0 && c <= 0xbf:
			skip = uint64(c & 0x1f)
		case c == 0xc4 || c == 0xd9:
			skip, err = length(1)
		case c == 0xc5 || c == 0xda:
			skip, err = length(2)
		case c == 0xc6 || c == 0xdb:
			skip, err = length(4)
		case c == 0xc7:
			skip, err = length(1)
			skip++
		case c == 0xc8:
			skip, err = length(2)
			skip++
		case c == 0xc9:
			skip, err = length(4)
			skip++
		case c == 0xcc || c == 0xd0:
			skip = 1
		case c == 0xcd || c == 0xd1:
			skip = 2
		case c == 0xca || c == 0xce || c == 0xd2:
			skip = 4
		case c == 0xcb || c == 0xcf || c == 0xd3:
			skip = 8
		case c >= 0xd4 && c <= 0xd8:
			skip = 1 + 1<<(c-0xd4)
		case c == 0xdc:
			items, err = length(2)
		case c == 0xdd:
			items, err = length(4)
		case c == 0xde:
			items, err = length(2)
			items *= 2
		case c == 0xdf:
			items, err = length(4)
			items *= 2
		default: // 0xc1
			return fmt.Errorf("msgpack: invalid byte %#x at offset %d", c, pos-1)
		}
		if err == nil {
			err = need(skip + items)
		}
		if err != nil {
			return err
		}
		pos += int(skip)
		pending += int(items)
	}
	return nil
}
