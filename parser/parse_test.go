package parser

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLineValues(t *testing.T) {
	var rec Record
	line := "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 REJECT OK"
	if err := ParseLine(&rec, []byte(line)); err != nil {
		t.Fatal(err)
	}
	type view struct {
		Version              uint8
		Account, Iface       string
		Src, Dst             netip.Addr
		SrcPort, DstPort     uint16
		Proto                uint8
		Packets, Bytes       uint64
		Start, End           int64
		Action               Action
		Status               LogStatus
		HasAll, HasTCPFlags  bool
		IsV2                 bool
		ColumnTen, ValueEnd  string
		ValueMissingNotFound bool
	}
	end, _ := rec.Value("end")
	_, found := rec.Value("vpc-id")
	got := view{rec.Version, string(rec.AccountID), string(rec.InterfaceID), rec.SrcAddr, rec.DstAddr,
		rec.SrcPort, rec.DstPort, rec.Protocol, rec.Packets, rec.Bytes, rec.Start, rec.End, rec.Action, rec.LogStatus,
		rec.set == v2Mask, rec.Has(FieldTCPFlags), rec.Layout() == V2, string(rec.Column(9)), string(end), !found}
	want := view{2, "123456789010", "eni-1235b8ca123456789", netip.MustParseAddr("172.31.16.139"), netip.MustParseAddr("172.31.16.21"),
		20641, 22, 6, 20, 4249, 1418530010, 1418530070, ActionReject, LogStatusOK,
		true, false, true, "4249", "1418530070", true}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("ParseLine (-want +got):\n%s", diff)
	}
}

// TestParseLine checks lines as their flat JSON, which shows every value and
// every missing one.
func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
	}{
		{"ipv6", "2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
			`{"version":2,"account_id":"123456789010","interface_id":"eni-1235b8ca123456789","srcaddr":"2001:db8:1234:a100:8d6e:3477:df66:f105","dstaddr":"2001:db8:1234:a102:3304:8879:34cf:4071","srcport":34892,"dstport":22,"protocol":6,"packets":54,"bytes":8855,"start":1477913708,"end":1477913820,"action":"ACCEPT","log_status":"OK"}`},
		{"nodata", "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
			`{"version":2,"account_id":"123456789010","interface_id":"eni-1235b8ca123456789","srcaddr":null,"dstaddr":null,"srcport":null,"dstport":null,"protocol":null,"packets":null,"bytes":null,"start":1431280876,"end":1431280934,"action":null,"log_status":"NODATA"}`},
		{"skipdata", "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
			`{"version":2,"account_id":"123456789010","interface_id":"eni-11111111aaaaaaaaa","srcaddr":null,"dstaddr":null,"srcport":null,"dstport":null,"protocol":null,"packets":null,"bytes":null,"start":1431280876,"end":1431280934,"action":null,"log_status":"SKIPDATA"}`},
		{"tencent -1", "2 100000 eni-abc 10.0.0.1 10.0.0.2 -1 -1 1 -1 -1 1600000000 1600000060 ACCEPT OK",
			`{"version":2,"account_id":"100000","interface_id":"eni-abc","srcaddr":"10.0.0.1","dstaddr":"10.0.0.2","srcport":null,"dstport":null,"protocol":1,"packets":null,"bytes":null,"start":1600000000,"end":1600000060,"action":"ACCEPT","log_status":"OK"}`},
		{"crlf and spaces", "2  1 uuid 1.2.3.4 5.6.7.8 1 2 17 3 4 5 6 ACCEPT OK \r\n",
			`{"version":2,"account_id":"1","interface_id":"uuid","srcaddr":"1.2.3.4","dstaddr":"5.6.7.8","srcport":1,"dstport":2,"protocol":17,"packets":3,"bytes":4,"start":5,"end":6,"action":"ACCEPT","log_status":"OK"}`},
		{"max values", "255 a b 255.255.255.255 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535 255 18446744073709551615 18446744073709551615 253402300799 253402300799 REJECT OK",
			`{"version":255,"account_id":"a","interface_id":"b","srcaddr":"255.255.255.255","dstaddr":"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff","srcport":65535,"dstport":65535,"protocol":255,"packets":18446744073709551615,"bytes":18446744073709551615,"start":253402300799,"end":253402300799,"action":"REJECT","log_status":"OK"}`},
		{"mapped and zero", "2 a b ::ffff:1.2.3.4 0.0.0.0 0 0 0 0 0 0 0 ACCEPT OK",
			`{"version":2,"account_id":"a","interface_id":"b","srcaddr":"::ffff:1.2.3.4","dstaddr":"0.0.0.0","srcport":0,"dstport":0,"protocol":0,"packets":0,"bytes":0,"start":0,"end":0,"action":"ACCEPT","log_status":"OK"}`},
		{"json escaping", "2 \"acct\\ \x01\xff 1.2.3.4 5.6.7.8 1 2 6 3 4 5 6 ACCEPT OK",
			`{"version":2,"account_id":"\"acct\\","interface_id":"\u0001\ufffd","srcaddr":"1.2.3.4","dstaddr":"5.6.7.8","srcport":1,"dstport":2,"protocol":6,"packets":3,"bytes":4,"start":5,"end":6,"action":"ACCEPT","log_status":"OK"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec Record
			if err := ParseLine(&rec, []byte(tc.line)); err != nil {
				t.Fatal(err)
			}
			if got := string(AppendJSON(nil, &rec)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestParseLineAllFields parses AWS's headerless all-field formats, chosen by
// their width.
func TestParseLineAllFields(t *testing.T) {
	v5 := "5 64111117617 eni-069xxxxxb7a490 89.160.20.156 10.200.0.0 50041 33004 17 52 1 164000066 1640000297 REJECT OK vpc-09676f97xxxxxb8a7 subnet-02d645xxxxxxxdbc0 i-0axxxxxx1ad77 1 IPv4 89.160.20.156 10.200.0.80 us-east-1 use1-az5 - - AMAZON CLOUDFRONT ingress 1"
	v8 := "8 000000000000 - 2a02:cf40:: 1.128.0.0 42910 80 17 51 33615 1755678754 1755678775 REJECT OK - - - - - - - - - - - - - ingress - arn:aws:ecs:us-east-1:000000000000:cluster/backend-cluster backend-cluster arn:aws:ecs:us-east-1:000000000000:container-instance/backend-cluster/i-18de3682c033431da i-18de3682c033431da 601a6500-efa dea79277-480 payments-service arn:aws:ecs:us-east-1:000000000000:task-definition/orders:12 arn:aws:ecs:us-east-1:000000000000:task/backend-cluster/e504f037-35c e504f037-35c BPA"
	var rec Record
	if err := ParseLine(&rec, []byte(v5)); err != nil {
		t.Fatal(err)
	}
	if rec.Layout().Len() != 29 || rec.TCPFlags != 1 || rec.TrafficPath != 1 || rec.PktDstAddr != netip.MustParseAddr("10.200.0.80") {
		t.Errorf("v5: layout %d, tcp-flags %d, traffic-path %d, pkt-dstaddr %s", rec.Layout().Len(), rec.TCPFlags, rec.TrafficPath, rec.PktDstAddr)
	}
	if v, _ := rec.Value("pkt-dst-aws-service"); string(v) != "CLOUDFRONT" {
		t.Errorf("v5 pkt-dst-aws-service = %q", v)
	}
	if err := ParseLine(&rec, []byte(v8)); err != nil {
		t.Fatal(err)
	}
	if rec.Has(FieldInterfaceID) || rec.Has(FieldVPCID) || !rec.Has(FieldRejectReason) {
		t.Errorf("v8: presence wrong: interface-id %v vpc-id %v reject-reason %v", rec.Has(FieldInterfaceID), rec.Has(FieldVPCID), rec.Has(FieldRejectReason))
	}
	if v, _ := rec.Value("reject-reason"); string(v) != "BPA" {
		t.Errorf("v8 reject-reason = %q", v)
	}
	if v, _ := rec.Value("flow-direction"); string(v) != "ingress" {
		t.Errorf("v8 flow-direction = %q", v)
	}
}

// TestParseLineErrors covers the bad values the issue lists: each names the
// field and shows the value.
func TestParseLineErrors(t *testing.T) {
	base := strings.Fields("2 123 eni-1 10.0.0.1 10.0.0.2 443 80 6 10 840 1600000000 1600000060 ACCEPT OK")
	with := func(i int, v string) string {
		f := append([]string(nil), base...)
		f[i] = v
		return strings.Join(f, " ")
	}
	for _, tc := range []struct {
		name, line string
		kind       error
		detail     string
	}{
		{"bad ipv4", with(3, "300.1.1.1"), ErrValue, `field srcaddr: not an IPv4 or IPv6 address: "300.1.1.1"`},
		{"leading zero", with(4, "10.0.0.01"), ErrValue, `field dstaddr: not an IPv4 or IPv6 address: "10.0.0.01"`},
		{"zone", with(4, "fe80::1%eth0"), ErrValue, `field dstaddr: not an IPv4 or IPv6 address: "fe80::1%eth0"`},
		{"bad ipv6", with(3, "2001:db8::g"), ErrValue, `field srcaddr: not an IPv4 or IPv6 address: "2001:db8::g"`},
		{"hostname", with(3, "example.com"), ErrValue, `field srcaddr: not an IPv4 or IPv6 address: "example.com"`},
		{"port range", with(5, "70000"), ErrValue, `field srcport: value out of range 0-65535: "70000"`},
		{"protocol range", with(7, "256"), ErrValue, `field protocol: value out of range 0-255: "256"`},
		{"negative counter", with(8, "-5"), ErrValue, `field packets: negative value "-5"`},
		{"overflowing counter", with(9, "18446744073709551616"), ErrValue, `field bytes: value out of range 0-18446744073709551615: "18446744073709551616"`},
		{"not a number", with(9, "12k"), ErrValue, `field bytes: not a number: "12k"`},
		{"plus sign", with(6, "+80"), ErrValue, `field dstport: not a number: "+80"`},
		{"time range", with(10, "999999999999"), ErrValue, `field start: value out of range 0-253402300799: "999999999999"`},
		{"action", with(12, "ALLOW"), ErrValue, `field action: want ACCEPT, REJECT or -, got "ALLOW"`},
		{"lower-case action", with(12, "accept"), ErrValue, `field action: want ACCEPT, REJECT or -, got "accept"`},
		{"status", with(13, "FINE"), ErrValue, `field log-status: want OK, SKIPDATA, NODATA or -, got "FINE"`},
		{"too few", strings.Join(base[:13], " "), ErrFieldCount, "has 13 fields, want 14 (version-2 default format; 21, 25, 29, 39 or 40 for AWS's all-field formats, or a header line first)"},
		{"too many", strings.Join(append(base, "x"), " "), ErrFieldCount, "has 15 fields, want 14 (version-2 default format; 21, 25, 29, 39 or 40 for AWS's all-field formats, or a header line first)"},
		{"json", `{"version": 2, "srcaddr": "1.2.3.4"}`, ErrFieldCount, "has 4 fields, want 14 (version-2 default format; 21, 25, 29, 39 or 40 for AWS's all-field formats, or a header line first)"},
		{"long value", with(3, strings.Repeat("9", 100)), ErrValue, `field srcaddr: not an IPv4 or IPv6 address: "` + strings.Repeat("9", 64) + `"…`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec Record
			err := ParseLine(&rec, []byte(tc.line))
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LineError", err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %v is not %v", err, tc.kind)
			}
			if le.Detail() != tc.detail {
				t.Errorf("detail\n got %s\nwant %s", le.Detail(), tc.detail)
			}
		})
	}
}

func TestLayoutParse(t *testing.T) {
	l, err := NewLayout("srcaddr", "dstaddr", "bytes", "custom-note", "action")
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	if err := l.Parse(&rec, []byte("1.1.1.1 2.2.2.2 99 hello REJECT")); err != nil {
		t.Fatal(err)
	}
	note, ok := rec.Value("custom-note")
	if !ok || string(note) != "hello" || rec.Bytes != 99 || rec.Action != ActionReject || rec.Has(FieldVersion) {
		t.Errorf("got note %q ok %v bytes %d action %v has version %v", note, ok, rec.Bytes, rec.Action, rec.Has(FieldVersion))
	}
	want := `{"srcaddr":"1.1.1.1","dstaddr":"2.2.2.2","bytes":99,"custom_note":"hello","action":"REJECT"}`
	if got := string(AppendJSON(nil, &rec)); got != want {
		t.Errorf("json\n got %s\nwant %s", got, want)
	}
	err = l.Parse(&rec, []byte("2 123 eni-1 10.0.0.1 10.0.0.2 443 80 6 10 840 1600000000 1600000060 ACCEPT OK"))
	var le *LineError
	if !errors.As(err, &le) || le.Detail() != "has 14 fields, want 5 as the header names" {
		t.Errorf("count mismatch: got %v", err)
	}
}

func TestHeader(t *testing.T) {
	for line, want := range map[string]bool{
		"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status": true,
		"account_id action az_id bytes": true,
		"srcaddr dstaddr my-field":      false, // two known names are not a layout
		"version srcaddr":               true,
		"version":                       false,
		"end":                           false, // a word of text, e.g. in a binary
		"start end action":              true,
		"my-field other-field":          false, // nothing known
		"eni-1 vpc-2 subnet-3":          false,
		"2 123 eni-1 10.0.0.1 10.0.0.2 443 80 6 10 840 1 2 OK X": false,
		"version Account-ID": false,
		"- version":          false,
		"":                   false,
	} {
		if got := isHeader([]byte(line)); got != want {
			t.Errorf("isHeader(%q) = %v, want %v", line, got, want)
		}
	}
	var l Layout
	err := l.parseHeader([]byte("srcaddr dstaddr srcaddr"))
	if !errors.Is(err, ErrHeader) || l.Len() != 3 || l.Fields()[2] != FieldUnknown || l.Index("srcaddr") != 0 {
		t.Errorf("duplicate: err %v, len %d, fields %v", err, l.Len(), l.Fields())
	}
	if _, err := NewLayout(); err == nil {
		t.Error("empty layout accepted")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, line := range []string{
		"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n",
		"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA\n",
		"2 1 x 2001:db8::1 ::1 0 0 58 1 64 0 1 REJECT SKIPDATA\n",
	} {
		var rec Record
		if err := ParseLine(&rec, []byte(line)); err != nil {
			t.Fatal(err)
		}
		if got := string(AppendRecord(nil, &rec)); got != line {
			t.Errorf("round trip\n got %q\nwant %q", got, line)
		}
	}
	want := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	if got := string(AppendHeader(nil)); got != want {
		t.Errorf("header %q", got)
	}
}

func TestClone(t *testing.T) {
	line := []byte("2 123 eni-1 10.0.0.1 10.0.0.2 443 80 6 10 840 1600000000 1600000060 ACCEPT OK")
	var rec Record
	if err := ParseLine(&rec, line); err != nil {
		t.Fatal(err)
	}
	c := rec.Clone()
	copy(line, "9 999 xxx-x")
	if string(c.AccountID) != "123" || string(c.InterfaceID) != "eni-1" || string(c.Column(0)) != "2" {
		t.Errorf("clone shares memory with the line: %q %q %q", c.AccountID, c.InterfaceID, c.Column(0))
	}
}

func TestSplit(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		var got []string
		for _, b := range split(nil, []byte(in)) {
			got = append(got, string(b))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("split(%q) (-want +got):\n%s", in, diff)
		}
		if n := countFields([]byte(in)); n != len(want) {
			t.Errorf("countFields(%q) = %d, want %d", in, n, len(want))
		}
	}
	f("")
	f("   ")
	f("a", "a")
	f("a b", "a", "b")
	f("  a   bb  ", "a", "bb")
	f("abcdefgh ijklmnop q", "abcdefgh", "ijklmnop", "q")
	f("a\tb c", "a\tb", "c")
	f("\x20\xa0\x20!", "\xa0", "!")
}

func TestSpaceMask(t *testing.T) {
	for c := range 256 {
		w := uint64(c) | uint64(c)<<56 | 0x20<<8 | 0x21<<16 | 0x1f<<24 | 0xa0<<32
		want := uint64(0x80 << 8)
		if c == ' ' {
			want |= 0x80 | 0x80<<56
		}
		if got := spaceMask(w); got != want {
			t.Fatalf("spaceMask(%#x) = %#x, want %#x", w, got, want)
		}
	}
}

func TestParseAddr(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "255.255.255.255", "::1", "2001:db8::1", "::ffff:10.0.0.1", "", "10.0.0.1 ", "010.0.0.1", "1.2.3", "fe80::1%eth0", "1.2.3.4.5", "::1 "} {
		got, ok := ParseAddr([]byte(s))
		want, err := netip.ParseAddr(s)
		if ok != (err == nil && want.Zone() == "") || ok && got != want {
			t.Errorf("%q: %v %v, netip %v %v", s, got, ok, want, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ParseAddr([]byte("2001:db8::1")) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
