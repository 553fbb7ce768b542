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
	&Query{Hashes: [][]byte{{1}, {2}}, Proofs: [][]byte{nil, {3}}},
	&Missing{Hashes: [][]byte{{2}}},
	&Upload{Blobs: []Blob{{Hash: []byte{9}, Size: 3, Data: []byte("abc")}}},
	&Start{Cwd: "/w", Args: []string{"-p=p", "a.go"}, Env: []string{"GOROOT=/g"}, Files: []File{{Path: "/w/a.go", Hash: []byte{7}}}},
	&Started{QueueNs: 1000},
	&Job{Size: 2, Data: []byte{0, 1}},
	&Result{Status: 1, Size: 0, Data: nil, Msg: "bad", RunNs: 70000},
	&StatsReq{},
	&Stats{Name: "w", Slots: 2, Jobs: 300, BytesIn: 1 << 40, Runs: 3, ResultHits: 1, ResultMisses: 2},
	&RunWhole{Cwd: "/w", Args: []string{"a.go"}, Env: nil, Files: []File{{Path: "/w/a.go", Hash: []byte{7}}}, Work: "/t"},
	&Whole{Status: 0, Exit: 2, Output: []byte("e\n"), Outputs: []Output{{Name: "o", Size: 1, Data: []byte{8}}}, Msg: "", QueueNs: 5, RunNs: 300, Cached: true},
	&Working{},
	&Throttle{Msg: "x", ForNs: 2e9},
	&Chunk{Size: 3, Data: []byte("abc")},
}

// golden are the frames of messages, in order (PROTOCOL.md §3). Their
// last 4 bytes, the CRC-32C, were checked against an independent
// implementation (CRC-32C of "123456789" is e3069283).
var golden = []string{
	"0000002001960191a47a737464c4020102c401aba56c696e7578a5616d6436347dd2ae08", // Hello
	"0000000c02940190c40103c31f6aee2d",                                         // Challenge
	"0000000a0391c40204050c37ec95",                                             // Auth
	"0000000a0493c008a177bf8356f1",                                             // Welcome
	"000000080591a178dc6fc575",                                                 // Error
	"00000012069292c40101c4010292c0c40103b8c60526",                             // Query
	"0000000a079191c401024e7632be",                                             // Missing
	"0000001108919193c4010903c40361626323405a27",                               // Upload
	"0000002c0994a22f7792a42d703d70a4612e676f91a9474f524f4f543d2f679192a72f772f612e676fc40107ad0872e2", // Start
	"000000090a91cd03e88434d731",                   // Started
	"0000000b0b9202c4020001059c6c30",               // Job
	"000000120c950100c0a3626164ce000111702423a56f", // Result
	"000000060d90a3f5b1d6",                         // StatsReq
	"000000280edc0015a177020000cd012c00000000cf00000100000000000000000000000000030102566efa8b", // Stats
	"000000200f95a22f7791a4612e676fc09192a72f772f612e676fc40107a22f7498a38914",                 // RunWhole
	"0000001a10980002c402650a9193a16f01c40108a005cd012cc337264ccb",                             // Whole
	"0000000611904faee233",               // Working
	"0000000d1292a178ce773594002a5dcd0b", // Throttle
	"0000000c139203c403616263d32e4ef9",   // Chunk
}
