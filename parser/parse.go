package parser

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"
	"unsafe"
)

// Value limits. Times are bounded so that every accepted time can be written
// as an RFC 3339 date (year 9999 at most).
const (
	maxUint8   = 1<<8 - 1
	maxUint16  = 1<<16 - 1
	maxUint64  = 1<<64 - 1
	maxUnixSec = 253402300799 // 9999-12-31T23:59:59Z
)

// ParseLine parses one record line that has no header before it. The layout
// is chosen by the number of fields: 14 is the version-2 default format;
// 21, 25, 29, 39 and 40 are AWS's "all fields up to version 3, 4, 5, 7 and 8"
// in table order. A trailing line end (LF or CRLF) is ignored.
//
// rec is overwritten; its byte slices point into line.
func ParseLine(rec *Record, line []byte) error {
	line = trimEOL(line)
	rec.values = split(rec.values[:0], line)
	l := canonicalLayout(len(rec.values))
	if l == nil {
		return fieldCountError(len(rec.values), nil)
	}
	return l.fill(rec)
}

// Parse parses one record line in layout l. A trailing line end is ignored.
// rec is overwritten; its byte slices point into line.
func (l *Layout) Parse(rec *Record, line []byte) error {
	rec.values = split(rec.values[:0], trimEOL(line))
	if len(rec.values) != len(l.fields) {
		return fieldCountError(len(rec.values), l)
	}
	return l.fill(rec)
}

func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// split appends the space-separated fields of line to dst. Runs of spaces
// count as one separator, so a stray double or trailing space is harmless.
//
// Fields are a few bytes long, too short for bytes.IndexByte's vector setup
// to pay off, so split looks at eight bytes per step: spaceMask marks the
// spaces of a word, and each marked byte ends a field.
func split(dst [][]byte, line []byte) [][]byte {
	start, i := 0, 0
	for ; i+8 <= len(line); i += 8 {
		m := spaceMask(binary.LittleEndian.Uint64(line[i:]))
		for m != 0 {
			j := i + bits.TrailingZeros64(m)>>3
			if j > start {
				dst = append(dst, line[start:j])
			}
			start = j + 1
			m &= m - 1
		}
	}
	for ; i < len(line); i++ {
		if line[i] == ' ' {
			if i > start {
				dst = append(dst, line[start:i])
			}
			start = i + 1
		}
	}
	if start < len(line) {
		dst = append(dst, line[start:])
	}
	return dst
}

// spaceMask returns a word with the high bit set in each byte of w that is a
// space, and nothing else set. Unlike the common "has zero byte" trick it is
// exact: no borrow from one byte reaches the next.
func spaceMask(w uint64) uint64 {
	const lo7 = 0x7f7f7f7f7f7f7f7f
	x := w ^ 0x2020202020202020 // spaces become zero bytes
	return ^((x&lo7 + lo7) | x | lo7)
}

func fieldCountError(got int, l *Layout) error {
	reason := "has " + strconv.Itoa(got) + " fields, want "
	if l == nil {
		reason += "14 (version-2 default format; 21, 25, 29, 39 or 40 for AWS's all-field formats, or a header line first)"
	} else {
		reason += strconv.Itoa(len(l.fields)) + " as the header names"
	}
	return &LineError{Reason: reason, Err: ErrFieldCount}
}

// fill interprets rec.values, already split, according to l.
func (l *Layout) fill(rec *Record) error {
	values := rec.values
	*rec = Record{values: values, layout: l}
	for i, f := range l.fields {
		v := values[i]
		if len(v) == 1 && v[0] == '-' {
			continue
		}
		switch f {
		case FieldVersion:
			n, st := parseUint(v, maxUint8)
			if st != numOK {
				if err := numError(f, v, st, maxUint8); err != nil {
					return err
				}
				continue
			}
			rec.Version = uint8(n)
		case FieldAccountID:
			rec.AccountID = v
		case FieldInterfaceID:
			rec.InterfaceID = v
		case FieldSrcAddr:
			a, ok := parseAddr(v)
			if !ok {
				return addrError(f, v)
			}
			rec.SrcAddr = a
		case FieldDstAddr:
			a, ok := parseAddr(v)
			if !ok {
				return addrError(f, v)
			}
			rec.DstAddr = a
		case FieldSrcPort:
			n, st := parseUint(v, maxUint16)
			if st != numOK {
				if err := numError(f, v, st, maxUint16); err != nil {
					return err
				}
				continue
			}
			rec.SrcPort = uint16(n)
		case FieldDstPort:
			n, st := parseUint(v, maxUint16)
			if st != numOK {
				if err := numError(f, v, st, maxUint16); err != nil {
					return err
				}
				continue
			}
			rec.DstPort = uint16(n)
		case FieldProtocol:
			n, st := parseUint(v, maxUint8)
			if st != numOK {
				if err := numError(f, v, st, maxUint8); err != nil {
					return err
				}
				continue
			}
			rec.Protocol = uint8(n)
		case FieldPackets:
			n, st := parseUint(v, maxUint64)
			if st != numOK {
				if err := numError(f, v, st, maxUint64); err != nil {
					return err
				}
				continue
			}
			rec.Packets = n
		case FieldBytes:
			n, st := parseUint(v, maxUint64)
			if st != numOK {
				if err := numError(f, v, st, maxUint64); err != nil {
					return err
				}
				continue
			}
			rec.Bytes = n
		case FieldStart:
			n, st := parseUint(v, maxUnixSec)
			if st != numOK {
				if err := numError(f, v, st, maxUnixSec); err != nil {
					return err
				}
				continue
			}
			rec.Start = int64(n)
		case FieldEnd:
			n, st := parseUint(v, maxUnixSec)
			if st != numOK {
				if err := numError(f, v, st, maxUnixSec); err != nil {
					return err
				}
				continue
			}
			rec.End = int64(n)
		case FieldAction:
			switch string(v) {
			case "ACCEPT":
				rec.Action = ActionAccept
			case "REJECT":
				rec.Action = ActionReject
			default:
				return &LineError{Field: f.String(), Reason: "want ACCEPT, REJECT or -, got", Value: quote(v), Err: ErrValue}
			}
		case FieldLogStatus:
			switch string(v) {
			case "OK":
				rec.LogStatus = LogStatusOK
			case "SKIPDATA":
				rec.LogStatus = LogStatusSkipData
			case "NODATA":
				rec.LogStatus = LogStatusNoData
			default:
				return &LineError{Field: f.String(), Reason: "want OK, SKIPDATA, NODATA or -, got", Value: quote(v), Err: ErrValue}
			}
		case FieldTCPFlags:
			n, st := parseUint(v, maxUint16)
			if st != numOK {
				if err := numError(f, v, st, maxUint16); err != nil {
					return err
				}
				continue
			}
			rec.TCPFlags = uint16(n)
		case FieldTrafficPath:
			n, st := parseUint(v, maxUint8)
			if st != numOK {
				if err := numError(f, v, st, maxUint8); err != nil {
					return err
				}
				continue
			}
			rec.TrafficPath = uint8(n)
		case FieldPktSrcAddr:
			a, ok := parseAddr(v)
			if !ok {
				return addrError(f, v)
			}
			rec.PktSrcAddr = a
		case FieldPktDstAddr:
			a, ok := parseAddr(v)
			if !ok {
				return addrError(f, v)
			}
			rec.PktDstAddr = a
		}
		rec.set |= 1 << f
	}
	return nil
}

type numStatus uint8

const (
	numOK       numStatus = iota
	numNone               // "-1": Tencent's "no value"
	numSyntax             // not a decimal number
	numNegative           // a negative number other than -1
	numRange              // above the field's maximum
)

// parseUint parses a decimal number of at most max. It accepts digits only:
// no sign, no spaces, no base prefix.
func parseUint(b []byte, max uint64) (uint64, numStatus) {
	if len(b) == 0 {
		return 0, numSyntax
	}
	if b[0] == '-' {
		if len(b) == 2 && b[1] == '1' {
			return 0, numNone
		}
		if len(b) > 1 && allDigits(b[1:]) {
			return 0, numNegative
		}
		return 0, numSyntax
	}
	if len(b) > 19 { // 10^19 > 2^63: check for overflow the slow way
		if !allDigits(b) {
			return 0, numSyntax
		}
		n, err := strconv.ParseUint(unsafeString(b), 10, 64)
		if err != nil || n > max {
			return 0, numRange
		}
		return n, numOK
	}
	var n uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, numSyntax
		}
		n = n*10 + uint64(d)
	}
	if n > max {
		return 0, numRange
	}
	return n, numOK
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func numError(f Field, v []byte, st numStatus, max uint64) error {
	var reason string
	switch st {
	case numNone:
		return nil
	case numNegative:
		reason = "negative value"
	case numRange:
		reason = "value out of range 0-" + strconv.FormatUint(max, 10) + ":"
	default:
		reason = "not a number:"
	}
	return &LineError{Field: f.String(), Reason: reason, Value: quote(v), Err: ErrValue}
}

func addrError(f Field, v []byte) error {
	return &LineError{Field: f.String(), Reason: "not an IPv4 or IPv6 address:", Value: quote(v), Err: ErrValue}
}

// parseAddr parses a dotted-quad IPv4 address or an IPv6 address without
// zone. Dotted quads with leading zeros ("010.1.1.1") are refused, as
// net/netip does, because their meaning (octal or decimal) is ambiguous.
func parseAddr(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	var octet, digits, dots int
	bad := false // not a valid dotted quad; it may still be IPv6
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && octet == 0 {
				bad = true // leading zero
			}
			octet = octet*10 + int(c-'0')
			digits++
			if digits > 3 {
				bad = true
			}
		case c == '.':
			if digits == 0 || dots == 3 || octet > 255 {
				bad = true
			}
			if dots < 3 {
				ip[dots] = byte(octet)
			}
			dots++
			octet, digits = 0, 0
		case c == ':' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			return parseIPv6(b)
		default:
			return netip.Addr{}, false
		}
	}
	if bad || dots != 3 || digits == 0 || octet > 255 {
		return netip.Addr{}, false
	}
	ip[3] = byte(octet)
	return netip.AddrFrom4(ip), true
}

func parseIPv6(b []byte) (netip.Addr, bool) {
	if bytes.IndexByte(b, '%') >= 0 || bytes.IndexByte(b, ':') < 0 {
		return netip.Addr{}, false // zones have no meaning in a flow log
	}
	a, err := netip.ParseAddr(unsafeString(b))
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

// unsafeString views b as a string without copying. The string must not
// outlive b's contents: only pass it to functions that do not keep it.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
