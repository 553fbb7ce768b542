// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package store is the worker's content-addressed blob store: one file
// per blob, named by the hex sha256 of its content, with a bound on the
// total size enforced by evicting the least recently used blobs.
//
// A blob is written to a temporary file, synced and renamed into place,
// so a crash never leaves a partial blob under its final name; Put checks
// the content against its hash before anything is written. Several
// goroutines (or processes) may write the same blob at once: the renames
// are atomic and the contents identical.
//
// Beside the blobs, the store keeps action records: the result of a
// whole compile under its action key (the worker computes the key). A
// record names its output files by hash; the files themselves are
// ordinary blobs, so the size bound and eviction cover them, and a
// record whose blobs were evicted is forgotten.
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
	"sync"
)

// Store is a blob store rooted in a directory.
type Store struct {
	dir string
	max int64

	mu        sync.Mutex
	size      int64
	lru       *list.List // of *entry, most recent first
	byHash    map[string]*list.Element
	evictions uint64
}

type entry struct {
	key  string // hex hash
	size int64
}

// ErrHash reports content that does not match its announced hash.
var ErrHash = errors.New("content does not match its hash")

// Open opens (creating it if needed) the store in dir, bounded to max
// bytes. It removes temporary files left by a crash and indexes the
// blobs present, oldest modification time first.
func Open(dir string, max int64) (*Store, error) {
	s := &Store{dir: dir, max: max, lru: list.New(), byHash: map[string]*list.Element{}}
	for _, d := range []string{s.tmpDir(), filepath.Join(dir, "blobs"), filepath.Join(dir, "actions")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
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
		return nil, err
	}
	for _, sub := range subs {
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
	s.pruneActions()
	return s, nil
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
	// Read-only: job directories hard-link blobs, and no job may change
	// the store through its link.
	if err := s.writeFile(s.path(key), key[:8], data, 0o444); err != nil {
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
		// A job that linked the blob keeps its link; only the name goes.
		os.Remove(s.path(e.key))
		s.lru.Remove(el)
		delete(s.byHash, e.key)
		s.size -= e.size
		s.evictions++
	}
}

// Materialize places the blob at dst, read-only: a hard link if it can,
// else a copy. It fails if the blob is not in the store.
func (s *Store) Materialize(hash []byte, dst string) error {
	key := hex.EncodeToString(hash)
	s.mu.Lock()
	e, ok := s.byHash[key]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("blob %.12s… is not in the worker's store", key)
	}
	s.lru.MoveToFront(e)
	// Under the lock, so that no eviction runs between the check and the
	// link; an open file survives an eviction that follows.
	err := os.Link(s.path(key), dst)
	var src *os.File
	if err != nil {
		src, err = os.Open(s.path(key))
	}
	if os.IsNotExist(err) {
		// Removed behind our back (by hand, or another process on the
		// same directory): forget it, so that it is uploaded again.
		s.lru.Remove(e)
		delete(s.byHash, key)
		s.size -= e.Value.(*entry).size
	}
	s.mu.Unlock()
	if err != nil || src == nil {
		return err
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// Stats reports the store's size, blob count and evictions so far.
func (s *Store) Stats() (bytes int64, files int, evictions uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size, s.lru.Len(), s.evictions
}

// Read returns the content of a blob and marks it recently used.
func (s *Store) Read(hash []byte) ([]byte, error) {
	key := hex.EncodeToString(hash)
	if !validKey(key) || !s.Has(hash) {
		return nil, fmt.Errorf("blob %.12s… is not in the worker's store", key)
	}
	data, err := os.ReadFile(s.path(key))
	if err != nil {
		return nil, fmt.Errorf("blob %.12s…: %v", key, err)
	}
	if sum := sha256.Sum256(data); !bytes.Equal(sum[:], hash) {
		return nil, fmt.Errorf("blob %.12s… in %s: %w", key, s.path(key), ErrHash)
	}
	return data, nil
}

// Action is the record of a whole compile's result.
type Action struct {
	Exit    int          // the compile's exit status
	Output  []byte       // what it printed, mapped to the client's paths
	Outputs []ActionFile // its output files, each a blob of the store
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
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.writeFile(s.actionPath(k), "action-"+k[:8], data, 0o600)
}

// writeFile writes data to name atomically: a file in the store's tmp
// directory (named after prefix), synced, given mode, then renamed.
func (s *Store) writeFile(name, prefix string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
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
	a, ok := s.checkAction(data, true)
	if !ok {
		os.Remove(s.actionPath(k))
		return nil, false
	}
	return a, true
}

// checkAction decodes a record and checks that its blobs are present;
// with touch it marks them recently used.
func (s *Store) checkAction(data []byte, touch bool) (*Action, bool) {
	var a Action
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, false
	}
	for _, o := range a.Outputs {
		if !s.present(o.Hash, touch) {
			return nil, false
		}
	}
	return &a, true
}

// pruneActions removes the records whose blobs are gone (evicted while
// the worker was down, or by a smaller bound), so that records do not
// outlive their files.
func (s *Store) pruneActions() {
	subs, _ := os.ReadDir(filepath.Join(s.dir, "actions"))
	for _, sub := range subs {
		files, _ := os.ReadDir(filepath.Join(s.dir, "actions", sub.Name()))
		for _, f := range files {
			p := filepath.Join(s.dir, "actions", sub.Name(), f.Name())
			data, err := os.ReadFile(p)
			if err != nil || !validKey(f.Name()) {
				continue
			}
			if _, ok := s.checkAction(data, false); !ok {
				os.Remove(p)
			}
		}
	}
}
