// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package store is the worker's content-addressed blob store: one file
// per blob, named by the hex sha256 of its content, with a bound on the
// total size enforced by evicting the least recently used blobs.
//
// A blob is written to a temporary file, synced and renamed into place,
// so a crash never leaves a partial blob under its final name; Put checks
// the content against its hash before anything is written, and Read and
// Materialize check it again on every use: a blob damaged on disk is
// removed and reported missing (ErrCorrupt), so that its client uploads
// it again. Many goroutines may use a store at once; one process at a
// time may open its directory (Open takes a lock). The directory and
// its files are private to the worker's user.
//
// Beside the blobs, the store keeps action records: the result of a
// whole compile under its action key (the worker computes the key). A
// record names its output files by hash; the files themselves are
// ordinary blobs, so the size bound and eviction cover them, and a
// record whose blobs were evicted is forgotten. A record carries the
// sha256 of its key and content, so that a damaged record, or one put
// under another key, is a miss.
package store

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Store is a blob store rooted in a directory.
type Store struct {
	dir string
	max int64

	lock *os.File // holds the directory's lock while open

	mu          sync.Mutex
	size        int64
	lru         *list.List // of *entry, most recent first
	byHash      map[string]*list.Element
	evictions   uint64
	corruptions uint64
}

type entry struct {
	key  string // hex hash
	size int64
}

// ErrHash reports content that does not match its announced hash: an
// upload's fault.
var ErrHash = errors.New("content does not match its hash")

// ErrMissing reports a blob the store does not hold: the client must
// upload it (Query lists it as missing).
var ErrMissing = errors.New("not in the worker's store")

// ErrCorrupt reports a stored blob whose content no longer matches its
// hash: the worker's fault (its disk), not the client's. The store has
// removed the blob, so it is missing now: the client must upload it
// again.
var ErrCorrupt = errors.New("stored blob does not match its hash; removed, to be uploaded again")

// Open opens (creating it if needed) the store in dir, bounded to max
// bytes, and locks dir for this process until Close. It makes dir and
// its directories private (0700), removes temporary files left by a
// crash and indexes the blobs present, oldest modification time first.
func Open(dir string, max int64) (*Store, error) {
	s := &Store{dir: dir, max: max, lru: list.New(), byHash: map[string]*list.Element{}}
	if err := private(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.open(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// private creates dir if needed and makes it 0700, as a store made by an
// older worker may not be.
func private(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// Close releases the store's lock; the store must not be used after.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close()
	s.lock = nil
	return err
}

func (s *Store) open() error {
	dir := s.dir
	for _, d := range []string{s.tmpDir(), filepath.Join(dir, "blobs"), filepath.Join(dir, "actions")} {
		if err := private(d); err != nil {
			return err
		}
	}
	tmps, _ := os.ReadDir(s.tmpDir())
	for _, t := range tmps {
		os.Remove(filepath.Join(s.tmpDir(), t.Name()))
	}
	type found struct {
		key  string
		size int64
		mod  int64
	}
	var all []found
	subs, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if !sub.IsDir() {
			continue
		}
		if err := private(filepath.Join(dir, "blobs", sub.Name())); err != nil {
			return err
		}
		files, _ := os.ReadDir(filepath.Join(dir, "blobs", sub.Name()))
		for _, f := range files {
			info, err := f.Info()
			if err != nil || !validKey(f.Name()) || f.Name()[:2] != sub.Name() {
				continue
			}
			all = append(all, found{f.Name(), info.Size(), info.ModTime().UnixNano()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod < all[j].mod })
	for _, f := range all {
		s.byHash[f.key] = s.lru.PushFront(&entry{f.key, f.size})
		s.size += f.size
	}
	s.mu.Lock()
	s.evictLocked("")
	s.mu.Unlock()
	return s.pruneActions()
}

func validKey(k string) bool {
	if len(k) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(k)
	return err == nil
}

func (s *Store) tmpDir() string { return filepath.Join(s.dir, "tmp") }

func (s *Store) path(key string) string { return filepath.Join(s.dir, "blobs", key[:2], key) }

// Has reports whether the blob is present, and marks it recently used.
func (s *Store) Has(hash []byte) bool { return s.present(hash, true) }

// present reports whether the blob is present; with touch it marks it
// recently used.
func (s *Store) present(hash []byte, touch bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byHash[hex.EncodeToString(hash)]
	if ok && touch {
		s.lru.MoveToFront(e)
	}
	return ok
}

// Put stores data under hash after checking that it is data's sha256.
func (s *Store) Put(hash, data []byte) error {
	sum := sha256.Sum256(data)
	if len(hash) != sha256.Size || string(sum[:]) != string(hash) {
		return fmt.Errorf("blob %x: %w", hash, ErrHash)
	}
	key := hex.EncodeToString(hash)
	if s.Has(hash) {
		return nil
	}
	if err := s.writeFile(s.path(key), key[:8], data, 0o400); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byHash[key]; ok {
		s.lru.MoveToFront(e)
		return nil
	}
	s.byHash[key] = s.lru.PushFront(&entry{key, int64(len(data))})
	s.size += int64(len(data))
	s.evictLocked(key)
	return nil
}

// evictLocked removes least recently used blobs until the store fits its
// bound, sparing keep (the blob just written, even if it alone is larger).
func (s *Store) evictLocked(keep string) {
	for s.size > s.max {
		el := s.lru.Back()
		if el == nil {
			return
		}
		e := el.Value.(*entry)
		if e.key == keep {
			if s.lru.Len() == 1 {
				return
			}
			s.lru.MoveToFront(el)
			continue
		}
		os.Remove(s.path(e.key))
		s.lru.Remove(el)
		delete(s.byHash, e.key)
		s.size -= e.size
		s.evictions++
	}
}

// Size returns the size of a blob the store holds, without touching it.
func (s *Store) Size(hash []byte) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byHash[hex.EncodeToString(hash)]
	if !ok {
		return 0, false
	}
	return el.Value.(*entry).size, true
}

// Materialize copies the blob to dst, a new file, read-only, checking
// the content against its hash as it copies. It is a copy, never a hard
// link: a compile runs as the worker's user, who owns the stored file
// and may make it writable (root need not even do that), so a link
// would let a job change the store. A blob that is not in the store is
// ErrMissing; one damaged on disk is ErrCorrupt, and is removed. On
// error dst does not exist.
func (s *Store) Materialize(hash []byte, dst string) error {
	key := hex.EncodeToString(hash)
	src, el, err := s.openBlob(key)
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && !bytes.Equal(h.Sum(nil), hash) {
		err = s.corrupt(key, el, src)
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// openBlob opens a blob's file and marks the blob recently used. The
// open file survives an eviction that follows.
func (s *Store) openBlob(key string) (*os.File, *list.Element, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byHash[key]
	if !ok || !validKey(key) {
		return nil, nil, fmt.Errorf("blob %.12s… is %w", key, ErrMissing)
	}
	s.lru.MoveToFront(el)
	f, err := os.Open(s.path(key))
	if os.IsNotExist(err) {
		// Removed behind our back (by hand): forget it, so that it is
		// uploaded again.
		s.forgetLocked(key, el)
		return nil, nil, fmt.Errorf("blob %.12s… is %w (its file is gone)", key, ErrMissing)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("blob %.12s…: %v", key, err)
	}
	return f, el, nil
}

// forgetLocked drops a blob from the index, if el is still its entry.
func (s *Store) forgetLocked(key string, el *list.Element) {
	if s.byHash[key] != el {
		return
	}
	s.lru.Remove(el)
	delete(s.byHash, key)
	s.size -= el.Value.(*entry).size
}

// corrupt handles a blob whose file f does not match its hash: it
// removes the file (if it is still the blob's) and the index entry, and
// counts the corruption. It returns the error that says so.
func (s *Store) corrupt(key string, el *list.Element, f *os.File) error {
	p := s.path(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, err := f.Stat(); err == nil {
		if b, err := os.Stat(p); err == nil && os.SameFile(a, b) {
			os.Remove(p)
		}
	}
	s.forgetLocked(key, el)
	s.corruptions++
	return fmt.Errorf("blob %.12s… in %s: %w", key, p, ErrCorrupt)
}

// Corruptions reports how many stored blobs were found damaged.
func (s *Store) Corruptions() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.corruptions
}

// Stats reports the store's size, blob count and evictions so far.
func (s *Store) Stats() (bytes int64, files int, evictions uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size, s.lru.Len(), s.evictions
}

// Read returns the content of a blob, after checking it against its
// hash, and marks it recently used. Its errors are Materialize's.
func (s *Store) Read(hash []byte) ([]byte, error) {
	key := hex.EncodeToString(hash)
	f, el, err := s.openBlob(key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("blob %.12s…: %v", key, err)
	}
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], hash) {
		return nil, s.corrupt(key, el, f)
	}
	return data, nil
}

// Action is the record of a whole compile's result.
type Action struct {
	Exit    int          // the compile's exit status
	Output  []byte       // what it printed, mapped to the client's paths
	Outputs []ActionFile // its output files, each a blob of the store
	RunNs   int64        `json:",omitempty"` // how long the compile ran, in ns (a replaying worker waits that long)
}

// ActionFile is one output file of an Action.
type ActionFile struct {
	Name string // the output flag: "o", "linkobj", "asmhdr"
	Hash []byte
	Size int64
}

func (s *Store) actionPath(key string) string { return filepath.Join(s.dir, "actions", key[:2], key) }

// PutAction records a under an action key (a sha256). Every output file
// of a must be a blob of the store already.
func (s *Store) PutAction(key []byte, a *Action) error {
	k := hex.EncodeToString(key)
	if !validKey(k) {
		return fmt.Errorf("action key %x is not a sha256", key)
	}
	for _, o := range a.Outputs {
		if !s.Has(o.Hash) {
			return fmt.Errorf("action %.12s…: output %s: blob %.12x… is not in the store", k, o.Name, o.Hash)
		}
	}
	data, err := encodeAction(key, a)
	if err != nil {
		return err
	}
	return s.writeFile(s.actionPath(k), "action-"+k[:8], data, 0o600)
}

// writeFile writes data to name atomically: a file in the store's tmp
// directory (named after prefix), synced, given mode, then renamed.
func (s *Store) writeFile(name, prefix string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmpDir(), prefix+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// GetAction returns the record under an action key, and marks its blobs
// recently used. A record that is absent, unreadable, or names a blob
// that is no longer in the store is a miss; the last two are removed.
func (s *Store) GetAction(key []byte) (*Action, bool) {
	k := hex.EncodeToString(key)
	if !validKey(k) {
		return nil, false
	}
	data, err := os.ReadFile(s.actionPath(k))
	if err != nil {
		return nil, false
	}
	a, ok := s.checkAction(key, data, true)
	if !ok {
		os.Remove(s.actionPath(k))
		return nil, false
	}
	return a, true
}

// checkAction decodes a record and checks that its blobs are present
// with the sizes it says; with touch it marks them recently used.
func (s *Store) checkAction(key, data []byte, touch bool) (*Action, bool) {
	a, err := decodeAction(key, data)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range a.Outputs {
		el, ok := s.byHash[hex.EncodeToString(o.Hash)]
		if !ok || el.Value.(*entry).size != o.Size {
			return nil, false
		}
		if touch {
			s.lru.MoveToFront(el)
		}
	}
	return a, true
}

// An action record is a line with the hex sha256 of the action key and
// the JSON of the Action, then that JSON.
func encodeAction(key []byte, a *Action) ([]byte, error) {
	js, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	return append([]byte(recordSum(key, js)+"\n"), js...), nil
}

func recordSum(key, js []byte) string {
	h := sha256.New()
	h.Write(key)
	h.Write(js)
	return hex.EncodeToString(h.Sum(nil))
}

// decodeAction checks and decodes a record stored under key.
func decodeAction(key, rec []byte) (*Action, error) {
	sum, js, ok := bytes.Cut(rec, []byte("\n"))
	if !ok || string(sum) != recordSum(key, js) {
		return nil, errors.New("action record does not match its checksum")
	}
	var a Action
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("action record: %v", err)
	}
	if dec.More() {
		return nil, errors.New("action record: data after its JSON")
	}
	for _, o := range a.Outputs {
		if o.Name == "" || len(o.Hash) != sha256.Size || o.Size < 0 {
			return nil, fmt.Errorf("action record: bad output %q", o.Name)
		}
	}
	return &a, nil
}

// pruneActions removes the records whose blobs are gone (evicted while
// the worker was down, or by a smaller bound), or that are damaged, so
// that records do not outlive their files.
func (s *Store) pruneActions() error {
	subs, _ := os.ReadDir(filepath.Join(s.dir, "actions"))
	for _, sub := range subs {
		if !sub.IsDir() {
			continue
		}
		if err := private(filepath.Join(s.dir, "actions", sub.Name())); err != nil {
			return err
		}
		files, _ := os.ReadDir(filepath.Join(s.dir, "actions", sub.Name()))
		for _, f := range files {
			p := filepath.Join(s.dir, "actions", sub.Name(), f.Name())
			key, err := hex.DecodeString(f.Name())
			if err != nil || !validKey(f.Name()) {
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			if _, ok := s.checkAction(key, data, false); !ok {
				os.Remove(p)
			}
		}
	}
	return nil
}

// lockDir takes the exclusive lock of a store directory: a flock on its
// file "lock", which holds the pid of the process that has it.
func lockDir(dir string) (*os.File, error) {
	name := filepath.Join(dir, "lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f); err != nil {
		holder := ""
		if b, rerr := io.ReadAll(io.LimitReader(f, 32)); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		f.Close()
		return nil, fmt.Errorf("store %s is in use by another process%s: %v; give each worker its own cache directory", dir, holder, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
