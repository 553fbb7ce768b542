// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package trace

import "internal/trace/traceviewer/format"

// distssaEvent is the trace viewer's event of go1.27.3.
type distssaEvent = format.Event
