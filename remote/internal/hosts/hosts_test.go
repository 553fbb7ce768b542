// Copyright 2026 The distssa Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in distssa's LICENSE file.

package hosts

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	data := `# workers of the CI farm
build1
build2:7000/8   # a big one
192.0.2.3/4,token=/etc/distssa/token

[::1]:7071/2
[fe80::1]
w-3.example.com:1,token=t
w4,tls=/etc/w4.pem,token=/t
`
	got, err := Parse("hosts.txt", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{Addr: "build1:7070", Slots: 2, Line: 2},
		{Addr: "build2:7000", Slots: 8, Line: 3},
		{Addr: "192.0.2.3:7070", Slots: 4, TokenFile: "/etc/distssa/token", Line: 4},
		{Addr: "[::1]:7071", Slots: 2, Line: 6},
		{Addr: "[fe80::1]:7070", Slots: 2, Line: 7},
		{Addr: "w-3.example.com:1", Slots: 2, TokenFile: "t", Line: 8},
		{Addr: "w4:7070", Slots: 2, TokenFile: "/t", TLSFile: "/etc/w4.pem", Line: 9},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"a\nb\nc:x\n", `hosts.txt:3: bad port "x"`},
		{"a:0", `hosts.txt:1: bad port "0"`},
		{"a:65536", `hosts.txt:1: bad port "65536"`},
		{"a:", `hosts.txt:1: bad port ""`},
		{"# c\n\na/0", `hosts.txt:3: bad slot count "0"`},
		{"a/x", `hosts.txt:1: bad slot count "x"`},
		{"a/2000", `hosts.txt:1: bad slot count "2000"`},
		{"a,tok=x", `hosts.txt:1: unknown option "tok"`},
		{"a,token", `hosts.txt:1: bad option "token"`},
		{"a,", `hosts.txt:1: bad option ""`},
		{"a,token=", `hosts.txt:1: bad option "token="`},
		{"a b", `hosts.txt:1: unexpected space`},
		{"::1", `hosts.txt:1: bad host "::1" (put IPv6 addresses in brackets)`},
		{"[::1", `hosts.txt:1: bad host "[::1" (missing ])`},
		{"[::1]x", `hosts.txt:1: bad host "[::1]x" (junk after ])`},
		{"[nothost]:1", `hosts.txt:1: bad IPv6 address "nothost"`},
		{":80", `hosts.txt:1: missing host name`},
		{"a!b", `hosts.txt:1: bad host name "a!b"`},
		{"a\nb\na", `hosts.txt:3: host a:7070 already listed on line 1`},
		{"# nothing\n", `hosts.txt: no hosts listed`},
		{"a,tls=ca,cert=c", `hosts.txt:1: cert=FILE needs key=FILE (the certificate's private key)`},
		{"a,tls=ca,key=k", `hosts.txt:1: key=FILE needs cert=FILE`},
		{"a,cert=c,key=k", `hosts.txt:1: cert=FILE needs tls=FILE (the certificates that verify the worker)`},
		{"a,token=x,token=y", `hosts.txt:1: option token given twice`},
		{"a,verify=x", `hosts.txt:1: verify=: bad rate "x"`},
		{"a,verify=1.5", `hosts.txt:1: verify=: bad rate "1.5"`},
		{"a,verify=-1%", `hosts.txt:1: verify=: bad rate "-1%"`},
		{"a,verify=NaN", `hosts.txt:1: verify=: bad rate "NaN"`},
		{"a,verify=1,verify=0", `hosts.txt:1: option verify given twice`},
		{"a,split=no", `hosts.txt:1: split=: bad value "no" (want true or false)`},
		{"a,split=false,split=true", `hosts.txt:1: option split given twice`},
	} {
		_, err := Parse("hosts.txt", []byte(tc.data))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %s", tc.data, err, tc.want)
		}
	}
}

// TestParseTLS: a client certificate for mutual TLS, and relative files
// resolved against the hosts file's directory.
func TestParseTLS(t *testing.T) {
	got, err := Parse("/farm/hosts.txt", []byte("w1,tls=ca.pem,cert=certs/agent.pem,key=/keys/agent.key,token=../tok\nw2,tls=ca.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{Addr: "w1:7070", Slots: 2, TokenFile: "/tok", TLSFile: "/farm/ca.pem", CertFile: "/farm/certs/agent.pem", KeyFile: "/keys/agent.key", Line: 1},
		{Addr: "w2:7070", Slots: 2, TLSFile: "/farm/ca.pem", Line: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "hosts.txt")
	if _, err := ParseFile(name); err == nil || err.Error() != name+": hosts file does not exist" {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(name, []byte("127.0.0.1:9/3,token=tok\n"), 0o644)
	if hs, err := ParseFile(name); err != nil || len(hs) != 1 || hs[0].Slots != 3 || hs[0].TokenFile != filepath.Join(filepath.Dir(name), "tok") {
		t.Errorf("ParseFile: %v %v", hs, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("a\nb:1/2,token=x\n# c\n[::1]:3\n")
	f.Add("a:x")
	f.Fuzz(func(t *testing.T, data string) {
		hs, err := Parse("h", []byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "h:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, h := range hs {
			host, port, err := net.SplitHostPort(h.Addr)
			if err != nil || host == "" || port == "" || h.Slots < 1 || h.Slots > MaxSlots || h.Line < 1 {
				t.Fatalf("bad host %+v from %q", h, data)
			}
		}
	})
}

// TestVerifyOption checks verify=RATE in both forms, and its absence.
func TestVerifyOption(t *testing.T) {
	hs, err := Parse("hosts.txt", []byte("a,verify=0.05\nb,verify=10%\nc,verify=0\nd\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		rate float64
		set  bool
	}{{0.05, true}, {0.10, true}, {0, true}, {0, false}} {
		if hs[i].Verify != want.rate || hs[i].VerifySet != want.set {
			t.Errorf("%s: verify %v (set %v), want %v (%v)", hs[i].Addr, hs[i].Verify, hs[i].VerifySet, want.rate, want.set)
		}
	}
}

// TestSplitOption checks split=BOOL, and its absence.
func TestSplitOption(t *testing.T) {
	hs, err := Parse("hosts.txt", []byte("a,split=false\nb,split=true\nc\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ no, set bool }{{true, true}, {false, true}, {false, false}} {
		if hs[i].NoSplit != want.no || hs[i].SplitSet != want.set {
			t.Errorf("%s: NoSplit %v (set %v), want %v (%v)", hs[i].Addr, hs[i].NoSplit, hs[i].SplitSet, want.no, want.set)
		}
	}
}
