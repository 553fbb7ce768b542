// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package workertls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a self-signed certificate for 127.0.0.1.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, cert
}

// TestRejectedClientLearnsWhy: a server that requires a client
// certificate of its CA rejects clients without one or with another,
// which write first (as the agent does) and then read: every time, the
// client reads the server's alert, not a reset connection.
func TestRejectedClientLearnsWhy(t *testing.T) {
	serverCert, cert := selfSigned(t, "worker")
	strangerCert, _ := selfSigned(t, "stranger")
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, &tls.Config{Certificates: []tls.Certificate{serverCert},
		MinVersion: tls.VersionTLS13, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// As the worker does: read the first message, close on error.
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Read(make([]byte, 64))
				c.Close()
			}()
		}
	}()
	const tries = 50
	for i := 0; i < tries; i++ {
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
		want := "certificate required"
		if i%2 == 1 {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &strangerCert, nil }
			want = "unknown certificate authority"
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatalf("try %d: handshake: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Write([]byte("hello"))
		if err == nil {
			_, err = c.Read(make([]byte, 1))
		}
		c.Close()
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "remote error" || !strings.Contains(err.Error(), want) {
			t.Fatalf("try %d of %d: the rejected client got %v, want the alert %q", i, tries, err, want)
		}
	}
}
