// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
	"distssa/remote/internal/worker"
)

// selfSigned makes a certificate for 127.0.0.1 and writes its PEM to a
// file, for the agent to verify the worker with.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "distssa test worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "worker.pem")
	os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

// TestTLS runs a compile over TLS, and checks that a mismatch of TLS
// and plain TCP between agent and worker fails cleanly.
func TestTLS(t *testing.T) {
	compile := testutil.Compile(t)
	cert, pemFile := selfSigned(t)
	_, otherPEM := selfSigned(t)
	ws, err := worker.New(worker.Config{Slots: 2, CacheDir: t.TempDir(), CacheMax: 64 << 20, Compile: compile})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ws.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	defer ws.Shutdown(context.Background())
	addr := ln.Addr().String()

	dir := t.TempDir()
	cwd, args := testutil.Package(t, compile, dir)
	env := []string{"GOROOT=" + testutil.GOROOT(compile)}
	fp := testutil.Fingerprint(t, compile, cwd, env, args...)
	hello := &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args, Env: env}
	for _, tc := range []struct {
		name, tlsFile, want string
	}{
		{"tls", pemFile, ""},
		{"plain to tls", "", "does the worker want TLS?"},
		{"wrong certificate", otherPEM, "tls: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1, TLSFile: tc.tlsFile}}, MinCost: 1})
			f, g := dialAgent(t, sock, hello)
			if g.N != 1 {
				t.Fatalf("grant %d %q", g.N, g.Reason)
			}
			f.send(&localproto.Job{Worker: 0, Data: testutil.Job(fp, "p.Gcd<ABIInternal>")})
			r := f.result()
			if tc.want == "" {
				if r.Status != 0 {
					t.Fatalf("over TLS: %s", r.Data)
				}
				return
			}
			checkFailed(t, r, addr, tc.want)
		})
	}
	if st, err := Status(context.Background(), addr, nil, pemFile); err != nil || st.JobsOK != 1 {
		t.Errorf("status over TLS: %+v %v", st, err)
	}
	if _, err := New(Config{Hosts: []hosts.Host{{Addr: addr, TLSFile: "/nonexistent.pem", Line: 3}}, HostsFile: "hosts.txt"}); err == nil ||
		err.Error() != "hosts.txt:3: tls file: open /nonexistent.pem: no such file or directory" {
		t.Errorf("missing tls file: %v", err)
	}
}
