// Package pcapgen writes capture files of made-up traffic for tests,
// benchmarks and the demo, with gopacket's serializer and pcap writer.
package pcapgen

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Host MAC addresses used in generated frames.
var (
	LocalMAC  = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	RemoteMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// Writer writes frames to a pcap file.
type Writer struct {
	w   *pcapgo.Writer
	buf gopacket.SerializeBuffer
}

// NewWriter writes the pcap file header for Ethernet frames.
func NewWriter(w io.Writer) (*Writer, error) {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	return &Writer{w: pw, buf: gopacket.NewSerializeBuffer()}, nil
}

// Frame serializes the layers into one frame captured at ts; snap > 0 cuts
// the captured bytes to snap while the frame keeps its full length.
func (w *Writer) Frame(ts time.Time, snap int, ls ...gopacket.SerializableLayer) error {
	if err := gopacket.SerializeLayers(w.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return fmt.Errorf("serialize: %w", err)
	}
	data := w.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
	if snap > 0 && snap < len(data) {
		data = data[:snap]
		ci.CaptureLength = snap
	}
	return w.w.WritePacket(ci, data)
}

// Eth returns an Ethernet header from src to dst carrying t.
func Eth(src, dst net.HardwareAddr, t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: t}
}

// IPv4 returns an IPv4 header.
func IPv4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

// IPv6 returns an IPv6 header.
func IPv6(src, dst string, next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

// Payload returns n bytes of payload.
func Payload(n int) gopacket.Payload { return make(gopacket.Payload, n) }

// Flow is one made-up conversation for Random.
type Flow struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            layers.IPProtocol
}

// Random writes n packets of nflows random TCP, UDP and ICMP flows (IPv4 and
// IPv6, both directions) between start and start+span, in time order. The
// same seed writes the same file.
func Random(w io.Writer, seed uint64, n, nflows int, start time.Time, span time.Duration) error {
	pw, err := NewWriter(w)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	flows := make([]Flow, nflows)
	for i := range flows {
		f := &flows[i]
		if r.IntN(5) == 0 {
			f.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
			f.Dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		} else {
			f.Src = netip.AddrFrom4([4]byte{10, 0, 0, 1})
			f.Dst = netip.AddrFrom4([4]byte{byte(100 + r.IntN(100)), byte(r.IntN(256)), byte(i >> 8), byte(i)})
		}
		switch k := r.IntN(10); {
		case k < 6:
			f.Proto, f.DstPort = layers.IPProtocolTCP, []uint16{443, 80, 22, 5432, 8080}[r.IntN(5)]
		case k < 9:
			f.Proto, f.DstPort = layers.IPProtocolUDP, []uint16{53, 123, 443, 51820}[r.IntN(4)]
		default:
			f.Proto = layers.IPProtocolICMPv4
		}
		f.SrcPort = uint16(32768 + r.IntN(28000))
		if f.Src.Is6() && f.Proto == layers.IPProtocolICMPv4 {
			f.Proto = layers.IPProtocolICMPv6
		}
	}
	step := span / time.Duration(max(n, 1))
	for i := range n {
		f := flows[r.IntN(nflows)]
		out := r.IntN(2) == 0
		if err := pw.writeFlowPacket(start.Add(time.Duration(i)*step), f, out, 40+r.IntN(1400)); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) writeFlowPacket(ts time.Time, f Flow, out bool, size int) error {
	src, dst, sp, dp := f.Src, f.Dst, f.SrcPort, f.DstPort
	smac, dmac := LocalMAC, RemoteMAC
	if !out {
		src, dst, sp, dp = dst, src, dp, sp
		smac, dmac = dmac, smac
	}
	var l3 gopacket.SerializableLayer
	var netLayer gopacket.NetworkLayer
	et := layers.EthernetTypeIPv4
	if src.Is4() {
		ip := IPv4(src.String(), dst.String(), f.Proto)
		l3, netLayer = ip, ip
	} else {
		et = layers.EthernetTypeIPv6
		ip := IPv6(src.String(), dst.String(), f.Proto)
		l3, netLayer = ip, ip
	}
	var l4 gopacket.SerializableLayer
	switch f.Proto {
	case layers.IPProtocolTCP:
		t := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), ACK: true, Window: 512}
		t.SetNetworkLayerForChecksum(netLayer)
		l4 = t
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
		u.SetNetworkLayerForChecksum(netLayer)
		l4 = u
	case layers.IPProtocolICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		ic.SetNetworkLayerForChecksum(netLayer)
		l4 = ic
	default:
		l4 = &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}
	}
	return w.Frame(ts, 0, Eth(smac, dmac, et), l3, l4, Payload(size))
}
