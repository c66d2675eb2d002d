package collector

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/internal/pcapgen"
)

// BenchmarkCollectPcap measures the collector's per-packet work: read a
// pcap from memory, decode, aggregate into windows and write the windows as
// gzip objects (to nowhere). 200k packets of 2000 flows over 25 minutes.
func BenchmarkCollectPcap(b *testing.B) {
	var pcap bytes.Buffer
	const packets = 200_000
	if err := pcapgen.Random(&pcap, 1, packets, 2000, t0, 25*time.Minute); err != nil {
		b.Fatal(err)
	}
	cfg := replayConfig(b, b.TempDir())
	cfg.SetDefaults()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	objects := 0
	emit := func(string, []byte) error { objects++; return nil }
	fl, err := newFlowLog(&cfg.FlowLogs[0], "", emit, discardLogger(), m.forFlowLog("web-1"))
	if err != nil {
		b.Fatal(err)
	}
	dec, err := decode.New(1, decode.Local{MAC: pcapgen.LocalMAC})
	if err != nil {
		b.Fatal(err)
	}
	f := newFeeder(dec, fl)
	b.SetBytes(int64(pcap.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := pcapgo.NewReader(bytes.NewReader(pcap.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		fl.floor, fl.window = 0, -1
		for {
			data, ci, err := r.ZeroCopyReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			f.frame(data, ci)
		}
		fl.finish()
	}
	b.ReportMetric(float64(packets*b.N)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets*b.N), "ns/packet")
	if f.ip != uint64(packets*b.N) || objects != 3*b.N {
		b.Fatalf("%d packets decoded in %d objects, want %d in %d", f.ip, objects, packets*b.N, 3*b.N)
	}
}
