// Package decode turns captured frames into the few facts a flow record
// needs: addresses, ports, protocol, IP length and direction. It uses
// gopacket's DecodingLayerParser with preallocated layers, so decoding a
// packet allocates nothing.
package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Direction says which way a packet crossed the interface.
type Direction uint8

const (
	Unknown Direction = iota
	Ingress           // received by the host
	Egress            // sent by the host
)

func (d Direction) String() string {
	switch d {
	case Ingress:
		return "ingress"
	case Egress:
		return "egress"
	}
	return "unknown"
}

// Packet is what one decoded IP packet contributes to a flow.
type Packet struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // 0 for protocols without ports and for later fragments
	Protocol         uint8  // IANA number of the transport (after IPv6 extension headers)
	Length           uint32 // IP packet length from its header, not the captured length
	Direction        Direction
	IfIndex          uint32 // the interface, when the capture says (Linux cooked v2); 0 otherwise
}

// Link is a capture's link type (LINKTYPE_* of pcap and pcapng), wider than
// gopacket's, which cannot hold Linux cooked v2 (276).
type Link uint16

// The link types the decoder reads.
const (
	LinkEthernet   Link = 1
	LinkRawOpenBSD Link = 12 // raw IP on OpenBSD-derived pcaps
	LinkRaw        Link = 101
	LinkLinuxSLL   Link = 113
	LinkIPv4       Link = 228
	LinkIPv6       Link = 229
	LinkLinuxSLL2  Link = 276 // tcpdump -i any since libpcap 1.10
)

// sll2Len is the length of a Linux cooked v2 header.
const sll2Len = 20

// ErrNotIP reports a frame that carries no IPv4 or IPv6 packet (ARP, LLDP…).
var ErrNotIP = errors.New("not an IP packet")

// Local tells the decoder which addresses belong to the capturing host, for
// frames whose direction the capture does not report.
type Local struct {
	MAC   net.HardwareAddr // the interface's hardware address
	Addrs []netip.Addr     // the interface's IP addresses
}

// LocalFromInterface reads the hardware and IP addresses of an interface.
func LocalFromInterface(ifi *net.Interface) (Local, error) {
	l := Local{MAC: ifi.HardwareAddr}
	addrs, err := ifi.Addrs()
	if err != nil {
		return l, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				l.Addrs = append(l.Addrs, ip.Unmap())
			}
		}
	}
	return l, nil
}

func (l *Local) isLocal(a netip.Addr) bool {
	for _, p := range l.Addrs {
		if p == a {
			return true
		}
	}
	return false
}

// Decoder decodes frames of one link type. It is not safe for concurrent use.
type Decoder struct {
	local    Local
	mac      [6]byte
	hasMAC   bool
	link     *gopacket.DecodingLayerParser // starts at the link layer; nil for raw IP and SLL2
	sll2     bool                          // Linux cooked v2: its header is read here
	ethernet bool                          // Ethernet: common frames take the fast path
	raw4     *gopacket.DecodingLayerParser // starts at IPv4
	raw6     *gopacket.DecodingLayerParser // starts at IPv6
	decoded  []gopacket.LayerType

	eth   layers.Ethernet
	sll   layers.LinuxSLL
	dot1q layers.Dot1Q
	ip4   layers.IPv4
	ip6   layers.IPv6
	ext   layers.IPv6ExtensionSkipper
	frag  ipv6Fragment
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6
}

// New returns a decoder for frames of the given link type: Ethernet, Linux
// cooked capture (SLL and SLL2), or raw IP (LinkRaw, LinkIPv4, LinkIPv6).
func New(link Link, local Local) (*Decoder, error) {
	d := &Decoder{local: local, decoded: make([]gopacket.LayerType, 0, 16)}
	if len(local.MAC) == 6 {
		copy(d.mac[:], local.MAC)
		d.hasMAC = true
	}
	switch link {
	case LinkEthernet:
		d.link = d.newParser(layers.LayerTypeEthernet)
		d.ethernet = true
	case LinkLinuxSLL:
		d.link = d.newParser(layers.LayerTypeLinuxSLL)
	case LinkLinuxSLL2:
		d.sll2 = true
	case LinkRaw, LinkIPv4, LinkIPv6, LinkRawOpenBSD:
	default:
		name := "unknown"
		if link < 256 {
			name = layers.LinkType(link).String()
		}
		return nil, fmt.Errorf("link type %s (%d) is not supported: use Ethernet, Linux cooked capture (v1 or v2) or raw IP", name, int(link))
	}
	d.raw4 = d.newParser(layers.LayerTypeIPv4)
	d.raw6 = d.newParser(layers.LayerTypeIPv6)
	return d, nil
}

func (d *Decoder) newParser(first gopacket.LayerType) *gopacket.DecodingLayerParser {
	p := gopacket.NewDecodingLayerParser(first,
		&d.eth, &d.sll, &d.dot1q, &d.ip4, &d.ip6, &d.ext, &d.frag, &d.tcp, &d.udp, &d.icmp4, &d.icmp6)
	p.IgnoreUnsupported = true
	return p
}

// DecodeIP is Decode for a bare IP packet, as NFLOG hands them out.
func (d *Decoder) DecodeIP(packet []byte, p *Packet) error {
	return d.decode(packet, p, nil)
}

// Decode fills p from one frame. It returns ErrNotIP for frames without an IP
// packet and an error for an IP header it cannot read; a transport header
// that is cut short leaves the ports it could not read at zero.
func (d *Decoder) Decode(frame []byte, p *Packet) error {
	if d.sll2 {
		return d.decodeSLL2(frame, p)
	}
	if d.ethernet && d.fast(frame, p) {
		return nil
	}
	return d.decode(frame, p, d.link)
}

// fast decodes the common frame without gopacket: Ethernet (with up to two
// VLAN tags), IPv4 without options or IPv6 without extension headers, not a
// fragment, TCP or UDP with its ports. It reports false, having filled
// nothing of use, for any other frame, which the layer parser then reads:
// the result is the same either way (the tshark tests compare both paths
// with tshark's count), only faster.
func (d *Decoder) fast(frame []byte, p *Packet) bool {
	if len(frame) < 14 {
		return false
	}
	et, off := binary.BigEndian.Uint16(frame[12:]), 14
	for range 2 {
		if et != 0x8100 && et != 0x88a8 {
			break
		}
		if len(frame) < off+4 {
			return false
		}
		et, off = binary.BigEndian.Uint16(frame[off+2:]), off+4
	}
	ip := frame[off:]
	var l4 []byte
	*p = Packet{}
	switch et {
	case 0x0800:
		if len(ip) < 20 || ip[0] != 0x45 {
			return false // not version 4 with a 20-byte header
		}
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total < 20 || total > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return false // cut short, padded oddly, or a fragment
		}
		p.Src, p.Dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		p.Protocol, p.Length = ip[9], uint32(total)
		l4 = ip[20:total]
	case 0x86dd:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if plen == 0 || 40+plen > len(ip) {
			return false // a jumbogram, or cut short
		}
		p.Src, p.Dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		p.Protocol, p.Length = ip[6], uint32(plen)+40
		l4 = ip[40 : 40+plen]
	default:
		return false
	}
	switch p.Protocol {
	case 6:
		if len(l4) < 20 || int(l4[12]>>4)*4 < 20 || int(l4[12]>>4)*4 > len(l4) {
			return false
		}
	case 17:
		if len(l4) < 8 {
			return false
		}
	default:
		return false
	}
	p.SrcPort, p.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	switch {
	case d.hasMAC && [6]byte(frame[6:12]) == d.mac:
		p.Direction = Egress
	case d.hasMAC:
		p.Direction = Ingress
	case len(d.local.Addrs) > 0 && d.local.isLocal(p.Src):
		p.Direction = Egress
	case len(d.local.Addrs) > 0:
		p.Direction = Ingress
	}
	return true
}

// decodeSLL2 reads a Linux cooked v2 header (protocol, interface index,
// packet type) and the IP packet after it.
func (d *Decoder) decodeSLL2(frame []byte, p *Packet) error {
	if len(frame) < sll2Len {
		*p = Packet{}
		return fmt.Errorf("decode: Linux cooked v2 header of %d bytes, want %d", len(frame), sll2Len)
	}
	var parser *gopacket.DecodingLayerParser
	switch binary.BigEndian.Uint16(frame) {
	case 0x0800:
		parser = d.raw4
	case 0x86dd:
		parser = d.raw6
	default:
		*p = Packet{}
		return ErrNotIP
	}
	if err := d.decode(frame[sll2Len:], p, parser); err != nil {
		return err
	}
	p.IfIndex = binary.BigEndian.Uint32(frame[4:])
	if dir := sllDirection(layers.LinuxSLLPacketType(frame[10])); dir != Unknown {
		p.Direction = dir
	}
	return nil
}

func (d *Decoder) decode(frame []byte, p *Packet, parser *gopacket.DecodingLayerParser) error {
	*p = Packet{}
	if parser == nil {
		if len(frame) == 0 {
			return ErrNotIP
		}
		switch frame[0] >> 4 {
		case 4:
			parser = d.raw4
		case 6:
			parser = d.raw6
		default:
			return ErrNotIP
		}
	}
	err := parser.DecodeLayers(frame, &d.decoded)

	var (
		haveIP  bool
		l4      []byte // transport header and payload, for ports the layers did not give
		l4Done  bool
		isFrag  bool // a fragment other than the first: no transport header
		linkDir = Unknown
	)
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeEthernet:
			if d.hasMAC {
				if [6]byte(d.eth.SrcMAC) == d.mac {
					linkDir = Egress
				} else {
					linkDir = Ingress
				}
			}
		case layers.LayerTypeLinuxSLL:
			linkDir = sllDirection(d.sll.PacketType)
		case layers.LayerTypeIPv4:
			haveIP = true
			p.Src = netip.AddrFrom4([4]byte(d.ip4.SrcIP.To4()))
			p.Dst = netip.AddrFrom4([4]byte(d.ip4.DstIP.To4()))
			p.Protocol = uint8(d.ip4.Protocol)
			p.Length = uint32(d.ip4.Length)
			l4 = d.ip4.Payload
			isFrag = d.ip4.FragOffset != 0
		case layers.LayerTypeIPv6:
			haveIP = true
			p.Src = netip.AddrFrom16([16]byte(d.ip6.SrcIP.To16()))
			p.Dst = netip.AddrFrom16([16]byte(d.ip6.DstIP.To16()))
			p.Protocol = uint8(d.ip6.NextHeader)
			p.Length = uint32(d.ip6.Length) + 40
			if d.ip6.HopByHop != nil {
				p.Protocol = uint8(d.ip6.HopByHop.NextHeader)
			}
			l4 = d.ip6.Payload
		case layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
			p.Protocol = uint8(d.ext.NextHeader)
			l4 = d.ext.Payload
		case layers.LayerTypeIPv6Fragment:
			p.Protocol = d.frag.next
			l4 = d.frag.Payload
			isFrag = d.frag.offset != 0
		case layers.LayerTypeTCP:
			p.SrcPort, p.DstPort, l4Done = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort), true
		case layers.LayerTypeUDP:
			p.SrcPort, p.DstPort, l4Done = uint16(d.udp.SrcPort), uint16(d.udp.DstPort), true
		case layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
			l4Done = true // ICMP records carry ports 0, as AWS writes them
		}
	}
	if !haveIP {
		if err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		return ErrNotIP
	}
	if !l4Done && !isFrag {
		// Transport header cut short by the snap length, or the first
		// fragment of a datagram: the ports are the first four bytes.
		p.SrcPort, p.DstPort = ports(p.Protocol, l4)
	}
	p.Direction = linkDir
	if p.Direction == Unknown && len(d.local.Addrs) > 0 {
		if d.local.isLocal(p.Src) {
			p.Direction = Egress
		} else {
			p.Direction = Ingress
		}
	}
	return nil
}

func ports(proto uint8, l4 []byte) (src, dst uint16) {
	switch layers.IPProtocol(proto) {
	case layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolSCTP, layers.IPProtocolUDPLite:
		if len(l4) >= 4 {
			return binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
	}
	return 0, 0
}

func sllDirection(t layers.LinuxSLLPacketType) Direction {
	switch t {
	case layers.LinuxSLLPacketTypeOutgoing:
		return Egress
	case layers.LinuxSLLPacketTypeHost, layers.LinuxSLLPacketTypeBroadcast, layers.LinuxSLLPacketTypeMulticast, layers.LinuxSLLPacketTypeOtherhost:
		return Ingress
	}
	return Unknown
}

// ipv6Fragment decodes the IPv6 fragment header so that later fragments, which
// carry no transport header, are not read as one.
type ipv6Fragment struct {
	layers.BaseLayer
	next   uint8
	offset uint16
}

func (f *ipv6Fragment) LayerType() gopacket.LayerType { return layers.LayerTypeIPv6Fragment }

func (f *ipv6Fragment) CanDecode() gopacket.LayerClass { return layers.LayerTypeIPv6Fragment }

func (f *ipv6Fragment) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 8 {
		df.SetTruncated()
		return errors.New("IPv6 fragment header shorter than 8 bytes")
	}
	f.next = data[0]
	f.offset = binary.BigEndian.Uint16(data[2:]) >> 3
	f.BaseLayer = layers.BaseLayer{Contents: data[:8], Payload: data[8:]}
	return nil
}

func (f *ipv6Fragment) NextLayerType() gopacket.LayerType {
	if f.offset != 0 {
		return gopacket.LayerTypeFragment
	}
	return layers.IPProtocol(f.next).LayerType()
}
