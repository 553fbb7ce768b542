// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Distssa-worker is the distssa worker daemon: it runs the SSA backend
// work of agents' compiles with its own compile binary. See
// remote/README.md for its flags and threat model.
//
//	distssa-worker [-listen=127.0.0.1:7070] [-slots=N] [-cache=DIR] [-cache-size=BYTES]
//	               [-token-file=FILE] [-compile=PATH] [-tls-cert=FILE -tls-key=FILE [-tls-client-ca=FILE]]
//	               [-sandbox=require|best-effort|off] [-compile-mem=BYTES] [-mem-budget=BYTES]
//	distssa-worker -status=HOST:PORT [-token-file=FILE] [-tls-ca=FILE [-tls-cert=FILE -tls-key=FILE]]
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"distssa/remote/internal/auth"
	"distssa/remote/internal/hosts"
	"distssa/remote/internal/worker"
	"distssa/remote/internal/workertls"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7070", "TCP address to listen on")
	slots := flag.Int("slots", runtime.NumCPU(), "compiles run at once; more jobs queue")
	cache := flag.String("cache", defaultCache(), "directory of the blob store and the job directories")
	cacheSize := flag.Int64("cache-size", 2<<30, "bound of the blob store, in bytes")
	tokenFile := flag.String("token-file", "", "file holding the shared secret (default: $DISTSSA_TOKEN)")
	compile := flag.String("compile", "", "the compile binary to run (default: compile next to this executable)")
	jobTimeout := flag.Duration("job-timeout", 10*time.Minute, "bound of one job")
	status := flag.String("status", "", "print the statistics of the worker at this address and exit")
	tlsCert := flag.String("tls-cert", "", "PEM certificate: serve TLS (with -tls-key); with -status, the client certificate to show")
	tlsKey := flag.String("tls-key", "", "PEM private key of -tls-cert")
	tlsClientCA := flag.String("tls-client-ca", "", "PEM certificates of the CAs that sign clients' certificates: require and verify one (mutual TLS, with -tls-cert)")
	tlsCA := flag.String("tls-ca", "", "with -status: speak TLS, verifying the worker against these PEM certificates")
	logJSON := flag.Bool("log-json", false, "log JSON lines instead of logfmt")
	sandbox := flag.String("sandbox", "", "confinement of each compile (rlimits, Landlock, seccomp filter, death with the worker): `mode` require (refuse to start without Landlock and the filter), best-effort (what the kernel has) or off (for debugging); default require if -listen is beyond loopback, else best-effort")
	compileMem := flag.Int64("compile-mem", 8<<30, "bound of a compile's address space, in bytes (RLIMIT_AS)")
	maxConns := flag.Int("max-conns", 256, "open connections; more are closed at once")
	memBudget := flag.Int64("mem-budget", 1<<30, "bound of the memory that agents' requests take at once while the worker reads, decodes and decompresses them, in bytes; at least 64 MiB")
	replay := flag.Float64("replay", 0, "bench only (bench/farm.sh): run no compile; answer whole compiles from the result cache after their recorded run time × `scale`, refuse the rest; loopback addresses only")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	var token []byte
	if *tokenFile != "" {
		t, err := auth.ReadToken(*tokenFile)
		if err != nil {
			fatal(err)
		}
		token = t
	} else if t, err := auth.EnvToken(); err != nil {
		fatal(err)
	} else {
		token = t
	}
	if *status != "" {
		if *tlsCert != "" && *tlsCA == "" {
			fatal(fmt.Errorf("-status: -tls-cert needs -tls-ca (the certificates that verify the worker)"))
		}
		st, err := auth.FetchStats(context.Background(), hosts.Host{Addr: *status, TLSFile: *tlsCA, CertFile: *tlsCert, KeyFile: *tlsKey}, token)
		if err != nil {
			fatal(err)
		}
		out, _ := json.MarshalIndent(st, "", "  ")
		fmt.Println(string(out))
		return
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(h)
	if *compile == "" {
		*compile = defaultCompile()
	}
	if *maxConns < 1 {
		fatal(fmt.Errorf("-max-conns must be at least 1, not %d", *maxConns))
	}
	mode, byDefault, err := sandboxMode(*sandbox, *listen)
	if err != nil {
		fatal(err)
	}
	if byDefault && mode == sandboxRequire {
		log.Info("sandbox: -sandbox=require by default: the worker listens beyond loopback", "listen", *listen)
	}
	host, _ := os.Hostname()
	s, err := worker.New(worker.Options{MaxConns: *maxConns, Slots: *slots, CacheDir: *cache, CacheMax: *cacheSize, Token: token,
		Compile: *compile, Name: host, JobTimeout: *jobTimeout, NoSandbox: mode == sandboxOff, NeedSandbox: mode == sandboxRequire, CompileMem: *compileMem, Replay: *replay, Log: log,
		MemBudget: *memBudget})
	if err != nil {
		fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fatal(err)
	}
	if tc, err := serverTLS(*tlsCert, *tlsKey, *tlsClientCA); err != nil {
		fatal(err)
	} else if tc != nil {
		ln = workertls.NewListener(ln, tc)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		got := <-sig
		log.Info("shutting down", "signal", got.String())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() { <-sig; cancel() }() // a second signal cancels the jobs at once
		s.Shutdown(ctx)
		os.Exit(0)
	}()
	if err := s.Serve(ln); err != nil {
		fatal(err)
	}
	select {} // Shutdown exits
}

// serverTLS makes the worker's TLS configuration from its flags: nil
// without -tls-cert and -tls-key; with -tls-client-ca, clients must show
// a certificate that verifies against it.
func serverTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if clientCA != "" {
			return nil, fmt.Errorf("-tls-client-ca needs -tls-cert and -tls-key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %v", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("-tls-client-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-tls-client-ca=%s holds no PEM certificate", clientCA)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

func defaultCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "distssa-worker")
	}
	return filepath.Join(os.TempDir(), "distssa-worker")
}

// defaultCompile is the compile binary installed beside this one, in
// GOROOT/pkg/tool/GOOS_GOARCH.
func defaultCompile() string {
	exe, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	if e, err := filepath.EvalSymlinks(exe); err == nil {
		exe = e
	}
	return filepath.Join(filepath.Dir(exe), "compile")
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "distssa-worker: %v\n", err)
	os.Exit(2)
}
