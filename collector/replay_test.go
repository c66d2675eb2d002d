package collector

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/collector/capture"
	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/internal/pcapgen"
)

var update = flag.Bool("update", false, "rewrite golden files")

// t0 is the start of a 10-minute window.
var t0 = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

// writeScenario writes one pcap with every kind of frame the decoder meets.
func writeScenario(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgen.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	L, R := pcapgen.LocalMAC, pcapgen.RemoteMAC
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tcp := func(sp, dp uint16, ip gopacket.NetworkLayer) *layers.TCP {
		l := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), ACK: true, Window: 512}
		l.SetNetworkLayerForChecksum(ip)
		return l
	}
	udp := func(sp, dp uint16, ip gopacket.NetworkLayer) *layers.UDP {
		l := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
		l.SetNetworkLayerForChecksum(ip)
		return l
	}
	// IPv4 TCP: 3 packets out (100-byte payload: 140 IP bytes), 2 back (1000: 1040).
	for i := range 3 {
		ip := pcapgen.IPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
		must(w.Frame(at(1+float64(i)), 0, pcapgen.Eth(L, R, layers.EthernetTypeIPv4), ip, tcp(40000, 443, ip), pcapgen.Payload(100)))
	}
	for i := range 2 {
		ip := pcapgen.IPv4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP)
		must(w.Frame(at(1.5+float64(i)), 0, pcapgen.Eth(R, L, layers.EthernetTypeIPv4), ip, tcp(443, 40000, ip), pcapgen.Payload(1000)))
	}
	// IPv6 UDP, 2 packets of 48 + 12 = 60 IP bytes... 40 + 8 + 12.
	for range 2 {
		ip := pcapgen.IPv6("2001:db8::1", "2001:db8::53", layers.IPProtocolUDP)
		must(w.Frame(at(10), 0, pcapgen.Eth(L, R, layers.EthernetTypeIPv6), ip, udp(5353, 53, ip), pcapgen.Payload(12)))
	}
	// ICMPv4 echo and reply: ports 0.
	must(w.Frame(at(20), 0, pcapgen.Eth(L, R, layers.EthernetTypeIPv4), pcapgen.IPv4("10.0.0.1", "10.0.0.3", layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, pcapgen.Payload(56)))
	must(w.Frame(at(20), 0, pcapgen.Eth(R, L, layers.EthernetTypeIPv4), pcapgen.IPv4("10.0.0.3", "10.0.0.1", layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0)}, pcapgen.Payload(56)))
	// ICMPv6 echo.
	ip6 := pcapgen.IPv6("2001:db8::1", "2001:db8::9", layers.IPProtocolICMPv6)
	ic6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	ic6.SetNetworkLayerForChecksum(ip6)
	must(w.Frame(at(21), 0, pcapgen.Eth(L, R, layers.EthernetTypeIPv6), ip6, ic6, pcapgen.Payload(8)))
	// 802.1Q VLAN 42 carrying UDP, and QinQ.
	ipv := pcapgen.IPv4("192.168.42.7", "10.0.0.1", layers.IPProtocolUDP)
	must(w.Frame(at(30), 0, pcapgen.Eth(R, L, layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4},
		ipv, udp(123, 123, ipv), pcapgen.Payload(48)))
	ipq := pcapgen.IPv4("192.168.43.7", "10.0.0.1", layers.IPProtocolUDP)
	must(w.Frame(at(31), 0, pcapgen.Eth(R, L, layers.EthernetTypeQinQ),
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 43, Type: layers.EthernetTypeIPv4},
		ipq, udp(4789, 4789, ipq), pcapgen.Payload(10)))
	// IPv4 fragments of one UDP datagram: the first has the ports, the
	// second (offset 1480 bytes) has none.
	f1 := pcapgen.IPv4("10.0.0.5", "10.0.0.1", layers.IPProtocolUDP)
	f1.Flags, f1.Id = layers.IPv4MoreFragments, 7
	must(w.Frame(at(40), 0, pcapgen.Eth(R, L, layers.EthernetTypeIPv4), f1, udp(9999, 514, f1), pcapgen.Payload(1472)))
	f2 := pcapgen.IPv4("10.0.0.5", "10.0.0.1", layers.IPProtocolUDP)
	f2.FragOffset, f2.Id = 185, 7
	must(w.Frame(at(40), 0, pcapgen.Eth(R, L, layers.EthernetTypeIPv4), f2, pcapgen.Payload(100)))
	// IPv6 fragments: first with UDP header, second without.
	for i, off := range []uint16{0, 181} {
		ip := pcapgen.IPv6("2001:db8::5", "2001:db8::1", layers.IPProtocolIPv6Fragment)
		frag := []byte{byte(layers.IPProtocolUDP), 0, byte(off << 3 >> 8), byte(off<<3) | 1, 0, 0, 0, 9}
		var body []byte
		if i == 0 {
			body = append(frag, 0x27, 0x0f, 0x02, 0x02, 0, 0, 0, 0) // UDP 9999 -> 514
			body = append(body, make([]byte, 40)...)
		} else {
			frag[3] &^= 1 // last fragment
			body = append(frag, make([]byte, 30)...)
		}
		must(w.Frame(at(41), 0, pcapgen.Eth(R, L, layers.EthernetTypeIPv6), ip, gopacket.Payload(body)))
	}
	// Truncated captures: IP header only (no ports), and 4 bytes of TCP (ports kept).
	ipt := pcapgen.IPv4("10.0.0.1", "10.0.0.8", layers.IPProtocolTCP)
	must(w.Frame(at(50), 34, pcapgen.Eth(L, R, layers.EthernetTypeIPv4), ipt, tcp(50000, 8443, ipt), pcapgen.Payload(500)))
	ipt2 := pcapgen.IPv4("10.0.0.1", "10.0.0.8", layers.IPProtocolTCP)
	must(w.Frame(at(51), 38, pcapgen.Eth(L, R, layers.EthernetTypeIPv4), ipt2, tcp(50001, 8443, ipt2), pcapgen.Payload(500)))
	// GRE: no ports, counted by protocol number.
	must(w.Frame(at(60), 0, pcapgen.Eth(L, R, layers.EthernetTypeIPv4), pcapgen.IPv4("10.0.0.1", "10.9.9.9", layers.IPProtocolGRE), pcapgen.Payload(64)))
	// Non-IP frames: ARP, and a frame cut inside its Ethernet header.
	must(w.Frame(at(70), 0, pcapgen.Eth(R, L, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: R, SourceProtAddress: []byte{10, 0, 0, 2},
		DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 1}}))
	ipc := pcapgen.IPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	must(w.Frame(at(71), 10, pcapgen.Eth(L, R, layers.EthernetTypeIPv4), ipc, udp(1, 2, ipc)))
	// A packet in the next window: a second object.
	ipn := pcapgen.IPv4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	must(w.Frame(t0.Add(10*time.Minute+5*time.Second), 0, pcapgen.Eth(L, R, layers.EthernetTypeIPv4), ipn, tcp(40000, 443, ipn), pcapgen.Payload(0)))
}

// TestReplayPcapng reads the same frames from a pcapng file.
func TestReplayPcapng(t *testing.T) {
	dir := t.TempDir()
	src, err := capture.OpenFile(writeScenarioPath(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	ngPath := filepath.Join(dir, "scenario.pcapng")
	f, err := os.Create(ngPath)
	if err != nil {
		t.Fatal(err)
	}
	ng, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, _, err := src.ReadPacket()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ci.InterfaceIndex = 0
		if err := ng.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	ng.Flush()
	f.Close()
	out := filepath.Join(dir, "out")
	replayInto(t, out, ngPath)
	golden, _ := os.ReadFile(filepath.Join("testdata", "scenario.golden"))
	first := strings.SplitAfter(string(golden), "== web-1-1767226800.log.gz\n")[0]
	first = strings.TrimPrefix(strings.TrimSuffix(first, "== web-1-1767226800.log.gz\n"), "== web-1-1767226200.log.gz\n")
	if got := gunzipFile(t, filepath.Join(out, "web-1-1767226200.log.gz")); got != first {
		t.Errorf("pcapng replay differs from the pcap golden file:\n%s", got)
	}
}

func writeScenarioPath(t testing.TB, dir string) string {
	p := filepath.Join(dir, "scenario.pcap")
	writeScenario(t, p)
	return p
}

func replayConfig(t testing.TB, out string) Config {
	header := true
	cfg := DefaultConfig()
	cfg.Spool.Dir = t.TempDir()
	cfg.Listen = ""
	cfg.FlowLogs = []FlowLogConfig{{
		Name: "web-1", Interface: "eth0", Target: TargetConfig{URL: out},
		AccountID: "123456789012", InterfaceID: "7ffd6527-ce80-4e57-a949-f9a45824ebe2", Header: &header,
	}}
	return cfg
}

// registryCounter reads a collector counter of flow log web-1 from the registry.
func registryCounter(t testing.TB, c *Collector, name string) float64 {
	t.Helper()
	mfs, err := c.reg.(prometheus.Gatherer).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "flowlog_collector_"+name {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "flow_log" && l.GetValue() == "web-1" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	t.Fatalf("metric flowlog_collector_%s not found", name)
	return 0
}

func gunzipFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return gunzip(t, data)
}

// replayInto converts capture files into objects in folder out, telling
// direction by the generated captures' local MAC.
func replayInto(t testing.TB, out string, files ...string) (*Collector, ReplayStats) {
	t.Helper()
	c, err := New(replayConfig(t, out), Deps{Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Replay(context.Background(), files, decode.Local{MAC: pcapgen.LocalMAC})
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func TestReplayGolden(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "scenario.pcap")
	writeScenario(t, pcap)
	out := filepath.Join(dir, "out")
	c, st := replayInto(t, out, pcap)
	wantKeys := []string{"web-1-1767226200.log.gz", "web-1-1767226800.log.gz"}
	if diff := cmp.Diff(wantKeys, st.Objects); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if st.Frames != 22 || st.NonIP != 1 || st.DecodeErrors != 1 || st.IPPackets != 20 {
		t.Errorf("stats = %+v, want 22 frames, 20 IP, 1 non-IP, 1 unreadable", st)
	}
	var got strings.Builder
	for _, k := range wantKeys {
		got.WriteString("== " + k + "\n")
		got.WriteString(gunzipFile(t, filepath.Join(out, k)))
	}
	golden := filepath.Join("testdata", "scenario.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("objects differ from %s (-want +got):\n%s", golden, diff)
	}
	for name, want := range map[string]float64{"packets_total": 20, "records_total": 16, "windows_written_total": 2,
		"uploads_total": 2, "decode_errors_total": 1, "lost_packets_total": 0, "upload_retries_total": 0} {
		if got := registryCounter(t, c, name); got != want {
			t.Errorf("metric flowlog_collector_%s = %v, want %v", name, got, want)
		}
	}
	if st.Records != 16 {
		t.Errorf("records = %d, want 16", st.Records)
	}
}
