package gen

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlog/flowlog/parser"
)

func readAll(t *testing.T, obj []byte) []*parser.Record {
	t.Helper()
	r := parser.NewReader(bytes.NewReader(obj), "obj", parser.Options{})
	var recs []*parser.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatalf("generated object does not parse: %v", err)
		}
		recs = append(recs, rec.Clone())
	}
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Records = 300
	a, _ := New(cfg)
	b, _ := New(cfg)
	if !bytes.Equal(a.Object(2), b.Object(2)) {
		t.Fatal("same seed gave different objects")
	}
	cfg.Seed = 2
	c, _ := New(cfg)
	if bytes.Equal(a.Object(2), c.Object(2)) {
		t.Fatal("different seeds gave the same object")
	}
	if bytes.Equal(a.Object(1), a.Object(2)) {
		t.Fatal("two windows gave the same object")
	}
}

func TestObjectContent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Records = 5000
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.Key(0), "flowlog-1767226200.log.gz"; got != want {
		t.Errorf("key = %q, want %q", got, want)
	}
	start, end := g.Window(0)
	recs := readAll(t, g.Object(0))
	if len(recs) != cfg.Records {
		t.Fatalf("got %d records, want %d", len(recs), cfg.Records)
	}
	var v4, v6, tcp, udp, icmp, reject, nodata, skipdata int
	talkers := map[netip.Addr]int{}
	for _, r := range recs {
		if r.Start < start.Unix() || r.End >= end.Unix() || r.End < r.Start {
			t.Fatalf("record times %d-%d outside window %d-%d", r.Start, r.End, start.Unix(), end.Unix())
		}
		switch r.LogStatus {
		case parser.LogStatusNoData:
			nodata++
			continue
		case parser.LogStatusSkipData:
			skipdata++
			continue
		}
		if r.SrcAddr.Is4() {
			v4++
		} else {
			v6++
		}
		switch r.Protocol {
		case 6:
			tcp++
		case 17:
			udp++
		case 1, 58:
			icmp++
		}
		if r.Action == parser.ActionReject {
			reject++
		}
		if r.Packets == 0 || r.Bytes < r.Packets*40 && r.Action == parser.ActionAccept {
			t.Fatalf("implausible counters: %d packets, %d bytes", r.Packets, r.Bytes)
		}
		talkers[r.SrcAddr]++
		talkers[r.DstAddr]++
	}
	for name, n := range map[string]int{"ipv4": v4, "ipv6": v6, "tcp": tcp, "udp": udp, "icmp": icmp, "reject": reject, "nodata": nodata, "skipdata": skipdata} {
		if n == 0 {
			t.Errorf("no %s records in %d", name, len(recs))
		}
	}
	// Skew: the busiest remote address is in far more records than the median one.
	var top int
	for a, n := range talkers {
		if a.IsPrivate() || a.Is6() && a.As16()[0] == 0x20 {
			continue // the host itself and its neighbours
		}
		top = max(top, n)
	}
	if top < 50 {
		t.Errorf("busiest peer in %d records, want a heavy talker (>= 50 of %d)", top, len(recs))
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"name":     func(c *Config) { c.Name = "a/b" },
		"objects":  func(c *Config) { c.Objects = 0 },
		"records":  func(c *Config) { c.Records = 0 },
		"interval": func(c *Config) { c.Interval = 1500 * time.Millisecond },
		"account":  func(c *Config) { c.AccountID = "a b" },
	} {
		cfg := DefaultConfig()
		mut(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Objects, cfg.Records = 3, 10
	paths, err := WriteDir(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("wrote %d objects, want 3", len(paths))
	}
	want := []string{"flowlog-1767226200.log.gz", "flowlog-1767226800.log.gz", "flowlog-1767227400.log.gz"}
	for i, p := range paths {
		if got := p[len(dir)+1:]; got != want[i] {
			t.Errorf("object %d is %s, want %s", i, got, want[i])
		}
	}
}
