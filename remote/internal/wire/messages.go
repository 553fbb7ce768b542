// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package wire implements the agent ↔ worker protocol of PROTOCOL.md §3,
// in three layers as gopls' jsonrpc2_v2 splits its own: the messages
// (messages.go: the msgpack types), the framing (frame.go:
// length-prefixed, checksummed frames and zstd-compressed payloads) and
// the connection (conn.go: the agent's side of the handshake with its
// HMACs and proofs, and the round trip of a request with its Working
// keep-alives; accept.go: the worker's side of the handshake).
package wire

import (
	"fmt"
)

// Version is the protocol version. A worker refuses any other.
// Version 2 added the frame checksum; version 3 the proofs of
// possession (Query.Proofs).
const Version = 3

// MaxFrame bounds a frame (type byte and msgpack body).
const MaxFrame = 512 << 20

// MaxPayload bounds a decompressed payload (blob, job or result).
const MaxPayload = 1 << 30

// Capabilities this implementation has; the handshake exchanges them so
// that later versions can add features without a version bump.
var Caps = []string{"zstd", "sha256", "whole", "stream"}

// Message types.
const (
	THello     = 1
	TChallenge = 2
	TAuth      = 3
	TWelcome   = 4
	TError     = 5
	TQuery     = 6
	TMissing   = 7
	TUpload    = 8
	TStart     = 9
	TStarted   = 10
	TJob       = 11
	TResult    = 12
	TStatsReq  = 13
	TStats     = 14
	TRunWhole  = 15
	TWhole     = 16
	TWorking   = 17
	TThrottle  = 18
	TChunk     = 19
)

// Hello opens a connection (agent → worker).
type Hello struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Version   uint64
	Caps      []string
	Nonce     []byte // 32 random bytes, the worker's challenge input
	Toolchain []byte // sha256 of the client's compile binary
	GOOS      string
	GOARCH    string
}

// Challenge answers Hello (worker → agent).
type Challenge struct {
	_msgpack struct{} `msgpack:",as_array"`
	Version  uint64
	Caps     []string
	Nonce    []byte // 32 random bytes
	Auth     bool   // whether the worker requires the token
}

// Auth proves the agent knows the token (agent → worker).
type Auth struct {
	_msgpack struct{} `msgpack:",as_array"`
	MAC      []byte   // ClientMAC(token, hello nonce, challenge nonce); empty without a token
}

// Welcome accepts the connection (worker → agent).
type Welcome struct {
	_msgpack struct{} `msgpack:",as_array"`
	MAC      []byte   // ServerMAC(token, …) when the agent sent a MAC
	Slots    uint64
	Name     string // the worker's self-description, for logs
}

// Error refuses the current request; the connection stays usable only
// after a job-level error (see PROTOCOL.md §3).
type Error struct {
	_msgpack struct{} `msgpack:",as_array"`
	Msg      string
}

// Query asks which blobs the worker lacks. Proofs is empty, or holds
// for each hash its Proof on this connection, or nothing for a hash the
// connection proved or uploaded already.
type Query struct {
	_msgpack struct{} `msgpack:",as_array"`
	Hashes   [][]byte
	Proofs   [][]byte
}

// Missing lists the queried blobs the worker lacks, or holds but this
// connection has not proved it holds too (see Proof).
type Missing struct {
	_msgpack struct{} `msgpack:",as_array"`
	Hashes   [][]byte
}

// Blob is one content-addressed input.
type Blob struct {
	_msgpack struct{} `msgpack:",as_array"`
	Hash     []byte   // sha256 of the uncompressed content
	Size     uint64   // uncompressed size
	Data     []byte   // zstd
}

// Upload carries blobs; it has no answer (Start's answer covers it).
type Upload struct {
	_msgpack struct{} `msgpack:",as_array"`
	Blobs    []Blob
}

// File places a blob at a client path in the job directory.
type File struct {
	_msgpack struct{} `msgpack:",as_array"`
	Path     string   // absolute, clean client path
	Hash     []byte
}

// Start asks the worker to materialize a job and start its compile.
type Start struct {
	_msgpack struct{} `msgpack:",as_array"`
	Cwd      string
	Args     []string // the client compile's arguments (os.Args[1:])
	Env      []string // the client's GO* environment
	Files    []File
}

// Started says the compile runs and waits for its job.
type Started struct {
	_msgpack struct{} `msgpack:",as_array"`
	QueueNs  uint64   // time the job waited for a slot
}

// Job is the compiler's job for this worker; empty Data means no work.
type Job struct {
	_msgpack struct{} `msgpack:",as_array"`
	Size     uint64
	Data     []byte // zstd
}

// Result ends a job.
type Result struct {
	_msgpack struct{} `msgpack:",as_array"`
	Status   uint64   // 0 ok, 1 failed
	Size     uint64
	Data     []byte // zstd of the result file (status 0)
	Msg      string // why it failed (status 1)
	RunNs    uint64 // the compile's wall time
}

// Chunk carries the next bytes of a split job's result, before its
// Result (worker → agent), when both sides have CapStream: the worker
// sends the result as its compile writes it, and the Result that ends
// the job carries no data.
type Chunk struct {
	_msgpack struct{} `msgpack:",as_array"`
	Size     uint64
	Data     []byte // zstd
}

// RunWhole asks the worker for a whole compile (task kind "whole"): the same
// inputs as Start, but the worker runs the compile in normal mode and
// answers Whole with its outputs. Work is the client's $WORK directory
// ("" if unknown); the worker's action key reads it as "$WORK", as the go
// command's own cache keys do.
type RunWhole struct {
	_msgpack struct{} `msgpack:",as_array"`
	Cwd      string
	Args     []string
	Env      []string
	Files    []File
	Work     string
}

// Output is one file a whole compile wrote, named by its flag ("o",
// "linkobj", "asmhdr").
type Output struct {
	_msgpack struct{} `msgpack:",as_array"`
	Name     string
	Size     uint64
	Data     []byte // zstd
}

// Whole ends a RunWhole. Status 0: the compile ran to its end, Exit is its exit
// status and Output what it printed (stdout and stderr as one stream,
// with the job directory mapped back to the client's paths); Outputs are
// its files when Exit is 0. Status 1: the worker could not run it (Msg
// says why); the client compiles locally.
type Whole struct {
	_msgpack struct{} `msgpack:",as_array"`
	Status   uint64
	Exit     uint64
	Output   []byte
	Outputs  []Output
	Msg      string
	QueueNs  uint64
	RunNs    uint64
	Cached   bool // answered from the worker's result cache
}

// Working says that the worker is still on the request: it comes every
// few seconds while a Start or RunWhole waits for a slot and while a compile
// runs, so that an agent tells a long compile from a stalled worker
// long before its result timeout (worker → agent, no answer).
type Working struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// Throttle answers the Hello of a source that failed to authenticate
// too often, instead of a Challenge: the worker refuses the source's
// handshakes for ForNs more, whatever their token (worker → agent; the
// connection closes). Msg says so for people.
type Throttle struct {
	_msgpack struct{} `msgpack:",as_array"`
	Msg      string
	ForNs    uint64
}

// StatsReq asks for the worker's statistics.
type StatsReq struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// Stats carries the worker's statistics.
type Stats struct {
	_msgpack     struct{} `msgpack:",as_array"`
	Name         string
	Slots        uint64
	Running      uint64
	Queued       uint64
	Jobs         uint64 // compiles started: Start jobs, and Runs that compiled
	JobsOK       uint64 // compiles that ended with Result or Whole status 0
	JobsFailed   uint64
	Refused      uint64 // jobs refused (flags, paths, missing blobs)
	AuthFails    uint64
	BytesIn      uint64 // wire bytes read
	BytesOut     uint64
	CacheHits    uint64 // queried blobs present
	CacheMisses  uint64
	CacheBytes   uint64
	CacheFiles   uint64
	Evictions    uint64
	QueueNs      uint64 // total time jobs waited for a slot
	UptimeNs     uint64
	Runs         uint64 // whole compiles answered (Whole), from the cache or not
	ResultHits   uint64 // Runs answered from the result cache
	ResultMisses uint64 // Runs that compiled
}

func typeOf(m any) (byte, error) {
	switch m.(type) {
	case *Hello:
		return THello, nil
	case *Challenge:
		return TChallenge, nil
	case *Auth:
		return TAuth, nil
	case *Welcome:
		return TWelcome, nil
	case *Error:
		return TError, nil
	case *Query:
		return TQuery, nil
	case *Missing:
		return TMissing, nil
	case *Upload:
		return TUpload, nil
	case *Start:
		return TStart, nil
	case *Started:
		return TStarted, nil
	case *Job:
		return TJob, nil
	case *Result:
		return TResult, nil
	case *StatsReq:
		return TStatsReq, nil
	case *Stats:
		return TStats, nil
	case *RunWhole:
		return TRunWhole, nil
	case *Whole:
		return TWhole, nil
	case *Working:
		return TWorking, nil
	case *Throttle:
		return TThrottle, nil
	case *Chunk:
		return TChunk, nil
	}
	return 0, fmt.Errorf("wire: unknown message %T", m)
}

func newMsg(t byte) any {
	switch t {
	case THello:
		return new(Hello)
	case TChallenge:
		return new(Challenge)
	case TAuth:
		return new(Auth)
	case TWelcome:
		return new(Welcome)
	case TError:
		return new(Error)
	case TQuery:
		return new(Query)
	case TMissing:
		return new(Missing)
	case TUpload:
		return new(Upload)
	case TStart:
		return new(Start)
	case TStarted:
		return new(Started)
	case TJob:
		return new(Job)
	case TResult:
		return new(Result)
	case TStatsReq:
		return new(StatsReq)
	case TStats:
		return new(Stats)
	case TRunWhole:
		return new(RunWhole)
	case TWhole:
		return new(Whole)
	case TChunk:
		return new(Chunk)
	case TWorking:
		return new(Working)
	case TThrottle:
		return new(Throttle)
	}
	return nil
}
