// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

// Package hosts parses hosts.txt, the list of worker daemons a build may
// use. The format is distcc-like, one host a line:
//
//	host[:port][/slots][,option=value...]
//
// with IPv6 addresses in brackets ([::1]:7070/4), `#` comments and blank
// lines. Options: token=FILE (the shared secret of that worker),
// tls=FILE (speak TLS, verifying the worker's certificate against the
// PEM certificates in FILE), and cert=FILE,key=FILE (with tls=: the
// agent's client certificate and its key, for a worker that verifies
// its clients: mutual TLS). A relative FILE is relative to the hosts
// file's directory. verify=RATE (a fraction, 0.05, or a percentage, 5%)
// recompiles that share of the host's remote compiles locally and
// compares the bytes (sampled verification; DISTSSA_VERIFY sets it for
// hosts without the option).
package hosts

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultPort is the worker daemon's default TCP port.
const DefaultPort = 7070

// DefaultSlots is a host's slot count when its line gives none.
const DefaultSlots = 2

// MaxSlots bounds a host's slot count.
const MaxSlots = 1024

// Host is one line of hosts.txt.
type Host struct {
	Addr      string // host:port, ready to dial
	Slots     int
	TokenFile string  // "" = no token option
	TLSFile   string  // PEM certificates to verify the worker with; "" = no TLS
	CertFile  string  // PEM client certificate (mutual TLS); "" = none
	KeyFile   string  // PEM private key of CertFile
	Verify    float64 // share of remote compiles verified locally (verify=RATE)
	VerifySet bool    // the line gave verify=
	NoSplit   bool    // split=false: send this host whole compiles only
	SplitSet  bool    // the line gave split=
	Line      int
}

// ParseRate parses a sampling rate: a fraction in [0,1] (0.05) or a
// percentage (5%).
func ParseRate(s string) (float64, error) {
	v, pct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(v, 64)
	if err == nil && pct {
		f /= 100
	}
	if err != nil || f < 0 || f > 1 || f != f {
		return 0, fmt.Errorf("bad rate %q (want a fraction from 0 to 1, or a percentage)", s)
	}
	return f, nil
}

// ParseFile reads and parses a hosts file.
func ParseFile(name string) ([]Host, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: hosts file does not exist", name)
		}
		return nil, err
	}
	return Parse(name, data)
}

// Parse parses the contents of a hosts file; errors name the file and
// line. Relative files of options are made relative to name's directory.
func Parse(name string, data []byte) ([]Host, error) {
	var hosts []Host
	seen := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		h, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		for _, f := range []*string{&h.TokenFile, &h.TLSFile, &h.CertFile, &h.KeyFile} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(filepath.Dir(name), *f)
			}
		}
		if prev, ok := seen[h.Addr]; ok {
			return nil, fmt.Errorf("%s:%d: host %s already listed on line %d", name, n, h.Addr, prev)
		}
		seen[h.Addr] = n
		h.Line = n
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("%s: no hosts listed", name)
	}
	return hosts, nil
}

func parseLine(line string) (Host, error) {
	h := Host{Slots: DefaultSlots}
	if strings.ContainsAny(line, " \t") {
		return h, fmt.Errorf("unexpected space in %q (one host a line)", line)
	}
	spec, opts, _ := strings.Cut(line, ",")
	if opts != "" || strings.HasSuffix(line, ",") {
		files := map[string]*string{"token": &h.TokenFile, "tls": &h.TLSFile, "cert": &h.CertFile, "key": &h.KeyFile}
		for _, o := range strings.Split(opts, ",") {
			k, v, ok := strings.Cut(o, "=")
			f := files[k]
			switch {
			case !ok || v == "":
				return h, fmt.Errorf("bad option %q (want key=value)", o)
			case k == "split" && h.SplitSet:
				return h, fmt.Errorf("option %s given twice", k)
			case k == "split":
				b, err := strconv.ParseBool(v)
				if err != nil {
					return h, fmt.Errorf("split=: bad value %q (want true or false)", v)
				}
				h.NoSplit, h.SplitSet = !b, true
				continue
			case k == "verify" && h.VerifySet:
				return h, fmt.Errorf("option %s given twice", k)
			case k == "verify":
				r, err := ParseRate(v)
				if err != nil {
					return h, fmt.Errorf("verify=: %v", err)
				}
				h.Verify, h.VerifySet = r, true
				continue
			case f == nil:
				return h, fmt.Errorf("unknown option %q", k)
			case *f != "":
				return h, fmt.Errorf("option %s given twice", k)
			}
			*f = v
		}
		switch {
		case h.CertFile != "" && h.KeyFile == "":
			return h, fmt.Errorf("cert=FILE needs key=FILE (the certificate's private key)")
		case h.KeyFile != "" && h.CertFile == "":
			return h, fmt.Errorf("key=FILE needs cert=FILE")
		case h.CertFile != "" && h.TLSFile == "":
			return h, fmt.Errorf("cert=FILE needs tls=FILE (the certificates that verify the worker)")
		}
	}
	if hp, slots, ok := strings.Cut(spec, "/"); ok {
		n, err := strconv.Atoi(slots)
		if err != nil || n < 1 || n > MaxSlots {
			return h, fmt.Errorf("bad slot count %q (want 1…%d)", slots, MaxSlots)
		}
		h.Slots, spec = n, hp
	}
	host, port := spec, ""
	switch {
	case strings.HasPrefix(spec, "["):
		end := strings.IndexByte(spec, ']')
		if end < 0 {
			return h, fmt.Errorf("bad host %q (missing ])", spec)
		}
		host, port = spec[1:end], spec[end+1:]
		if port != "" {
			if port[0] != ':' {
				return h, fmt.Errorf("bad host %q (junk after ])", spec)
			}
			port = port[1:]
			if port == "" {
				return h, fmt.Errorf("bad port %q", port)
			}
		}
		if net.ParseIP(host) == nil {
			return h, fmt.Errorf("bad IPv6 address %q", host)
		}
	case strings.Count(spec, ":") > 1:
		return h, fmt.Errorf("bad host %q (put IPv6 addresses in brackets)", spec)
	default:
		var hasPort bool
		host, port, hasPort = strings.Cut(spec, ":")
		if hasPort && port == "" {
			return h, fmt.Errorf("bad port %q", port)
		}
	}
	if host == "" {
		return h, fmt.Errorf("missing host name in %q", spec)
	}
	for _, r := range host {
		if !(r == '-' || r == '.' || r == ':' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '%') {
			return h, fmt.Errorf("bad host name %q", host)
		}
	}
	p := DefaultPort
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return h, fmt.Errorf("bad port %q", port)
		}
		p = n
	}
	h.Addr = net.JoinHostPort(host, strconv.Itoa(p))
	return h, nil
}
