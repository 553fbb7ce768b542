// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

//go:build linux

package agentclient

import (
	"os"
	"syscall"
	"time"
)

// dialUnix connects to the unix socket at path, within timeout. It uses
// syscall rather than net, so that the compiler does not link net (and,
// with cgo enabled, its C resolver). The file is non-blocking, so its
// deadlines work.
func dialUnix(path string, timeout time.Duration) (*os.File, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		// A full backlog is EAGAIN on a non-blocking unix socket: retry.
		if err != syscall.EAGAIN && err != syscall.EINTR || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), "unix:"+path), nil
}
