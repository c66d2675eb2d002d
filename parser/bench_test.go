package parser

import (
	"testing"
)

var (
	benchV4 = []byte("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK")
	benchV6 = []byte("2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK")
)

func BenchmarkParseLine(b *testing.B) {
	for _, bc := range []struct {
		name string
		line []byte
	}{{"v2-ipv4", benchV4}, {"v2-ipv6", benchV6}} {
		b.Run(bc.name, func(b *testing.B) {
			var rec Record
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				if err := ParseLine(&rec, bc.line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
