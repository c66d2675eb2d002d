package communityid

import (
	"net/netip"
	"testing"
)

// The vectors are the specification's reference values (pycommunityid's
// test suite, seeds 0 and 1) and the IDs Elastic's VPC flow log integration
// expects for AWS records, including ICMP records whose ports are 0.
func TestVectors(t *testing.T) {
	for _, tc := range []struct {
		proto        uint8
		src, dst     string
		sport, dport uint16
		seed         uint16
		want         string
	}{
		{6, "128.232.110.120", "66.35.250.204", 34855, 80, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{6, "66.35.250.204", "128.232.110.120", 80, 34855, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{6, "128.232.110.120", "66.35.250.204", 34855, 80, 1, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
		{6, "10.0.0.1", "10.0.0.2", 10, 11569, 0, "1:SXBGMX1lBOwhhoDrZynfROxnhnM="},
		{17, "192.168.1.52", "8.8.8.8", 54585, 53, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{17, "8.8.8.8", "192.168.1.52", 53, 54585, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{17, "192.168.1.52", "8.8.8.8", 54585, 53, 1, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
		{132, "192.168.170.8", "192.168.170.56", 7, 80, 0, "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ="},
		{132, "192.168.170.56", "192.168.170.8", 80, 7, 0, "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ="},
		{1, "192.168.0.89", "192.168.0.1", 8, 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
		{1, "192.168.0.1", "192.168.0.89", 0, 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
		{1, "192.168.0.89", "192.168.0.1", 20, 0, 0, "1:3o2RFccXzUgjl7zDpqmY7yJi8rI="},
		{1, "192.168.0.89", "192.168.0.1", 20, 1, 0, "1:tz/fHIDUHs19NkixVVoOZywde+I="},
		{1, "192.168.0.1", "192.168.0.89", 0, 20, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
		{1, "192.168.0.89", "192.168.0.1", 8, 0, 1, "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
		{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0, 0, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
		{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 0, 0, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
		{58, "3ffe:507:0:1:260:97ff:fe07:69ea", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, 0, "1:NdobDX8PQNJbAyfkWxhtL2Pqp5w="},
		{58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:507:0:1:260:97ff:fe07:69ea", 3, 0, 0, "1:/OGBt9BN1ofenrmSPWYicpij2Vc="},
		{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0, 1, "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
		{46, "10.1.24.4", "10.1.12.1", 0, 0, 0, "1:/nQI4Rh/TtY3mf0R2gJFBkVlgS4="},
		{46, "10.1.12.1", "10.1.24.4", 0, 0, 0, "1:/nQI4Rh/TtY3mf0R2gJFBkVlgS4="},
		{46, "10.1.24.4", "10.1.12.1", 0, 0, 1, "1:BK3BVW3U2eemuwVQVN3zd/GULno="},
		// Elastic's AWS VPC flow log integration, expected outputs.
		{6, "2001:db8:1234:a100:8d6e:3477:df66:f105", "2001:db8:1234:a102:3304:8879:34cf:4071", 34892, 22, 0, "1:hXZclvxUJScaVf0xMIJR6yW6tBQ="},
		{6, "78.24.182.42", "158.109.0.1", 20641, 22, 0, "1:Ln/vlDqu658GHymxjnRAaUF8KS4="},
		{6, "78.24.182.42", "158.109.0.1", 49761, 3389, 0, "1:E3lDDGXG7D8azpdrN7WMLPJe30w="},
		{1, "203.0.113.12", "172.31.16.139", 0, 0, 0, "1:H//CCQJhRqDUJ9c23S0VrQ+drxU="},
		{1, "172.31.16.139", "203.0.113.12", 0, 0, 0, "1:cfQqw/Kh6+4yqhEKgkCw/m3WoJM="},
	} {
		f := Flow{tc.proto, netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst), tc.sport, tc.dport}
		got, ok := Append(nil, tc.seed, f)
		if !ok || string(got) != tc.want {
			t.Errorf("%d %s:%d > %s:%d seed %d: got %q (ok %v), want %q", tc.proto, tc.src, tc.sport, tc.dst, tc.dport, tc.seed, got, ok, tc.want)
		}
	}
}

func TestInvalid(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")
	for name, f := range map[string]Flow{
		"mixed families": {Proto: 6, Src: v4, Dst: v6},
		"missing source": {Proto: 6, Dst: v4},
	} {
		if got, ok := Append([]byte("x"), 0, f); ok || string(got) != "x" {
			t.Errorf("%s: got %q, ok %v", name, got, ok)
		}
	}
	// A mapped address next to a plain IPv4 one is treated as IPv4.
	mapped := Flow{Proto: 6, Src: netip.MustParseAddr("::ffff:10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 1, DstPort: 2}
	plain := Flow{Proto: 6, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), SrcPort: 1, DstPort: 2}
	a, _ := Append(nil, 0, mapped)
	b, _ := Append(nil, 0, plain)
	if string(a) != string(b) {
		t.Errorf("mapped %s != plain %s", a, b)
	}
}

func TestAllocs(t *testing.T) {
	f := Flow{Proto: 6, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), SrcPort: 1, DstPort: 2}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf, _ = Append(buf[:0], 0, f) }); n != 0 {
		t.Errorf("%v allocations per ID", n)
	}
}

func BenchmarkAppend(b *testing.B) {
	f := Flow{Proto: 6, Src: netip.MustParseAddr("172.31.16.139"), Dst: netip.MustParseAddr("172.31.16.21"), SrcPort: 20641, DstPort: 22}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(16) // the hashed tuple of an IPv4 TCP flow
	for b.Loop() {
		buf, _ = Append(buf[:0], 0, f)
	}
}
