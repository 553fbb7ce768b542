// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
)

// A frame's decoding may cost at most decodeFactor times its size plus
// decodeConst bytes of Go values (by the cost model of checkShape).
// Honest frames cost less than 3 times their size: hashes, paths and
// payloads dominate them.
const (
	decodeFactor = 6
	decodeConst  = 64 << 10
	honestFactor = 3 // what ReadBudget takes for the decoding before it knows the cost
)

// checkShape walks one msgpack value against the Go type of the message
// it must decode into, without decoding it, and refuses anything the
// encoder would not have written: a struct is an array of exactly its
// fields, a uint64 an unsigned integer, a bool a bool, a string a str,
// a []byte a bin or nil, any other slice an array or nil. Every declared
// length must fit in the bytes that follow. On the way it adds up what
// the msgpack decoder will allocate (a slice of n elements costs it
// 2·n·size: it makes them, then appends them; a bin of n bytes costs n,
// a str 2·n: bytes, then a string; a struct 32 bytes: it tries a map
// before an array, and makes an error of the attempt) and refuses a frame whose cost passes the budget, so that a
// peer cannot make the receiver allocate more than a small multiple of
// the frames it sends. It returns the cost.
func checkShape(t reflect.Type, b []byte) (uint64, error) {
	s := &shape{b: b, budget: decodeFactor*uint64(len(b)) + decodeConst}
	if err := s.value(t); err != nil {
		return 0, fmt.Errorf("msgpack: %s%v", t.Elem().Name(), err)
	}
	return s.cost, nil
}

type shape struct {
	b            []byte
	pos          int
	cost, budget uint64
}

// shapeError is an error with the path of the field it concerns, built
// as the walk unwinds.
type shapeError struct{ path, msg string }

func (e *shapeError) Error() string { return e.path + ": " + e.msg }

func within(step string, err error) error {
	if e, ok := err.(*shapeError); ok {
		e.path = step + e.path
	}
	return err
}

func (s *shape) fail(format string, args ...any) error {
	return &shapeError{msg: fmt.Sprintf(format, args...)}
}

// need checks that n more bytes are in the frame.
func (s *shape) need(n uint64) error {
	if n > uint64(len(s.b)-s.pos) {
		return s.fail("length %d at offset %d exceeds the %d bytes left", n, s.pos, len(s.b)-s.pos)
	}
	return nil
}

// spend adds n bytes to the decoding's cost.
func (s *shape) spend(n uint64) error {
	s.cost += n
	if s.cost > s.budget {
		return s.fail("decoding would allocate more than %d bytes for a frame of %d", s.budget, len(s.b))
	}
	return nil
}

// length reads a k-byte big-endian length.
func (s *shape) length(k int) (uint64, error) {
	if err := s.need(uint64(k)); err != nil {
		return 0, err
	}
	var n uint64
	switch k {
	case 1:
		n = uint64(s.b[s.pos])
	case 2:
		n = uint64(binary.BigEndian.Uint16(s.b[s.pos:]))
	case 4:
		n = uint64(binary.BigEndian.Uint32(s.b[s.pos:]))
	}
	s.pos += k
	return n, nil
}

// header reads the next format byte and, for the families in want, the
// length it declares; nil reports whether it was nil (for slices).
func (s *shape) header(want string) (n uint64, isNil bool, err error) {
	if err := s.need(1); err != nil {
		return 0, false, err
	}
	c := s.b[s.pos]
	s.pos++
	switch {
	case want != "bool" && want != "uint" && want != "str" && c == 0xc0:
		return 0, true, nil
	case want == "array" && c >= 0x90 && c <= 0x9f:
		return uint64(c & 0x0f), false, nil
	case want == "array" && c == 0xdc:
		n, err = s.length(2)
	case want == "array" && c == 0xdd:
		n, err = s.length(4)
	case want == "str" && c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case want == "str" && c == 0xd9, want == "bin" && c == 0xc4:
		n, err = s.length(1)
	case want == "str" && c == 0xda, want == "bin" && c == 0xc5:
		n, err = s.length(2)
	case want == "str" && c == 0xdb, want == "bin" && c == 0xc6:
		n, err = s.length(4)
	case want == "uint" && c <= 0x7f, want == "bool" && (c == 0xc2 || c == 0xc3):
	case want == "uint" && c >= 0xcc && c <= 0xcf:
		n = 1 << (c - 0xcc)
	default:
		return 0, false, s.fail("want %s, found byte %#x at offset %d", want, c, s.pos-1)
	}
	if err == nil {
		err = s.need(n)
	}
	return n, false, err
}

// fieldCache maps a struct type to its exported fields, which the
// encoder writes in order.
var fieldCache sync.Map

func structFields(t reflect.Type) []reflect.StructField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]reflect.StructField)
	}
	var fields []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() {
			fields = append(fields, f)
		}
	}
	fieldCache.Store(t, fields)
	return fields
}

func (s *shape) value(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Pointer:
		return s.value(t.Elem())
	case reflect.Bool:
		_, _, err := s.header("bool")
		return err
	case reflect.Uint64:
		n, _, err := s.header("uint")
		s.pos += int(n)
		return err
	case reflect.String:
		n, _, err := s.header("str")
		if err == nil {
			err = s.spend(2 * n)
		}
		s.pos += int(n)
		return err
	case reflect.Struct:
		fields := structFields(t)
		n, _, err := s.header("array")
		if err == nil {
			err = s.spend(32)
		}
		if err == nil && n != uint64(len(fields)) {
			err = s.fail("array of %d elements for a struct of %d fields", n, len(fields))
		}
		if err != nil {
			return err
		}
		for _, f := range fields {
			if err := s.value(f.Type); err != nil {
				return within("."+f.Name, err)
			}
		}
		return nil
	case reflect.Slice:
		elem := t.Elem()
		if elem.Kind() == reflect.Uint8 {
			n, _, err := s.header("bin")
			if err == nil {
				err = s.spend(n)
			}
			s.pos += int(n)
			return err
		}
		// Each element takes at least one byte: need(n) in header
		// bounds n before the cost is computed.
		n, _, err := s.header("array")
		if err == nil {
			err = s.spend(2 * n * uint64(elem.Size()))
		}
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := s.value(elem); err != nil {
				return within(fmt.Sprintf("[%d]", i), err)
			}
		}
		return nil
	}
	return s.fail("no wire encoding for %v", t)
}
