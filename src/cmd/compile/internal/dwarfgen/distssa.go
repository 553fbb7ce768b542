// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package dwarfgen

import (
	"cmd/compile/internal/ir"
	"cmd/internal/dwarf"
	"cmd/internal/obj"
)

// Info runs in two halves for a function whose backend ran in a distssa
// worker. The worker calls Info before its function is assembled, which
// yields the variables, their scopes and the auto types (all of which
// read state that the backend left in the IR); the client, which
// assembles the function, gets those shipped and calls the two functions
// below, the half of Info that reads PCs.

// AssembleScopes is assembleScopes: it distributes vars over fn's lexical
// scopes (varScopes[i] is the scope of vars[i]) and gives the scopes
// their PC ranges from fnsym's assembled Progs.
func AssembleScopes(fnsym *obj.LSym, fn *ir.Func, vars []*dwarf.Var, varScopes []ir.ScopeID) []dwarf.Scope {
	return assembleScopes(fnsym, fn, vars, varScopes)
}

// AssembleInlines is assembleInlines: it builds the inlined-call tree of
// fnsym from its assembled Progs and assigns vars to the calls.
func AssembleInlines(fnsym *obj.LSym, vars []*dwarf.Var) dwarf.InlCalls {
	return assembleInlines(fnsym, vars)
}
