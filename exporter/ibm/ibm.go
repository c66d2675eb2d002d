// Package ibm reads IBM Cloud Flow Logs for VPC objects: one JSON document
// (gzip or not) with a header and a flow_logs array, each flow log counting
// both directions of one connection.
//
// Each flow log becomes up to two records of the version-2 shape, one per
// direction with packets: initiator → target with the *_from_initiator
// counters, and target → initiator with the *_from_target counters.
//
//	IBM                                record
//	initiator_ip/port, target_ip/port  srcaddr/srcport, dstaddr/dstport (swapped for the reply)
//	transport_protocol                 protocol
//	packets/bytes_from_initiator       packets, bytes of the initiator → target record
//	packets/bytes_from_target          packets, bytes of the target → initiator record
//	start_time, end_time (RFC 3339)    start, end
//	action accepted | rejected         ACCEPT | REJECT
//	header state ok | skip data        log-status OK | SKIPDATA
//	header network_interface_id        interface-id
//	header account (from collector_crn "a/<account>")   account-id
//	direction I | O (inbound/outbound) network.direction of each record seen from
//	                                   the vNIC: ingress for packets arriving, egress leaving
//
// The record's line number (for its event id) is 2×index+1 for the initiator
// record and 2×index+2 for the target record, index counting from 0.
package ibm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlog/flowlog/parser"
)

type object struct {
	Version            string  `json:"version"`
	CollectorCRN       string  `json:"collector_crn"`
	NetworkInterfaceID string  `json:"network_interface_id"`
	State              string  `json:"state"`
	FlowLogs           []*flow `json:"flow_logs"`
}

type flow struct {
	StartTime            *string `json:"start_time"`
	EndTime              *string `json:"end_time"`
	Direction            string  `json:"direction"`
	Action               *string `json:"action"`
	InitiatorIP          *string `json:"initiator_ip"`
	TargetIP             *string `json:"target_ip"`
	InitiatorPort        *uint16 `json:"initiator_port"`
	TargetPort           *uint16 `json:"target_port"`
	TransportProtocol    *uint8  `json:"transport_protocol"`
	BytesFromInitiator   *uint64 `json:"bytes_from_initiator"`
	PacketsFromInitiator *uint64 `json:"packets_from_initiator"`
	BytesFromTarget      *uint64 `json:"bytes_from_target"`
	PacketsFromTarget    *uint64 `json:"packets_from_target"`
}

// Reader reads the records of one object at a time.
type Reader struct {
	opts    parser.Options
	src     io.Reader
	name    string
	obj     object
	read    bool
	i, half int // next flow log and direction (0 initiator, 1 target)
	line    int
	dir     string
	account []byte
	iface   []byte
	status  parser.LogStatus
	rec     parser.Record
	err     error // sticky object error
}

// NewReader returns a reader; Reset gives it an object.
func NewReader(opts parser.Options) *Reader {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = parser.DefaultOptions().MaxBytes
	}
	return &Reader{opts: opts}
}

// Reset starts reading object name from src.
func (r *Reader) Reset(src io.Reader, name string) {
	*r = Reader{opts: r.opts, src: src, name: name}
}

// Line returns the line number of the last record, for its event id.
func (r *Reader) Line() int { return r.line }

// Direction returns network.direction of the last record as the vNIC saw
// it (ingress or egress), or "" when the object does not say.
func (r *Reader) Direction() string { return r.dir }

// Next returns the next record, valid until the next call; io.EOF at the
// end; a *parser.LineError for a flow log with a missing or bad field (the
// flow logs after it are still read); a *parser.ObjectError when the object
// cannot be read as IBM flow logs.
func (r *Reader) Next() (*parser.Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.read {
		r.read = true
		if err := r.load(); err != nil {
			r.err = err
			return nil, err
		}
		if r.obj.FlowLogs == nil && r.iface == nil {
			r.err = io.EOF
			return nil, io.EOF
		}
	}
	for r.i < len(r.obj.FlowLogs) {
		f := r.obj.FlowLogs[r.i]
		half := r.half
		r.line = 2*r.i + half + 1
		if half == 0 {
			r.half = 1
		} else {
			r.i, r.half = r.i+1, 0
		}
		if f == nil {
			if half == 0 {
				return nil, r.lineErr("", "", "flow log is null")
			}
			continue
		}
		if half == 0 {
			if err := r.check(f); err != nil {
				r.half, r.i = 0, r.i+1 // skip both records of a bad flow log
				return nil, err
			}
		}
		packets, bytes := *f.PacketsFromInitiator, *f.BytesFromInitiator
		if half == 1 {
			packets, bytes = deref(f.PacketsFromTarget), deref(f.BytesFromTarget)
			if packets == 0 {
				continue // nothing came back
			}
		}
		r.fill(f, half, packets, bytes)
		return &r.rec, nil
	}
	return nil, io.EOF
}

func deref(v *uint64) uint64 {
	if v == nil {
		return 0
	}
	return *v
}

func (r *Reader) load() error {
	br := bufio.NewReaderSize(r.src, 64<<10)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return nil // a zero-byte object holds no records
	}
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return r.objErr(parser.ErrCorrupt, err)
		}
		in = zr
	}
	lim := &io.LimitedReader{R: in, N: r.opts.MaxBytes + 1}
	dec := json.NewDecoder(lim)
	if err := dec.Decode(&r.obj); err != nil {
		switch {
		case lim.N <= 0:
			return r.objErr(parser.ErrTooLarge, fmt.Errorf("more than %d bytes decompressed", r.opts.MaxBytes))
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return r.objErr(parser.ErrTruncated, err)
		}
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syn) || errors.As(err, &typ) {
			return r.objErr(parser.ErrCorrupt, fmt.Errorf("not an IBM flow log object: %w", err))
		}
		return r.objErr(parser.ErrCorrupt, err) // read errors of the source included
	}
	if r.obj.FlowLogs == nil && r.obj.NetworkInterfaceID == "" && r.obj.CollectorCRN == "" {
		return r.objErr(parser.ErrCorrupt, errors.New("not an IBM flow log object: no flow_logs, network_interface_id or collector_crn"))
	}
	r.iface = []byte(r.obj.NetworkInterfaceID)
	r.account = []byte(account(r.obj.CollectorCRN))
	r.status = parser.LogStatusOK
	if s := strings.ToLower(r.obj.State); s == "skip data" || s == "skip_data" || s == "skipdata" {
		r.status = parser.LogStatusSkipData
	}
	return nil
}

// account takes the account id from a CRN: crn:v1:…:a/<account>::…
func account(crn string) string {
	for _, part := range strings.Split(crn, ":") {
		if a, ok := strings.CutPrefix(part, "a/"); ok {
			return a
		}
	}
	return ""
}

func (r *Reader) objErr(kind, err error) error {
	// The cause is kept as text: an io.EOF inside must not read as the end.
	return &parser.ObjectError{Object: r.name, Err: fmt.Errorf("%w: %v", kind, err)}
}

func (r *Reader) lineErr(field, value, reason string) error {
	return &parser.LineError{Object: r.name, Line: r.line, Field: field, Value: value, Reason: reason, Err: parser.ErrValue}
}

// check names the first required field a flow log lacks or has wrong.
func (r *Reader) check(f *flow) error {
	for _, c := range []struct {
		name    string
		missing bool
	}{
		{"initiator_ip", f.InitiatorIP == nil}, {"target_ip", f.TargetIP == nil},
		{"transport_protocol", f.TransportProtocol == nil}, {"action", f.Action == nil},
		{"start_time", f.StartTime == nil}, {"end_time", f.EndTime == nil},
		{"packets_from_initiator", f.PacketsFromInitiator == nil}, {"bytes_from_initiator", f.BytesFromInitiator == nil},
	} {
		if c.missing {
			return r.lineErr(c.name, "", "missing in flow log "+itoa(r.i))
		}
	}
	if _, err := netip.ParseAddr(*f.InitiatorIP); err != nil {
		return r.lineErr("initiator_ip", quote(*f.InitiatorIP), "not an IP address:")
	}
	if _, err := netip.ParseAddr(*f.TargetIP); err != nil {
		return r.lineErr("target_ip", quote(*f.TargetIP), "not an IP address:")
	}
	if a := *f.Action; a != "accepted" && a != "rejected" {
		return r.lineErr("action", quote(a), "want accepted or rejected, got")
	}
	for _, t := range []struct{ name, v string }{{"start_time", *f.StartTime}, {"end_time", *f.EndTime}} {
		if _, err := time.Parse(time.RFC3339, t.v); err != nil {
			return r.lineErr(t.name, quote(t.v), "not an RFC 3339 time:")
		}
	}
	return nil
}

func itoa(i int) string { return fmt.Sprint(i) }

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func (r *Reader) fill(f *flow, half int, packets, byteCount uint64) {
	ini, _ := netip.ParseAddr(*f.InitiatorIP)
	tgt, _ := netip.ParseAddr(*f.TargetIP)
	start, _ := time.Parse(time.RFC3339, *f.StartTime)
	end, _ := time.Parse(time.RFC3339, *f.EndTime)
	var iport, tport uint16
	if f.InitiatorPort != nil {
		iport = *f.InitiatorPort
	}
	if f.TargetPort != nil {
		tport = *f.TargetPort
	}
	rec := &r.rec
	rec.Reset()
	rec.AccountID, rec.InterfaceID = r.account, r.iface
	rec.SrcAddr, rec.DstAddr, rec.SrcPort, rec.DstPort = ini, tgt, iport, tport
	if half == 1 {
		rec.SrcAddr, rec.DstAddr, rec.SrcPort, rec.DstPort = tgt, ini, tport, iport
	}
	rec.Protocol = *f.TransportProtocol
	rec.Packets, rec.Bytes = packets, byteCount
	rec.Start, rec.End = start.Unix(), end.Unix()
	rec.Action = parser.ActionAccept
	if *f.Action == "rejected" {
		rec.Action = parser.ActionReject
	}
	rec.LogStatus = r.status
	rec.Mark(parser.FieldSrcAddr, parser.FieldDstAddr, parser.FieldSrcPort, parser.FieldDstPort, parser.FieldProtocol,
		parser.FieldPackets, parser.FieldBytes, parser.FieldStart, parser.FieldEnd, parser.FieldAction, parser.FieldLogStatus)
	if len(r.account) > 0 {
		rec.Mark(parser.FieldAccountID)
	}
	if len(r.iface) > 0 {
		rec.Mark(parser.FieldInterfaceID)
	}
	// Inbound connection: the initiator's packets arrive at the vNIC.
	inbound := f.Direction == "I" || strings.EqualFold(f.Direction, "inbound")
	outbound := f.Direction == "O" || strings.EqualFold(f.Direction, "outbound")
	switch {
	case inbound == (half == 0) && (inbound || outbound):
		r.dir = "ingress"
	case inbound || outbound:
		r.dir = "egress"
	default:
		r.dir = ""
	}
}
