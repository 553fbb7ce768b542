// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package wire

// messages holds one value of each message type, for the golden and
// fuzz tests.
var messages = []any{
	&Hello{Version: 1, Caps: []string{"zstd"}, Nonce: []byte{1, 2}, Toolchain: []byte{0xab}, GOOS: "linux", GOARCH: "amd64"},
	&Challenge{Version: 1, Caps: []string{}, Nonce: []byte{3}, Auth: true},
	&Auth{MAC: []byte{4, 5}},
	&Welcome{MAC: nil, Slots: 8, Name: "w"},
	&Error{Msg: "x"},
	&Query{Hashes: [][]byte{{1}, {2}}},
	&Missing{Hashes: [][]byte{{2}}},
	&Upload{Blobs: []Blob{{Hash: []byte{9}, Size: 3, Data: []byte("abc")}}},
	&Start{Cwd: "/w", Args: []string{"-p=p", "a.go"}, Env: []string{"GOROOT=/g"}, Files: []File{{Path: "/w/a.go", Hash: []byte{7}}}},
	&Started{QueueNs: 1000},
	&Job{Size: 2, Data: []byte{0, 1}},
	&Result{Status: 1, Size: 0, Data: nil, Msg: "bad", RunNs: 70000},
	&StatusReq{},
	&Status{Name: "w", Slots: 2, Jobs: 300, BytesIn: 1 << 40, Runs: 3, ResultHits: 1, ResultMisses: 2},
	&Run{Cwd: "/w", Args: []string{"a.go"}, Env: nil, Files: []File{{Path: "/w/a.go", Hash: []byte{7}}}, Work: "/t"},
	&Done{Status: 0, Exit: 2, Output: []byte("e\n"), Outputs: []Output{{Name: "o", Size: 1, Data: []byte{8}}}, Msg: "", QueueNs: 5, RunNs: 300, Cached: true},
}

// golden are the frames of messages, in order (PROTOCOL.md §3).
var golden = []string{
	"0000001c01960191a47a737464c4020102c401aba56c696e7578a5616d643634", // Hello
	"0000000802940190c40103c3",           // Challenge
	"000000060391c4020405",               // Auth
	"000000060493c008a177",               // Welcome
	"000000040591a178",                   // Error
	"00000009069192c40101c40102",         // Query
	"00000006079191c40102",               // Missing
	"0000000d08919193c4010903c403616263", // Upload
	"000000280994a22f7792a42d703d70a4612e676f91a9474f524f4f543d2f679192a72f772f612e676fc40107", // Start
	"000000050a91cd03e8",                   // Started
	"000000070b9202c4020001",               // Job
	"0000000e0c950100c0a3626164ce00011170", // Result
	"000000020d90",                         // StatusReq
	"000000240edc0015a177020000cd012c00000000cf00000100000000000000000000000000030102", // Status
	"0000001c0f95a22f7791a4612e676fc09192a72f772f612e676fc40107a22f74",                 // Run
	"0000001610980002c402650a9193a16f01c40108a005cd012cc3",                             // Done
}
