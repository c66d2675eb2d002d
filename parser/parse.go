package parser

import (
	"encoding/binary"
	"errors"
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
	if scanV2(rec, line) {
		return nil
	}
	err := V2.scan(rec, line)
	if err == nil {
		return nil
	}
	// On any error, a wrong field count is the better explanation.
	n := countFields(line)
	if n == V2.Len() {
		return err
	}
	if l := canonicalLayout(n); l != nil {
		return l.scan(rec, line)
	}
	return fieldCountError(n, nil)
}

// Parse parses one record line in layout l. A trailing line end is ignored.
// rec is overwritten; its byte slices point into line.
func (l *Layout) Parse(rec *Record, line []byte) error {
	line = trimEOL(line)
	err := l.scan(rec, line)
	if err != nil {
		if n := countFields(line); n != l.Len() {
			return fieldCountError(n, l)
		}
	}
	return err
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

// errFieldCount is scan's signal that the line has more or fewer fields than
// the layout; callers count the fields and say so.
var errFieldCount = errors.New("field count")

// scan parses line in one pass: each field's parser consumes its bytes up to
// the next space, so no byte is looked at twice on the common path. Runs of
// spaces count as one separator, so a stray double or trailing space is
// harmless.
func (l *Layout) scan(rec *Record, line []byte) error {
	*rec = Record{layout: l, line: line, cols: rec.cols[:0]}
	pos := 0
	for _, f := range l.fields {
		if pos < len(line) && line[pos] == ' ' {
			for pos++; pos < len(line) && line[pos] == ' '; pos++ {
			}
		}
		if pos == len(line) {
			return errFieldCount
		}
		if line[pos] == '-' && (pos+1 == len(line) || line[pos+1] == ' ') {
			pos++
			continue
		}
		var err error
		switch fieldKinds[f] {
		case kindUint:
			pos, err = rec.scanUint(f, line, pos)
		case kindAddr:
			pos, err = rec.scanAddr(f, line, pos)
		default:
			start := pos
			pos = tokenEnd(line, pos)
			err = rec.setText(f, line[start:pos])
		}
		if err != nil {
			if err == errNoValue {
				continue
			}
			return err
		}
		rec.set |= 1 << f
	}
	for pos < len(line) && line[pos] == ' ' {
		pos++
	}
	if pos < len(line) {
		return errFieldCount
	}
	return nil
}

// errNoValue reports Tencent's "-1": the field has no value, and that is fine.
var errNoValue = errors.New("no value")

// scanUint parses the number at line[pos:] into field f and returns the end
// of the field. The loop handles plain digits; anything else (a sign, a
// letter, more than 19 digits) takes the slow path, which finds the error or
// Tencent's "-1".
func (rec *Record) scanUint(f Field, line []byte, pos int) (int, error) {
	n, i := digits(line, pos)
	if i-pos > 19 || i < len(line) && line[i] != ' ' {
		end := tokenEnd(line, pos)
		var st numStatus
		n, st = parseUint(line[pos:end], fieldMax[f])
		if st != numOK {
			if st == numNone {
				return end, errNoValue
			}
			return end, numError(f, line[pos:end], st, fieldMax[f])
		}
		i = end
	}
	if n > fieldMax[f] {
		return i, numError(f, line[pos:i], numRange, fieldMax[f])
	}
	switch f {
	case FieldVersion:
		rec.Version = uint8(n)
	case FieldSrcPort:
		rec.SrcPort = uint16(n)
	case FieldDstPort:
		rec.DstPort = uint16(n)
	case FieldProtocol:
		rec.Protocol = uint8(n)
	case FieldPackets:
		rec.Packets = n
	case FieldBytes:
		rec.Bytes = n
	case FieldStart:
		rec.Start = int64(n)
	case FieldEnd:
		rec.End = int64(n)
	case FieldTCPFlags:
		rec.TCPFlags = uint16(n)
	case FieldTrafficPath:
		rec.TrafficPath = uint8(n)
	}
	return i, nil
}

// digits reads the decimal digits at line[pos:] and returns their value and
// where they end. Past 19 digits the value wraps: callers check the count.
func digits(line []byte, pos int) (n uint64, end int) {
	i := pos
	for ; i < len(line); i++ {
		d := line[i] - '0'
		if d > 9 {
			break
		}
		n = n*10 + uint64(d)
	}
	return n, i
}

// scanAddr parses the address at line[pos:] into field f and returns the end
// of the field.
func (rec *Record) scanAddr(f Field, line []byte, pos int) (int, error) {
	a, end, ok := parseAddrAt(line, pos)
	if !ok {
		end = tokenEnd(line, pos)
		return end, addrError(f, line[pos:end])
	}
	switch f {
	case FieldSrcAddr:
		rec.SrcAddr = a
	case FieldDstAddr:
		rec.DstAddr = a
	case FieldPktSrcAddr:
		rec.PktSrcAddr = a
	case FieldPktDstAddr:
		rec.PktDstAddr = a
	}
	return end, nil
}

// setText stores a text field, checking the enumerated ones.
func (rec *Record) setText(f Field, v []byte) error {
	switch f {
	case FieldAccountID:
		rec.AccountID = v
	case FieldInterfaceID:
		rec.InterfaceID = v
	case FieldAction:
		a, ok := parseAction(v)
		if !ok {
			return &LineError{Field: f.String(), Reason: "want ACCEPT, REJECT or -, got", Value: quote(v), Err: ErrValue}
		}
		rec.Action = a
	case FieldLogStatus:
		st, ok := parseLogStatus(v)
		if !ok {
			return &LineError{Field: f.String(), Reason: "want OK, SKIPDATA, NODATA or -, got", Value: quote(v), Err: ErrValue}
		}
		rec.LogStatus = st
	case FieldFlowDirection:
		switch string(v) {
		case "ingress":
			rec.FlowDirection = FlowDirectionIngress
		case "egress":
			rec.FlowDirection = FlowDirectionEgress
		}
	}
	return nil
}

// tokenEnd returns the index of the first space at or after pos, or len(line).
// Fields are a few bytes long, too short for bytes.IndexByte's vector setup
// to pay off, so it looks at eight bytes per step.
func tokenEnd(line []byte, pos int) int {
	i := pos
	for ; i+8 <= len(line); i += 8 {
		if m := spaceMask(binary.LittleEndian.Uint64(line[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(line); i++ {
		if line[i] == ' ' {
			return i
		}
	}
	return i
}

// spaceMask returns a word with the high bit set in each byte of w that is a
// space, and nothing else set. Unlike the common "has zero byte" trick it is
// exact: no borrow from one byte reaches the next.
func spaceMask(w uint64) uint64 {
	const lo7 = 0x7f7f7f7f7f7f7f7f
	x := w ^ 0x2020202020202020 // spaces become zero bytes
	return ^((x&lo7 + lo7) | x | lo7)
}

// split appends the space-separated fields of line to dst.
func split(dst [][]byte, line []byte) [][]byte {
	for pos := 0; pos < len(line); {
		if line[pos] == ' ' {
			pos++
			continue
		}
		end := tokenEnd(line, pos)
		dst = append(dst, line[pos:end])
		pos = end
	}
	return dst
}

// countFields counts the space-separated fields of line.
func countFields(line []byte) int {
	n := 0
	for pos := 0; pos < len(line); {
		if line[pos] == ' ' {
			pos++
			continue
		}
		n++
		pos = tokenEnd(line, pos)
	}
	return n
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

// ParseAddr parses a whole IPv4 (dotted quad) or IPv6 address without zone,
// accepting what net/netip accepts, without allocating.
func ParseAddr(b []byte) (netip.Addr, bool) {
	if ip, end, ok := parseIPv4At(b, 0); ok && end == len(b) {
		return netip.AddrFrom4(ip), true
	}
	for _, c := range b {
		if c == ' ' {
			return netip.Addr{}, false
		}
	}
	return parseIPv6(b)
}

// parseAddrAt parses the address at line[pos:], up to the next space: a
// dotted-quad IPv4 address or an IPv6 address without zone. Dotted quads with
// leading zeros ("010.1.1.1") are refused, as net/netip does, because their
// meaning (octal or decimal) is ambiguous.
func parseAddrAt(line []byte, pos int) (netip.Addr, int, bool) {
	if ip, end, ok := parseIPv4At(line, pos); ok {
		return netip.AddrFrom4(ip), end, true
	}
	end := tokenEnd(line, pos)
	a, ok := parseIPv6(line[pos:end])
	return a, end, ok
}

// parseIPv4At parses a dotted quad at line[pos:] that ends the line or is
// followed by a space, one octet at a time.
func parseIPv4At(line []byte, pos int) (ip [4]byte, end int, ok bool) {
	for k := range 4 {
		if pos >= len(line) {
			return ip, pos, false
		}
		v := uint(line[pos] - '0')
		if v > 9 {
			return ip, pos, false
		}
		pos++
		for n := 1; n < 3 && pos < len(line); n++ {
			d := uint(line[pos] - '0')
			if d > 9 {
				break
			}
			if v == 0 {
				return ip, pos, false // leading zero
			}
			v = v*10 + d
			pos++
		}
		if v > 255 {
			return ip, pos, false
		}
		ip[k] = byte(v)
		if k < 3 {
			if pos >= len(line) || line[pos] != '.' {
				return ip, pos, false
			}
			pos++
		}
	}
	return ip, pos, pos == len(line) || line[pos] == ' '
}

// parseIPv6 parses an IPv6 address without zone, accepting exactly what
// net/netip accepts (a fuzz test holds it to that) at a fraction of the cost:
// hex groups of up to four digits, one "::" standing for at least one zero
// group, and an optional dotted quad in the last 32 bits.
func parseIPv6(s []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // where in ip the "::" stands
	i, j := 0, 0   // positions in s and ip
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis, i = 0, 2
		if i == len(s) {
			return netip.AddrFrom16(ip), true // "::"
		}
	}
	for j < 16 {
		off := i
		acc := uint32(0)
		for ; i < len(s) && i-off < 5; i++ {
			d := hexDigit[s[i]]
			if d > 15 {
				break
			}
			acc = acc<<4 | uint32(d)
		}
		if i == off || i-off > 4 {
			return netip.Addr{}, false // empty or too long group
		}
		if i < len(s) && s[i] == '.' { // dotted quad ends the address
			if ellipsis < 0 && j != 12 || j+4 > 16 {
				return netip.Addr{}, false
			}
			v4, end, ok := parseIPv4At(s, off)
			if !ok || end != len(s) {
				return netip.Addr{}, false
			}
			copy(ip[j:], v4[:])
			i, j = end, j+4
			break
		}
		ip[j], ip[j+1] = byte(acc>>8), byte(acc)
		j += 2
		if i == len(s) {
			break
		}
		if s[i] != ':' || i+1 == len(s) {
			return netip.Addr{}, false // junk, or a trailing single ':'
		}
		i++
		if s[i] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false // a second "::"
			}
			ellipsis = j
			i++
			if i == len(s) {
				break
			}
		}
	}
	if i != len(s) {
		return netip.Addr{}, false
	}
	if j < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - j
		copy(ip[ellipsis+n:], ip[ellipsis:j])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false // "::" must stand for at least one group
	}
	return netip.AddrFrom16(ip), true
}

// hexDigit maps a byte to its hex value, or to 0xff.
var hexDigit = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()

// unsafeString views b as a string without copying. The string must not
// outlive b's contents: only pass it to functions that do not keep it.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
