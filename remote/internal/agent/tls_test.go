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
	"strings"
	"testing"
	"time"

	"distssa/remote/internal/auth"
	"distssa/remote/internal/hosts"
	"distssa/remote/internal/localproto"
	"distssa/remote/internal/testutil"
	"distssa/remote/internal/worker"
	"distssa/remote/internal/workertls"
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
	ws, err := worker.New(worker.Options{Slots: 2, CacheDir: t.TempDir(), CacheMax: 64 << 20, Compile: compile})
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
	cwd, args, env, fp := testutil.ClientPackage(t, compile, dir)
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
	if st, err := auth.FetchStats(context.Background(), hosts.Host{Addr: addr, TLSFile: pemFile}, nil); err != nil || st.JobsOK != 1 {
		t.Errorf("status over TLS: %+v %v", st, err)
	}
	if _, err := New(Config{Hosts: []hosts.Host{{Addr: addr, TLSFile: "/nonexistent.pem", Line: 3}}, HostsFile: "hosts.txt"}); err == nil ||
		err.Error() != "hosts.txt:3: tls file: open /nonexistent.pem: no such file or directory" {
		t.Errorf("missing tls file: %v", err)
	}
}

// testCA is a certificate authority for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, file: filepath.Join(t.TempDir(), "ca.pem")}
	os.WriteFile(ca.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return ca
}

// issue makes a certificate signed by the CA, for a worker at 127.0.0.1
// or for a client; it writes it and its key as PEM files.
func (ca *testCA) issue(t *testing.T, name string, server bool) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certFile, keyFile
}

// TestMutualTLS runs a worker that verifies its clients' certificates
// (and wants the token): a client with a certificate of the worker's CA
// compiles; one without a certificate, or with one of another CA, is
// refused with a message that names the host and what failed.
func TestMutualTLS(t *testing.T) {
	compile := testutil.Compile(t)
	ca, other := newTestCA(t, "farm CA"), newTestCA(t, "other CA")
	serverCert, _, _ := ca.issue(t, "worker", true)
	_, clientCert, clientKey := ca.issue(t, "agent", false)
	_, strangerCert, strangerKey := other.issue(t, "stranger", false)
	token := []byte("s3cret-s3cret-s3cret")
	ws, err := worker.New(worker.Options{Slots: 2, CacheDir: t.TempDir(), CacheMax: 64 << 20, Compile: compile, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AddCert(ca.cert)
	go ws.Serve(workertls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS13,
		ClientCAs: clients, ClientAuth: tls.RequireAndVerifyClientCert}))
	defer ws.Shutdown(context.Background())
	addr := ln.Addr().String()
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, token, 0o600)

	dir := t.TempDir()
	cwd, args, env, fp := testutil.ClientPackage(t, compile, dir)
	hello := &localproto.Hello{Version: localproto.Version, Caps: localproto.CanSplit, Compile: compile, Cwd: cwd, Args: args, Env: env}
	for _, tc := range []struct {
		name      string
		cert, key string
		want      string
	}{
		{"client certificate and token", clientCert, clientKey, ""},
		{"no client certificate", "", "", "tls: certificate required (the worker wants a client certificate: see the cert= and key= options)"},
		{"certificate of another CA", strangerCert, strangerKey, "(the worker did not take the client certificate " + strangerCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, sock := startAgent(t, Config{Hosts: []hosts.Host{{Addr: addr, Slots: 1, TLSFile: ca.file, CertFile: tc.cert, KeyFile: tc.key,
				TokenFile: tokFile}}, MinCost: 1})
			f, g := dialAgent(t, sock, hello)
			if g.N != 1 {
				t.Fatalf("grant %d %q", g.N, g.Reason)
			}
			f.send(&localproto.Job{Worker: 0, Data: testutil.Job(fp, "p.Gcd<ABIInternal>")})
			r := f.result()
			if tc.want == "" {
				if r.Status != 0 {
					t.Fatalf("over mutual TLS: %s", r.Data)
				}
				return
			}
			checkFailed(t, r, addr, tc.want)
			// A refusal: the host is not tried again in this build.
			if _, g := dialAgent(t, sock, hello); g.N != 0 || !strings.Contains(g.Reason, "refused") {
				t.Errorf("after the refusal: grant %d %q", g.N, g.Reason)
			}
			if n := backoffs(a.hosts[0]); n != 0 {
				t.Errorf("%d backoffs, want 0 (a refusal)", n)
			}
		})
	}
	st, err := auth.FetchStats(context.Background(), hosts.Host{Addr: addr, TLSFile: ca.file, CertFile: clientCert, KeyFile: clientKey}, token)
	if err != nil || st.JobsOK != 1 {
		t.Errorf("status over mutual TLS: %+v %v", st, err)
	}
	if _, err := auth.FetchStats(context.Background(), hosts.Host{Addr: addr, TLSFile: ca.file}, token); err == nil ||
		!strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("status without a client certificate: %v", err)
	}
	for _, tc := range []struct {
		cert, key, want string
	}{
		{"/nonexistent.pem", clientKey, "hosts.txt:4: client certificate /nonexistent.pem: open /nonexistent.pem: no such file or directory"},
		{clientCert, strangerKey, "hosts.txt:4: client certificate " + clientCert + ": tls: private key does not match public key"},
	} {
		if _, err := New(Config{Hosts: []hosts.Host{{Addr: addr, TLSFile: ca.file, CertFile: tc.cert, KeyFile: tc.key, Line: 4}}, HostsFile: "hosts.txt"}); err == nil ||
			err.Error() != tc.want {
			t.Errorf("New: %v\nwant %s", err, tc.want)
		}
	}
}
