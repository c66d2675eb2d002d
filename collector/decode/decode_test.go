package decode

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	localMAC  = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	remoteMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
}

func udpPayload() []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{&layers.UDP{SrcPort: 1000, DstPort: 53}, gopacket.Payload(make([]byte, 10))}
}

func TestDecode(t *testing.T) {
	v4a, v4b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	udp := Packet{Src: v4a, Dst: v4b, SrcPort: 1000, DstPort: 53, Protocol: 17, Length: 38}
	with := func(p Packet, d Direction) Packet { p.Direction = d; return p }
	tests := []struct {
		name  string
		link  Link
		local Local
		frame []byte
		want  Packet
	}{
		{"ethernet from the host is egress", LinkEthernet, Local{MAC: localMAC},
			serialize(t, append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: localMAC, DstMAC: remoteMAC, EthernetType: layers.EthernetTypeIPv4}, ip4(17)}, udpPayload()...)...),
			with(udp, Egress)},
		{"ethernet to the host is ingress", LinkEthernet, Local{MAC: localMAC},
			serialize(t, append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: remoteMAC, DstMAC: localMAC, EthernetType: layers.EthernetTypeIPv4}, ip4(17)}, udpPayload()...)...),
			with(udp, Ingress)},
		{"ethernet without local MAC is unknown", LinkEthernet, Local{},
			serialize(t, append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: remoteMAC, DstMAC: localMAC, EthernetType: layers.EthernetTypeIPv4}, ip4(17)}, udpPayload()...)...),
			udp},
		{"linux cooked outgoing", LinkLinuxSLL, Local{},
			append(sll(4), serialize(t, append([]gopacket.SerializableLayer{ip4(17)}, udpPayload()...)...)...),
			with(udp, Egress)},
		{"linux cooked to host", LinkLinuxSLL, Local{},
			append(sll(0), serialize(t, append([]gopacket.SerializableLayer{ip4(17)}, udpPayload()...)...)...),
			with(udp, Ingress)},
		{"linux cooked v2 outgoing, its interface", LinkLinuxSLL2, Local{},
			append(sll2(4, 7), serialize(t, append([]gopacket.SerializableLayer{ip4(17)}, udpPayload()...)...)...),
			func() Packet { p := with(udp, Egress); p.IfIndex = 7; return p }()},
		{"linux cooked v2 to host, local addresses do not override", LinkLinuxSLL2, Local{Addrs: []netip.Addr{v4a}},
			append(sll2(0, 2), serialize(t, append([]gopacket.SerializableLayer{ip4(17)}, udpPayload()...)...)...),
			func() Packet { p := with(udp, Ingress); p.IfIndex = 2; return p }()},
		{"raw IP from a local address", LinkRaw, Local{Addrs: []netip.Addr{v4a}},
			serialize(t, append([]gopacket.SerializableLayer{ip4(17)}, udpPayload()...)...),
			with(udp, Egress)},
		{"raw IP from elsewhere", LinkRaw, Local{Addrs: []netip.Addr{v4b}},
			serialize(t, append([]gopacket.SerializableLayer{ip4(17)}, udpPayload()...)...),
			with(udp, Ingress)},
		{"SCTP ports without an SCTP layer", LinkRaw, Local{},
			serialize(t, ip4(132), gopacket.Payload([]byte{0x13, 0x88, 0x0b, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0})),
			Packet{Src: v4a, Dst: v4b, SrcPort: 5000, DstPort: 3000, Protocol: 132, Length: 32}},
		{"IPv6 hop-by-hop then TCP", LinkRaw, Local{},
			serialize(t, &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolIPv6HopByHop, HopLimit: 1,
				SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")},
				gopacket.Payload([]byte{6, 0, 1, 4, 0, 0, 0, 0, 0x00, 0x50, 0x1f, 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0})),
			Packet{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), SrcPort: 80, DstPort: 8080, Protocol: 6, Length: 68}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.link, tt.local)
			if err != nil {
				t.Fatal(err)
			}
			var got Packet
			if err := d.Decode(tt.frame, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// sll returns a Linux cooked capture header of packet type pt for IPv4.
func sll(pt byte) []byte {
	return []byte{0, pt, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}
}

func TestDecodeErrors(t *testing.T) {
	d, err := New(LinkEthernet, Local{})
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	arp := serialize(t, &layers.Ethernet{SrcMAC: remoteMAC, DstMAC: localMAC, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: remoteMAC, SourceProtAddress: []byte{1, 2, 3, 4}, DstHwAddress: localMAC, DstProtAddress: []byte{1, 2, 3, 5}})
	if err := d.Decode(arp, &p); !errors.Is(err, ErrNotIP) {
		t.Errorf("ARP: err = %v, want ErrNotIP", err)
	}
	eth := serialize(t, &layers.Ethernet{SrcMAC: remoteMAC, DstMAC: localMAC, EthernetType: layers.EthernetTypeIPv4})
	if err := d.Decode(append(eth, 0x45, 0, 0), &p); err == nil || errors.Is(err, ErrNotIP) {
		t.Errorf("IPv4 header cut at 3 bytes: err = %v, want a decode error", err)
	}
	if err := d.Decode([]byte{1, 2, 3}, &p); err == nil {
		t.Errorf("3-byte frame: no error")
	}
	raw, _ := New(LinkRaw, Local{})
	if err := raw.Decode([]byte{0x20, 1, 2}, &p); !errors.Is(err, ErrNotIP) {
		t.Errorf("raw frame of IP version 2: err = %v, want ErrNotIP", err)
	}
	if _, err := New(Link(layers.LinkTypeFDDI), Local{}); err == nil {
		t.Error("FDDI link type accepted")
	}
}

// sll2 is a Linux cooked v2 header of an IPv4 packet: packet type pt,
// interface index ifindex.
func sll2(pt byte, ifindex uint32) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], 0x0800)
	binary.BigEndian.PutUint32(h[4:], ifindex)
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10], h[11] = pt, 6
	return h
}

// FuzzDecode feeds arbitrary frames to every link type: no panic, and a
// decoded packet's length is at least its IP header's.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), serialize(f, append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: localMAC, DstMAC: remoteMAC, EthernetType: layers.EthernetTypeIPv4}, ip4(17)}, udpPayload()...)...))
	f.Add(uint8(1), append(sll(4), serialize(f, append([]gopacket.SerializableLayer{ip4(17)}, udpPayload()...)...)...))
	f.Add(uint8(2), serialize(f, &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: net.ParseIP("::1"), DstIP: net.ParseIP("::2")},
		gopacket.Payload([]byte{17, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 2, 0, 8, 0, 0})))
	f.Add(uint8(0), serialize(f, &layers.Ethernet{SrcMAC: remoteMAC, DstMAC: localMAC, EthernetType: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv6}))
	f.Add(uint8(3), append(sll2(4, 7), serialize(f, append([]gopacket.SerializableLayer{ip4(17)}, udpPayload()...)...)...))
	links := []Link{LinkEthernet, LinkLinuxSLL, LinkRaw, LinkLinuxSLL2}
	decoders := make([]*Decoder, len(links))
	for i, l := range links {
		decoders[i], _ = New(l, Local{MAC: localMAC, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}})
	}
	f.Fuzz(func(t *testing.T, link uint8, frame []byte) {
		d := decoders[int(link)%len(decoders)]
		var p Packet
		if err := d.Decode(frame, &p); err != nil {
			return
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
			t.Fatalf("decoded packet with addresses %v -> %v", p.Src, p.Dst)
		}
	})
}

// FuzzFastPath: whenever the fast path takes a frame, the layer parser
// reads the same packet from it.
func FuzzFastPath(f *testing.F) {
	f.Add(serialize(f, append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: localMAC, DstMAC: remoteMAC, EthernetType: layers.EthernetTypeIPv4}, ip4(17)}, udpPayload()...)...))
	f.Add(serialize(f, &layers.Ethernet{SrcMAC: remoteMAC, DstMAC: localMAC, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 1, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")},
		gopacket.Payload([]byte{0x00, 0x50, 0x1f, 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0})))
	f.Add(serialize(f, &layers.Ethernet{SrcMAC: remoteMAC, DstMAC: localMAC, EthernetType: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip4(6),
		gopacket.Payload([]byte{0x00, 0x50, 0x1f, 0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0})))
	d, _ := New(LinkEthernet, Local{MAC: localMAC})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var fast, slow Packet
		if !d.fast(frame, &fast) {
			return
		}
		if err := d.decode(frame, &slow, d.link); err != nil {
			t.Fatalf("the fast path took a frame the layer parser refuses (%v): %x", err, frame)
		}
		if fast != slow {
			t.Fatalf("fast %+v, layer parser %+v: %x", fast, slow, frame)
		}
	})
}
