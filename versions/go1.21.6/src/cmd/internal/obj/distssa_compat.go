// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package obj

// What distssa needs of go1.21.6's Link that other versions keep
// differently.

// LookupExisting returns the symbol with the given name and ABI, or nil if
// there is none. Unlike LookupABI, it never creates a symbol.
func (ctxt *Link) LookupExisting(name string, abi ABI) *LSym {
	var hash map[string]*LSym
	switch abi {
	case ABI0:
		hash = ctxt.hash
	case ABIInternal:
		hash = ctxt.funchash
	default:
		return nil
	}
	ctxt.hashmu.Lock()
	defer ctxt.hashmu.Unlock()
	return hash[name]
}
