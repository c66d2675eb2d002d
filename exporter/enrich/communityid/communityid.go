// Package communityid computes Community ID flow hashes, version 1, as the
// Community ID specification (Corelight) defines them and as Zeek, Suricata
// and Elastic's community_id processors compute them: a seeded SHA-1 over the
// flow's endpoints in a canonical order, base64-encoded, prefixed "1:".
package communityid

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// IANA protocol numbers with special handling.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
)

// Len is the length of a Community ID: "1:" and 28 characters of base64.
const Len = 30

// Flow is the five-tuple hashed. For ICMP and ICMPv6, SrcPort carries the
// message type and DstPort the code, as flow logs and the specification do.
type Flow struct {
	Proto   uint8
	Src     netip.Addr
	Dst     netip.Addr
	SrcPort uint16
	DstPort uint16
}

// Append appends the Community ID of f, computed with seed, to dst. ok is
// false, and dst unchanged, when the addresses are invalid or of different
// families (an IPv4-mapped IPv6 address counts as IPv4 then).
func Append(dst []byte, seed uint16, f Flow) (out []byte, ok bool) {
	src, dstAddr := f.Src, f.Dst
	if !src.IsValid() || !dstAddr.IsValid() {
		return dst, false
	}
	if src.Is4() != dstAddr.Is4() {
		src, dstAddr = src.Unmap(), dstAddr.Unmap()
		if src.Is4() != dstAddr.Is4() {
			return dst, false
		}
	}
	sport, dport := f.SrcPort, f.DstPort
	ports, oneWay := false, false
	switch f.Proto {
	case protoTCP, protoUDP, protoSCTP:
		ports = true
	case protoICMP:
		ports = true
		sport, dport, oneWay = icmpPorts(icmpv4Pairs, sport, dport)
	case protoICMPv6:
		ports = true
		sport, dport, oneWay = icmpPorts(icmpv6Pairs, sport, dport)
	}

	var sb, db [16]byte
	s, d := addrBytes(&sb, src), addrBytes(&db, dstAddr)
	if !oneWay {
		c := bytes.Compare(s, d)
		if c > 0 || c == 0 && ports && sport > dport {
			s, d = d, s
			sport, dport = dport, sport
		}
	}

	var buf [2 + 16 + 16 + 4 + 4]byte
	binary.BigEndian.PutUint16(buf[0:], seed)
	n := 2
	n += copy(buf[n:], s)
	n += copy(buf[n:], d)
	buf[n] = f.Proto
	buf[n+1] = 0 // padding
	n += 2
	if ports {
		binary.BigEndian.PutUint16(buf[n:], sport)
		binary.BigEndian.PutUint16(buf[n+2:], dport)
		n += 4
	}
	sum := sha1.Sum(buf[:n])
	dst = append(dst, '1', ':')
	return base64.StdEncoding.AppendEncode(dst, sum[:]), true
}

// addrBytes returns a's network-order bytes, stored in buf. (Addr.AsSlice
// would allocate.)
func addrBytes(buf *[16]byte, a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return buf[:copy(buf[:], b[:])]
	}
	*buf = a.As16()
	return buf[:]
}

// icmpPorts maps an ICMP type and code to port equivalents as the
// specification does: a request or reply type is paired with its counterpart
// so both directions hash alike; any other type is one-way, hashed with its
// code and never reordered.
func icmpPorts(pairs []int16, typ, code uint16) (sport, dport uint16, oneWay bool) {
	if typ < uint16(len(pairs)) && pairs[typ] >= 0 {
		return typ, uint16(pairs[typ]), false
	}
	return typ, code, true
}

// ICMP message types and their counterparts; -1 where there is none.
var icmpv4Pairs = pairs(256, [][2]uint16{
	{8, 0},   // echo request, echo reply
	{13, 14}, // timestamp
	{15, 16}, // information
	{10, 9},  // router solicitation, advertisement
	{17, 18}, // address mask
})

var icmpv6Pairs = pairs(256, [][2]uint16{
	{128, 129}, // echo request, echo reply
	{130, 131}, // multicast listener query, report
	{133, 134}, // router solicitation, advertisement
	{135, 136}, // neighbor solicitation, advertisement
	{139, 140}, // node information query, response
	{144, 145}, // home agent address discovery request, reply
})

func pairs(n int, list [][2]uint16) []int16 {
	t := make([]int16, n)
	for i := range t {
		t[i] = -1
	}
	for _, p := range list {
		t[p[0]], t[p[1]] = int16(p[1]), int16(p[0])
	}
	return t
}
