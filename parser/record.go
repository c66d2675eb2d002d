package parser

import (
	"net/netip"
)

// Action is what the firewall did with the traffic of a flow.
type Action uint8

// Actions. ActionNone is the "-" of NODATA and SKIPDATA records.
const (
	ActionNone Action = iota
	ActionAccept
	ActionReject
)

// String returns the record text of the action: ACCEPT, REJECT or "-".
func (a Action) String() string {
	switch a {
	case ActionAccept:
		return "ACCEPT"
	case ActionReject:
		return "REJECT"
	}
	return "-"
}

// parseAction returns the action of its record text, ACCEPT or REJECT.
func parseAction(v []byte) (Action, bool) {
	switch string(v) {
	case "ACCEPT":
		return ActionAccept, true
	case "REJECT":
		return ActionReject, true
	}
	return ActionNone, false
}

// LogStatus says whether a record describes traffic, lost records or silence.
type LogStatus uint8

// Log statuses. LogStatusNone is the "-" of a layout without log-status.
const (
	LogStatusNone LogStatus = iota
	LogStatusOK
	LogStatusSkipData
	LogStatusNoData
)

// String returns the record text of the status: OK, SKIPDATA, NODATA or "-".
func (s LogStatus) String() string {
	switch s {
	case LogStatusOK:
		return "OK"
	case LogStatusSkipData:
		return "SKIPDATA"
	case LogStatusNoData:
		return "NODATA"
	}
	return "-"
}

// parseLogStatus returns the status of its record text: OK, SKIPDATA or NODATA.
func parseLogStatus(v []byte) (LogStatus, bool) {
	switch string(v) {
	case "OK":
		return LogStatusOK, true
	case "SKIPDATA":
		return LogStatusSkipData, true
	case "NODATA":
		return LogStatusNoData, true
	}
	return LogStatusNone, false
}

// FlowDirection is the direction of a flow as the interface saw it: AWS's
// flow-direction field, or IBM's direction.
type FlowDirection uint8

// Flow directions. FlowDirectionNone is "-" or a value not known.
const (
	FlowDirectionNone FlowDirection = iota
	FlowDirectionIngress
	FlowDirectionEgress
)

// String returns "ingress", "egress" or "".
func (d FlowDirection) String() string {
	switch d {
	case FlowDirectionIngress:
		return "ingress"
	case FlowDirectionEgress:
		return "egress"
	}
	return ""
}

// Record is one flow-log record. Typed fields hold the parsed values of the
// fields flowlog interprets; Has tells whether a field had a value ("-" and
// Tencent's "-1" mean it had none). Every column of the record's layout,
// interpreted or not, is also reachable as text through Value and Column.
//
// A Record filled by a Reader or by ParseLine refers to the reader's buffer:
// its byte slices are valid only until the next record is read. Use Clone to
// keep one.
type Record struct {
	Version     uint8
	AccountID   []byte
	InterfaceID []byte
	SrcAddr     netip.Addr
	DstAddr     netip.Addr
	SrcPort     uint16
	DstPort     uint16
	Protocol    uint8
	Packets     uint64
	Bytes       uint64
	Start       int64 // unix seconds
	End         int64 // unix seconds
	Action      Action
	LogStatus   LogStatus

	// Interpreted fields of AWS versions 3 to 5.
	TCPFlags      uint16
	PktSrcAddr    netip.Addr
	PktDstAddr    netip.Addr
	TrafficPath   uint8
	FlowDirection FlowDirection // ingress or egress; None for other texts

	set    uint64 // bit f set: field f had a value
	layout *Layout
	line   []byte   // the parsed line, for the text of its columns
	cols   [][]byte // columns of line, split on first use
	split  bool     // cols holds the columns of line
}

// Has reports whether field f had a value in the record.
func (r *Record) Has(f Field) bool { return r.set&(1<<f) != 0 }

// Mark records that fields have values, for records built in code rather than
// parsed. Typed fields must be assigned before writing the record.
func (r *Record) Mark(fields ...Field) {
	for _, f := range fields {
		r.set |= 1 << f
	}
}

// MarkFlow marks all fourteen version-2 fields as having values.
func (r *Record) MarkFlow() { r.set |= v2Mask }

// Reset clears the record for reuse, keeping its buffers.
func (r *Record) Reset() {
	*r = Record{cols: r.cols[:0]}
}

// Layout returns the column layout the record was parsed with, or nil for a
// record built in code.
func (r *Record) Layout() *Layout { return r.layout }

// Column returns the text of column i of the record's layout. The first call
// for a record splits its line; the parser itself never needs to.
func (r *Record) Column(i int) []byte { return r.columns()[i] }

func (r *Record) columns() [][]byte {
	if !r.split {
		r.cols = split(r.cols[:0], r.line)
		r.split = true
	}
	return r.cols
}

// Text returns the column text of the known field f; ok is false when the
// layout has no column for f. The text is "-" for a field without value.
func (r *Record) Text(f Field) (text []byte, ok bool) {
	if r.layout == nil || !r.layout.Has(f) {
		return nil, false
	}
	return r.Column(int(r.layout.column[f])), true
}

// Value returns the text of the column with the given header name, for known
// and unknown names alike; ok is false when the layout has no such column.
// The text is "-" for a field without value.
func (r *Record) Value(name string) (text []byte, ok bool) {
	if r.layout == nil {
		return nil, false
	}
	i := r.layout.Index(name)
	if i < 0 {
		return nil, false
	}
	return r.Column(i), true
}

// CopySize returns the number of bytes CopyTo needs.
func (r *Record) CopySize() int { return len(r.line) + len(r.AccountID) + len(r.InterfaceID) }

// CopyTo makes dst a copy of r whose byte slices live in buf, which must have
// room for CopySize bytes; dst keeps its own column buffer. The copy stays
// valid as long as buf does, so a batch of records can outlive the reader's
// buffer without an allocation per record.
func (r *Record) CopyTo(dst *Record, buf []byte) {
	cols := dst.cols[:0]
	*dst = *r
	dst.cols, dst.split = cols, false
	dst.line = copyInto(&buf, r.line)
	dst.AccountID = copyInto(&buf, r.AccountID)
	dst.InterfaceID = copyInto(&buf, r.InterfaceID)
}

// copyInto copies b to the front of *buf and advances it; nil stays nil.
func copyInto(buf *[]byte, b []byte) []byte {
	if b == nil {
		return nil
	}
	n := copy((*buf)[:len(b)], b)
	out := (*buf)[:n:n]
	*buf = (*buf)[n:]
	return out
}

// Clone returns a deep copy of r that stays valid after the next read.
func (r *Record) Clone() *Record {
	c := *r
	c.line = cloneBytes(r.line)
	c.cols, c.split = nil, false
	c.AccountID = cloneBytes(r.AccountID)
	c.InterfaceID = cloneBytes(r.InterfaceID)
	return &c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

const v2Mask = 1<<FieldVersion | 1<<FieldAccountID | 1<<FieldInterfaceID |
	1<<FieldSrcAddr | 1<<FieldDstAddr | 1<<FieldSrcPort | 1<<FieldDstPort |
	1<<FieldProtocol | 1<<FieldPackets | 1<<FieldBytes | 1<<FieldStart |
	1<<FieldEnd | 1<<FieldAction | 1<<FieldLogStatus
