package report

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"
)

// FuzzReadNDJSON: any bytes read as NDJSON give counted records or named
// rejections, never a panic, and a page that renders.
func FuzzReadNDJSON(f *testing.F) {
	f.Add([]byte(`{"@timestamp":"2026-01-01T00:01:00Z","event":{"start":"2026-01-01T00:00:00Z","action":"reject"},"source":{"ip":"192.0.2.1"},"destination":{"ip":"::1","port":23},"network":{"bytes":60,"iana_number":"6"},"flowlog":{"interface_id":"eni-1","log_status":"OK"}}` + "\n"))
	f.Add([]byte(`{"aws":{"vpcflow":{"interface_id":"eni-2","log_status":"NODATA"}},"event":{"end":"2026-01-01T00:10:00Z"}}` + "\n{}\n\n"))
	f.Add([]byte("\x1f\x8b\x08\x00garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &Reader{S: New(Options{MaxKeys: 16})}
		lines := bytes.Count(data, []byte("\n")) + 1
		if err := r.readNDJSON(bytes.NewReader(data), "fuzz.ndjson"); err != nil && data[0] != 0x1f {
			t.Fatalf("error on plain input: %v", err)
		}
		if int(r.S.Records)+r.Rejected > lines {
			t.Fatalf("%d records and %d rejections from %d lines", r.S.Records, r.Rejected, lines)
		}
		if err := r.S.WriteHTML(io.Discard, "fuzz", nil, r.Errors, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkAdd(b *testing.B) {
	s := New(Options{})
	flows := make([]Flow, 4096)
	for i := range flows {
		flows[i] = Flow{Start: int64(1767225600 + i), End: int64(1767225660 + i), Iface: "eni-1",
			Src: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8 % 16), byte(i)}), Dst: netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 7)}),
			DstPort: uint16(i % 50), Proto: 6, Packets: 3, Bytes: 180, Rejected: i%10 == 0, Status: "OK", SrcCountry: "DE"}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Add(&flows[i%len(flows)])
	}
}
