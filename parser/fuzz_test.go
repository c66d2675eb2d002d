package parser

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedLines adds every line of the text files in testdata/ to f.
func seedLines(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.log")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f.Add(append([]byte(nil), sc.Bytes()...))
		}
	}
	f.Add([]byte("2 a b 1.2.3.4 5.6.7.8 -1 -1 1 -1 -1 1 2 ACCEPT OK"))
	f.Add([]byte("2  a b ::ffff:1.2.3.4 ::1 1 2 3 4 5 6 7 REJECT SKIPDATA "))
}

func checkLineError(t *testing.T, err error) {
	t.Helper()
	var le *LineError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T) is not a *LineError", err, err)
	}
	if le.Detail() == "" || !(errors.Is(err, ErrValue) || errors.Is(err, ErrFieldCount) || errors.Is(err, ErrHeader) || errors.Is(err, ErrLineTooLong)) {
		t.Fatalf("line error without detail or kind: %#v", le)
	}
}

func FuzzParseLine(f *testing.F) {
	seedLines(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		// The fast path, where it accepts a line, agrees with the general scan.
		var fast, slow Record
		trimmed := trimEOL(line)
		if scanV2(&fast, trimmed) {
			if err := V2.scan(&slow, trimmed); err != nil {
				t.Fatalf("fast path accepted %q, general scan says %v", line, err)
			}
			if a, b := AppendJSON(nil, &fast), AppendJSON(nil, &slow); !bytes.Equal(a, b) {
				t.Fatalf("paths disagree on %q:\nfast %s\nslow %s", line, a, b)
			}
		}

		// split and countFields agree with a naive splitter.
		var naive [][]byte
		for _, f := range bytes.Split(trimmed, []byte(" ")) {
			if len(f) > 0 {
				naive = append(naive, f)
			}
		}
		if got := split(nil, trimmed); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", naive) {
			t.Fatalf("split(%q) = %q, want %q", trimmed, got, naive)
		}
		if countFields(trimmed) != len(naive) {
			t.Fatalf("countFields(%q) = %d, want %d", trimmed, countFields(trimmed), len(naive))
		}

		var rec Record
		if err := ParseLine(&rec, line); err != nil {
			checkLineError(t, err)
			return
		}
		js := AppendJSON(nil, &rec)
		if !json.Valid(js) {
			t.Fatalf("invalid JSON for %q: %s", line, js)
		}
		// Writing and reading again changes nothing in the version-2 fields.
		out := AppendRecord(nil, &rec)
		var again Record
		if err := ParseLine(&again, out); err != nil {
			t.Fatalf("written line %q does not parse: %v", out, err)
		}
		if back := AppendRecord(nil, &again); !bytes.Equal(out, back) {
			t.Fatalf("round trip changed the record:\n%s%s", out, back)
		}
		if rec.Layout() == V2 {
			if a, b := AppendJSON(nil, &again), js; !bytes.Equal(a, b) {
				t.Fatalf("round trip changed values:\n%s\n%s", b, a)
			}
		}
	})
}

func FuzzHeader(f *testing.F) {
	f.Add([]byte(header))
	f.Add([]byte("srcaddr srcaddr my-field"))
	f.Add([]byte("account_id action az-id x"))
	seedLines(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		if !isHeader(line) {
			return
		}
		var l Layout
		err := l.parseHeader(line)
		if err != nil && !errors.Is(err, ErrHeader) {
			t.Fatalf("header error %v is not ErrHeader", err)
		}
		if n := countFields(line); l.Len() != n || len(l.Names()) != n {
			t.Fatalf("layout of %q has %d columns and %d names, line has %d fields", line, l.Len(), len(l.Names()), n)
		}
		for i, f := range l.Fields() {
			if f != FieldUnknown && (l.Names()[i] != f.String() || !l.Has(f) || l.Index(f.String()) != i) {
				t.Fatalf("column %d: field %v named %q, index %d", i, f, l.Names()[i], l.Index(f.String()))
			}
		}
	})
}

func FuzzReader(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.log*")
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil && filepath.Ext(p) != ".golden" {
			f.Add(data)
		}
	}
	f.Add([]byte(header + line1 + "\r\n\n" + line2))
	f.Add(zstdOf(f, []byte(header+line1+"\n"+line2)))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{MaxLineBytes: 512, MaxBytes: 1 << 20}
		got := readBytes(t, "fuzz", data, opts)
		for _, rec := range got.records {
			if !json.Valid([]byte(rec)) {
				t.Fatalf("invalid JSON record %s", rec)
			}
		}
		for i := 1; i < len(got.lines); i++ {
			if got.lines[i] <= got.lines[i-1] {
				t.Fatalf("line numbers not increasing: %v", got.lines)
			}
		}
		// The same bytes read as gzip or zstd give the same result.
		if (len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b) && !IsZstd(data) {
			z := readBytes(t, "fuzz", gz(t, string(data)), opts)
			if fmt.Sprint(z.records, z.errs) != fmt.Sprint(got.records, got.errs) || (z.end == nil) != (got.end == nil) {
				t.Fatalf("gzip and plain differ:\nplain %v\ngzip  %v", got, z)
			}
			zs := readBytes(t, "fuzz", zstdOf(t, data), opts)
			if fmt.Sprint(zs.records, zs.errs) != fmt.Sprint(got.records, got.errs) || (zs.end == nil) != (got.end == nil) {
				t.Fatalf("zstd and plain differ:\nplain %v\nzstd  %v", got, zs)
			}
		}
	})
}

// FuzzIPv6 holds parseIPv6 to net/netip: the same inputs accepted, the same
// addresses out.
func FuzzIPv6(f *testing.F) {
	for _, s := range []string{"::", "::1", "1::", "2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
		"1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "1::2::3", "12345::", ":1::", "1:2:3:4:5:6:7:8:9", "::ffff:01.2.3.4", "1:", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, '%') >= 0 {
			return // zones: netip accepts them, flow logs do not
		}
		want, werr := netip.ParseAddr(s)
		if werr == nil && !want.Is6() {
			return // a plain IPv4 address: not parseIPv6's job
		}
		got, ok := parseIPv6([]byte(s))
		if ok != (werr == nil) || ok && got != want {
			t.Fatalf("parseIPv6(%q) = %v, %v; netip says %v, %v", s, got, ok, want, werr)
		}
	})
}
