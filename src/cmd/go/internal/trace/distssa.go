// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package trace

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// AddEvents writes trace events that another process recorded, one JSON
// object a line in data (the distssa agent's placements and remote
// spans), into the trace of ctx. Without a trace it does nothing.
func AddEvents(ctx context.Context, data []byte) error {
	tc, ok := getTraceContext(ctx)
	if !ok {
		return nil
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev distssaEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("line %d: %v", i+1, err)
		}
		if err := tc.t.writeEvent(&ev); err != nil {
			return err
		}
	}
	return nil
}
