package parser

import (
	"strconv"

	"github.com/flowlog/flowlog/internal/jsonenc"
)

// AppendHeader appends the version-2 header line, with its line end.
func AppendHeader(dst []byte) []byte {
	for i, n := range V2.names {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, n...)
	}
	return append(dst, '\n')
}

// AppendRecord appends rec as a version-2 line, with its line end. Fields of
// other versions are left out; a field without value is written as "-".
func AppendRecord(dst []byte, rec *Record) []byte {
	for i, f := range V2.fields {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendText(dst, rec, f)
	}
	return append(dst, '\n')
}

// appendText appends the record text of a known field, "-" without value.
func appendText(dst []byte, rec *Record, f Field) []byte {
	if !rec.Has(f) {
		return append(dst, '-')
	}
	switch f {
	case FieldVersion:
		return strconv.AppendUint(dst, uint64(rec.Version), 10)
	case FieldAccountID:
		return append(dst, rec.AccountID...)
	case FieldInterfaceID:
		return append(dst, rec.InterfaceID...)
	case FieldSrcAddr:
		return rec.SrcAddr.AppendTo(dst)
	case FieldDstAddr:
		return rec.DstAddr.AppendTo(dst)
	case FieldSrcPort:
		return strconv.AppendUint(dst, uint64(rec.SrcPort), 10)
	case FieldDstPort:
		return strconv.AppendUint(dst, uint64(rec.DstPort), 10)
	case FieldProtocol:
		return strconv.AppendUint(dst, uint64(rec.Protocol), 10)
	case FieldPackets:
		return strconv.AppendUint(dst, rec.Packets, 10)
	case FieldBytes:
		return strconv.AppendUint(dst, rec.Bytes, 10)
	case FieldStart:
		return strconv.AppendInt(dst, rec.Start, 10)
	case FieldEnd:
		return strconv.AppendInt(dst, rec.End, 10)
	case FieldAction:
		return append(dst, rec.Action.String()...)
	case FieldLogStatus:
		return append(dst, rec.LogStatus.String()...)
	case FieldTCPFlags:
		return strconv.AppendUint(dst, uint64(rec.TCPFlags), 10)
	case FieldTrafficPath:
		return strconv.AppendUint(dst, uint64(rec.TrafficPath), 10)
	case FieldPktSrcAddr:
		return rec.PktSrcAddr.AppendTo(dst)
	case FieldPktDstAddr:
		return rec.PktDstAddr.AppendTo(dst)
	}
	return dst
}

// AppendJSON appends rec as one flat JSON object, without line end: a key per
// column of the record's layout (the version-2 fields for a record built in
// code), named in snake_case ("log_status"). Numbers are JSON numbers,
// everything else strings; a field without value is null.
func AppendJSON(dst []byte, rec *Record) []byte {
	l := rec.layout
	if l == nil {
		l = V2
	}
	dst = append(dst, '{')
	for i, f := range l.fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		if f == FieldUnknown {
			dst = jsonenc.SnakeKey(dst, l.names[i])
		} else {
			dst = append(dst, '"')
			dst = append(dst, f.Key()...)
			dst = append(dst, '"', ':')
		}
		switch {
		case f == FieldUnknown:
			v := rec.Column(i)
			if len(v) == 1 && v[0] == '-' {
				dst = append(dst, "null"...)
			} else {
				dst = jsonenc.String(dst, v)
			}
		case !rec.Has(f):
			dst = append(dst, "null"...)
		case f.numeric():
			dst = appendText(dst, rec, f)
		case f == FieldAccountID:
			dst = jsonenc.String(dst, rec.AccountID)
		case f == FieldInterfaceID:
			dst = jsonenc.String(dst, rec.InterfaceID)
		case f.typed():
			dst = append(dst, '"')
			dst = appendText(dst, rec, f)
			dst = append(dst, '"')
		default:
			dst = jsonenc.String(dst, rec.Column(i))
		}
	}
	return append(dst, '}')
}

// numeric reports whether the field's value is a number.
func (f Field) numeric() bool {
	switch f {
	case FieldVersion, FieldSrcPort, FieldDstPort, FieldProtocol, FieldPackets,
		FieldBytes, FieldStart, FieldEnd, FieldTCPFlags, FieldTrafficPath:
		return true
	}
	return false
}

// typed reports whether the parser interprets the field's value.
func (f Field) typed() bool {
	switch f {
	case FieldSrcAddr, FieldDstAddr, FieldPktSrcAddr, FieldPktDstAddr, FieldAction, FieldLogStatus:
		return true
	}
	return f.numeric()
}
