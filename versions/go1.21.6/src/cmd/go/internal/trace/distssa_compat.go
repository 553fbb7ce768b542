// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package trace

import "cmd/internal/traceviewer"

// distssaEvent is the trace viewer's event of go1.21.6.
type distssaEvent = traceviewer.Event
