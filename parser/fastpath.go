package parser

import "net/netip"

// scanV2 parses the line shape that makes up nearly every object: the
// default format with all fourteen values, single spaces between them. It is
// straight-line code with no per-field dispatch. On anything else (a "-", a
// run of spaces, an error, another field count) it returns false, and the
// general scan parses the line and explains what is wrong with it. The fuzz
// tests check that both paths agree.
func scanV2(rec *Record, line []byte) bool {
	*rec = Record{layout: V2, line: line, cols: rec.cols[:0], set: v2Mask}
	var n uint64
	var ok bool
	p := 0
	if n, p, ok = uintField(line, p); !ok || n > maxUint8 {
		return false
	}
	rec.Version = uint8(n)
	if rec.AccountID, p, ok = textField(line, p); !ok {
		return false
	}
	if rec.InterfaceID, p, ok = textField(line, p); !ok {
		return false
	}
	if rec.SrcAddr, p, ok = addrField(line, p); !ok {
		return false
	}
	if rec.DstAddr, p, ok = addrField(line, p); !ok {
		return false
	}
	if n, p, ok = uintField(line, p); !ok || n > maxUint16 {
		return false
	}
	rec.SrcPort = uint16(n)
	if n, p, ok = uintField(line, p); !ok || n > maxUint16 {
		return false
	}
	rec.DstPort = uint16(n)
	if n, p, ok = uintField(line, p); !ok || n > maxUint8 {
		return false
	}
	rec.Protocol = uint8(n)
	if rec.Packets, p, ok = uintField(line, p); !ok {
		return false
	}
	if rec.Bytes, p, ok = uintField(line, p); !ok {
		return false
	}
	if n, p, ok = uintField(line, p); !ok || n > maxUnixSec {
		return false
	}
	rec.Start = int64(n)
	if n, p, ok = uintField(line, p); !ok || n > maxUnixSec {
		return false
	}
	rec.End = int64(n)
	var v []byte
	if v, p, ok = textField(line, p); !ok {
		return false
	}
	if rec.Action, ok = parseAction(v); !ok {
		return false
	}
	if v, p, ok = textField(line, p); !ok {
		return false
	}
	if rec.LogStatus, ok = parseLogStatus(v); !ok {
		return false
	}
	return p == len(line)
}

// next returns where the field after one ending at e starts: past a single
// space, or len(line) at the end of the line. ok is false if anything but a
// space follows the field.
func next(line []byte, e int) (int, bool) {
	if e == len(line) {
		return e, true
	}
	return e + 1, line[e] == ' '
}

// uintField parses 1 to 19 digits at line[p:].
func uintField(line []byte, p int) (uint64, int, bool) {
	n, i := digits(line, p)
	if i == p || i-p > 19 {
		return 0, p, false
	}
	e, ok := next(line, i)
	return n, e, ok
}

// textField returns the non-empty field at line[p:], refusing "-".
func textField(line []byte, p int) ([]byte, int, bool) {
	e := tokenEnd(line, p)
	if e == p || e-p == 1 && line[p] == '-' {
		return nil, p, false
	}
	v := line[p:e]
	e, ok := next(line, e)
	return v, e, ok
}

// addrField parses the address at line[p:].
func addrField(line []byte, p int) (netip.Addr, int, bool) {
	a, e, ok := parseAddrAt(line, p)
	if !ok {
		return a, p, false
	}
	e, ok = next(line, e)
	return a, e, ok
}
