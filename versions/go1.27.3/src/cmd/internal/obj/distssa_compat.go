// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package obj

import "sync"

// What distssa needs of go1.27.3's Link that other versions keep
// differently.

// LookupExisting returns the symbol with the given name and ABI, or nil if
// there is none. Unlike LookupABI, it never creates a symbol.
func (ctxt *Link) LookupExisting(name string, abi ABI) *LSym {
	var hash *sync.Map
	switch abi {
	case ABI0:
		hash = &ctxt.hash
	case ABIInternal:
		hash = &ctxt.funchash
	default:
		return nil
	}
	c, ok := hash.Load(name)
	if !ok {
		return nil
	}
	return &c.(*symOnce).sym
}
