// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package wire implements the agent ↔ worker protocol of PROTOCOL.md §3:
// length-prefixed msgpack messages on a TCP connection, zstd-compressed
// payloads, content-addressed blobs and the HMAC handshake.
package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"sync"

	"github.com/valyala/gozstd"
	"github.com/vmihailenco/msgpack/v5"
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
var Caps = []string{"zstd", "sha256", "whole"}

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
	TStatusReq = 13
	TStatus    = 14
	TRun       = 15
	TDone      = 16
	TWorking   = 17
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

// Run asks the worker for a whole compile (task kind "whole"): the same
// inputs as Start, but the worker runs the compile in normal mode and
// answers Done with its outputs. Work is the client's $WORK directory
// ("" if unknown); the worker's action key reads it as "$WORK", as the go
// command's own cache keys do.
type Run struct {
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

// Done ends a Run. Status 0: the compile ran to its end, Exit is its exit
// status and Output what it printed (stdout and stderr as one stream,
// with the job directory mapped back to the client's paths); Outputs are
// its files when Exit is 0. Status 1: the worker could not run it (Msg
// says why); the client compiles locally.
type Done struct {
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
// few seconds while a Start or Run waits for a slot and while a compile
// runs, so that an agent tells a long compile from a stalled worker
// long before its result timeout (worker → agent, no answer).
type Working struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// StatusReq asks for the worker's statistics.
type StatusReq struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// Status carries the worker's statistics.
type Status struct {
	_msgpack     struct{} `msgpack:",as_array"`
	Name         string
	Slots        uint64
	Running      uint64
	Queued       uint64
	Jobs         uint64 // compiles started: Start jobs, and Runs that compiled
	JobsOK       uint64 // compiles that ended with Result or Done status 0
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
	Runs         uint64 // whole compiles answered (Done), from the cache or not
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
	case *StatusReq:
		return TStatusReq, nil
	case *Status:
		return TStatus, nil
	case *Run:
		return TRun, nil
	case *Done:
		return TDone, nil
	case *Working:
		return TWorking, nil
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
	case TStatusReq:
		return new(StatusReq)
	case TStatus:
		return new(Status)
	case TRun:
		return new(Run)
	case TDone:
		return new(Done)
	case TWorking:
		return new(Working)
	}
	return nil
}

// crcTable is CRC-32C (Castagnoli), which the frame checksum uses.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Encode returns m's frame: a 4-byte big-endian length, the type byte,
// the msgpack body (structs as arrays, compact integers) and the CRC-32C
// of type and body, big-endian.
func Encode(m any) ([]byte, error) {
	t, err := typeOf(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0, 0, t})
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint32(buf.Bytes(), crc32.Checksum(buf.Bytes()[4:], crcTable))
	if len(b)-4 > MaxFrame {
		return nil, fmt.Errorf("wire: message of %d bytes exceeds the %d-byte limit", len(b)-4, MaxFrame)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

// Decode parses a frame body (type byte and msgpack).
func Decode(body []byte) (any, error) {
	return decode(body, nil)
}

// decode is Decode; between the check of the body and its decoding it
// calls spend, if not nil, with what the decoding will cost (by
// checkShape's model), and its error stops the decoding.
func decode(body []byte, spend func(cost uint64) error) (any, error) {
	if len(body) == 0 {
		return nil, errors.New("wire: empty frame")
	}
	m := newMsg(body[0])
	if m == nil {
		return nil, fmt.Errorf("wire: unknown message type %d", body[0])
	}
	cost, err := checkShape(reflect.TypeOf(m), body[1:])
	if err != nil {
		return nil, fmt.Errorf("wire: message type %d: %v", body[0], err)
	}
	if spend != nil {
		if err := spend(cost); err != nil {
			return nil, fmt.Errorf("wire: message type %d: %w", body[0], err)
		}
	}
	r := bytes.NewReader(body[1:])
	dec := msgpack.NewDecoder(r)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("wire: message type %d: %v", body[0], err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("wire: message type %d: %d bytes after the message", body[0], r.Len())
	}
	return m, nil
}

// Write sends m; it returns the number of bytes written.
func Write(w io.Writer, m any) (int, error) {
	b, err := Encode(m)
	if err != nil {
		return 0, err
	}
	return w.Write(b)
}

// Read reads one message; it returns the number of bytes read.
func Read(r io.Reader) (any, int, error) { return ReadMax(r, MaxFrame) }

// MaxHandshakeFrame bounds the frames a worker reads before the peer is
// authenticated.
const MaxHandshakeFrame = 64 << 10

// ReadMax is Read with a smaller bound on the frame.
func ReadMax(r io.Reader, max uint32) (any, int, error) {
	m, n, _, err := ReadBudget(r, max, nil)
	return m, n, err
}

// A Budget accounts for the memory that a receiver spends on what its
// peer sends. Acquire takes n bytes before they are allocated; it may
// wait for them, and its error refuses what needs them. Release gives
// n bytes back.
type Budget interface {
	Acquire(n uint64) error
	Release(n uint64)
}

// ReadBudget is ReadMax that takes the frame's memory from b (if not
// nil) before it allocates it. Before it reads the body it takes the
// body's length and what decoding an honest frame of that length costs
// (honestFactor times it, plus decodeConst). Once the body is checked,
// it gives back what the decoding will not cost (by checkShape's model
// of what the decoder allocates), or takes what it costs beyond that;
// once the body is decoded, the body's length. What the message costs
// stays taken: ReadBudget returns it, and the caller releases it when it
// is done with the message. On error nothing stays taken; after an
// error of b's the connection cannot go on (the body is unread, or
// dropped).
func ReadBudget(r io.Reader, max uint32, b Budget) (m any, nread int, cost uint64, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, 0, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > max {
		return nil, 4, 0, fmt.Errorf("wire: frame of %d bytes exceeds the %d-byte limit", n, max)
	}
	if n < 4 {
		return nil, 4, 0, fmt.Errorf("wire: frame of %d bytes has no checksum", n)
	}
	if b == nil {
		// Grow the buffer as bytes arrive rather than trusting the length.
		var body bytes.Buffer
		got, err := io.CopyN(&body, r, int64(n))
		if err != nil {
			return nil, 4 + int(got), 0, fmt.Errorf("wire: truncated frame: %v", err)
		}
		v, err := checkFrame(body.Bytes())
		if err != nil {
			return nil, 4 + int(n), 0, err
		}
		m, err := Decode(v)
		return m, 4 + int(n), 0, err
	}
	// The budget holds the length: the body is allocated at once.
	held := uint64(n) + honestFactor*uint64(n) + decodeConst
	if err := b.Acquire(held); err != nil {
		return nil, 4, 0, fmt.Errorf("wire: frame of %d bytes: %w", n, err)
	}
	body := make([]byte, n)
	if got, err := io.ReadFull(r, body); err != nil {
		b.Release(held)
		return nil, 4 + got, 0, fmt.Errorf("wire: truncated frame: %v", err)
	}
	if body, err = checkFrame(body); err == nil {
		m, err = decode(body, func(c uint64) error {
			// The body stays until the decoding ends.
			if need := uint64(n) + c; need > held {
				if err := b.Acquire(need - held); err != nil {
					return fmt.Errorf("decoding costs %d bytes: %w", c, err)
				}
				held = need
			} else {
				b.Release(held - need)
				held = need
			}
			cost = c
			return nil
		})
	}
	if err != nil {
		b.Release(held)
		return nil, 4 + int(n), 0, err
	}
	b.Release(held - cost) // the body's
	return m, 4 + int(n), cost, nil
}

// checkFrame checks a frame body's checksum and returns the body
// without it. The checksum catches what TCP's does not: a frame damaged
// on its way (a bit flipped by a faulty NIC, router or relay) would
// decode to other arguments or other object code.
func checkFrame(body []byte) ([]byte, error) {
	b, sum := body[:len(body)-4], binary.BigEndian.Uint32(body[len(body)-4:])
	if crc32.Checksum(b, crcTable) != sum {
		return nil, errors.New("wire: frame checksum mismatch (damaged in transit)")
	}
	return b, nil
}

// Compress zstd-compresses a payload.
func Compress(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return gozstd.Compress(nil, b)
}

// Decompress undoes Compress and checks the announced size, which is at
// most MaxPayload.
func Decompress(b []byte, size uint64) ([]byte, error) { return DecompressMax(b, size, MaxPayload) }

// DecompressMax is Decompress with the caller's bound on the size. An
// empty payload announces 0 bytes and only it does. Memory grows with
// the output as it is produced, from at most a small multiple of the
// compressed input, and decompression stops as soon as the output
// passes the announced size: a peer's announcement costs nothing until
// its data backs it.
func DecompressMax(b []byte, size, max uint64) ([]byte, error) {
	if err := checkPayload(b, size, max); err != nil || size == 0 {
		return nil, err
	}
	return decompress(b, size, min(size, 8*uint64(len(b))+64<<10))
}

// DecompressBudget is DecompressMax that takes the announced size from
// budget before it allocates the output, which it then does at once.
// On success the size stays taken: the caller releases it when it is
// done with the output. On error nothing stays taken.
func DecompressBudget(b []byte, size, max uint64, budget Budget) ([]byte, error) {
	if err := checkPayload(b, size, max); err != nil || size == 0 {
		return nil, err
	}
	if err := budget.Acquire(size); err != nil {
		return nil, fmt.Errorf("payload of %d bytes: %w", size, err)
	}
	out, err := decompress(b, size, size)
	if err != nil {
		budget.Release(size)
	}
	return out, err
}

// checkPayload checks a payload's announced size against its bound and
// its zstd frame header, before anything is decompressed.
func checkPayload(b []byte, size, max uint64) error {
	if max > MaxPayload {
		max = MaxPayload
	}
	switch {
	case size > max:
		return fmt.Errorf("payload of %d bytes exceeds the %d-byte limit", size, max)
	case size == 0 && len(b) == 0:
		return nil
	case size == 0:
		return fmt.Errorf("a payload of %d compressed bytes announces 0 bytes", len(b))
	case len(b) == 0:
		return fmt.Errorf("an empty payload announces %d bytes", size)
	}
	return checkZstdHeader(b, size)
}

// decompress decompresses a checked payload of the announced size into
// a buffer of first bytes, which grows as the output comes.
func decompress(b []byte, size, first uint64) ([]byte, error) {
	zr, _ := zstdReaders.Get().(*gozstd.Reader)
	if zr == nil {
		zr = gozstd.NewReader(nil)
	}
	src := bytes.NewReader(b)
	zr.Reset(src, nil)
	defer func() {
		zr.Reset(nil, nil)
		zstdReaders.Put(zr)
	}()
	out := make([]byte, 0, first)
	for {
		if len(out) == cap(out) {
			if uint64(len(out)) == size {
				break
			}
			grown := make([]byte, len(out), min(size, 2*uint64(cap(out))))
			copy(grown, out)
			out = grown
		}
		n, err := zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			return nil, fmt.Errorf("payload decompresses to %d bytes, %d announced", len(out), size)
		}
		if err != nil {
			return nil, fmt.Errorf("zstd: %v", err)
		}
	}
	// The output has its announced size: anything more is an error.
	var one [1]byte
	n, err := zr.Read(one[:])
	if n > 0 {
		return nil, fmt.Errorf("payload decompresses to more than the %d bytes announced", size)
	}
	if err != io.EOF {
		return nil, fmt.Errorf("zstd: %v", err)
	}
	return out, nil
}

// zstdReaders holds stream decoders for reuse: each owns C buffers.
var zstdReaders sync.Pool

// checkZstdHeader reads the header of the first zstd frame in b
// (RFC 8878 §3.1.1.1) and refuses, before any decoding, a frame whose
// recorded content size differs from the announced size or whose window
// (the decoder's buffer) is larger than twice the announced size and
// 8 MiB.
func checkZstdHeader(b []byte, size uint64) error {
	if len(b) < 5 || binary.LittleEndian.Uint32(b) != 0xfd2fb528 {
		return errors.New("payload is not a zstd frame")
	}
	desc := b[4]
	single := desc&0x20 != 0
	pos := 5
	var window uint64
	if !single {
		if len(b) < pos+1 {
			return errors.New("zstd: truncated frame header")
		}
		wd := b[pos]
		pos++
		base := uint64(1) << (10 + wd>>3)
		window = base + base/8*uint64(wd&7)
	}
	pos += []int{0, 1, 2, 4}[desc&3] // dictionary ID
	fcsLen := []int{0, 2, 4, 8}[desc>>6]
	if fcsLen == 0 && single {
		fcsLen = 1
	}
	if len(b) < pos+fcsLen {
		return errors.New("zstd: truncated frame header")
	}
	var fcs uint64
	switch fcsLen {
	case 1:
		fcs = uint64(b[pos])
	case 2:
		fcs = uint64(binary.LittleEndian.Uint16(b[pos:])) + 256
	case 4:
		fcs = uint64(binary.LittleEndian.Uint32(b[pos:]))
	case 8:
		fcs = binary.LittleEndian.Uint64(b[pos:])
	}
	if fcsLen > 0 && fcs > size {
		return fmt.Errorf("payload's zstd frame holds %d bytes, more than the %d bytes announced", fcs, size)
	}
	if fcsLen > 0 && fcs < size {
		return fmt.Errorf("payload's zstd frame holds %d bytes, fewer than the %d bytes announced", fcs, size)
	}
	if single {
		window = fcs
	}
	if window > 2*size && window > 8<<20 {
		return fmt.Errorf("zstd: window of %d bytes for a payload of %d", window, size)
	}
	return nil
}

// Hash is a blob's content address.
func Hash(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// ClientMAC is the agent's answer to the worker's challenge.
func ClientMAC(token, helloNonce, challengeNonce []byte) []byte {
	return mac(token, "distssa client v1", challengeNonce, helloNonce)
}

// ServerMAC is the worker's proof that it knows the token too.
func ServerMAC(token, helloNonce, challengeNonce []byte) []byte {
	return mac(token, "distssa server v1", helloNonce, challengeNonce)
}

func mac(token []byte, label string, a, b []byte) []byte {
	h := hmac.New(sha256.New, token)
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(a)
	h.Write(b)
	return h.Sum(nil)
}

// ProofKey is a connection's key for proofs of possession: both sides
// compute it from the handshake's nonces (and the token, empty if
// none), so a proof holds on its own connection only.
func ProofKey(token, helloNonce, challengeNonce []byte) []byte {
	return mac(token, "distssa proof key v1", helloNonce, challengeNonce)
}

// Possession is what a proof of possession of data is made of: a hash
// of data that its sha256, the blob's name, does not give away.
func Possession(data []byte) []byte {
	h := sha256.New()
	h.Write([]byte("distssa possession v1\x00"))
	h.Write(data)
	return h.Sum(nil)
}

// Proof proves, on the connection of key, possession of the blob hash
// whose Possession is pos.
func Proof(key, hash, pos []byte) []byte {
	return mac(key, "distssa proof v1", hash, pos)
}

// MaxProven bounds the blobs a connection has proved or uploaded that
// a worker remembers: before a Query that would take it past the bound,
// the worker forgets them all, and so does the agent, which then proves
// them again.
const MaxProven = 1 << 15

// CheckMAC compares MACs in constant time.
func CheckMAC(got, want []byte) bool { return hmac.Equal(got, want) }
