// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package reflectdata

import (
	"sort"

	"cmd/compile/internal/types"
)

// NeededTypeNames returns the link strings of the types whose runtime
// descriptors are needed so far (signatset), sorted. distssa hashes them
// into its front-end fingerprint.
func NeededTypeNames() []string {
	signatmu.Lock()
	defer signatmu.Unlock()
	names := make([]string, 0, len(signatset))
	for t := range signatset {
		names = append(names, t.LinkString())
	}
	sort.Strings(names)
	return names
}

// NeededTypesSince returns the types that were added to signatset after
// the first n, in the order they were added.
func NeededTypesSince(n int) []*types.Type {
	signatmu.Lock()
	defer signatmu.Unlock()
	var ts []*types.Type
	for _, x := range signatslice[n:] {
		ts = append(ts, x.t)
	}
	return ts
}

// NumGCSymTypes returns the number of types in gcsymset, which only
// grows: distssa looks at the set only when it has grown.
func NumGCSymTypes() int {
	gcsymmu.Lock()
	defer gcsymmu.Unlock()
	return len(gcsymset)
}

// GCSymTypes returns the types in gcsymset, in no particular order.
func GCSymTypes() []*types.Type {
	gcsymmu.Lock()
	defer gcsymmu.Unlock()
	ts := make([]*types.Type, 0, len(gcsymset))
	for t := range gcsymset {
		ts = append(ts, t)
	}
	return ts
}
