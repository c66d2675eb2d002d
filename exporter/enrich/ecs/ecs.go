// Package ecs encodes flow records as Elastic Common Schema documents, the
// shape the Elasticsearch sink indexes and the NDJSON outputs carry. See
// DESIGN.md §4 for the mapping.
package ecs

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/flowlog/flowlog/exporter/enrich/communityid"
	"github.com/flowlog/flowlog/internal/jsonenc"
	"github.com/flowlog/flowlog/parser"
)

// Config sets the constant parts of the documents.
type Config struct {
	ECSVersion      string // ecs.version
	Dataset         string // event.dataset
	CommunityID     bool   // compute network.community_id
	CommunityIDSeed uint16 // the seed all tools of a site must share (0 by default)
}

// DefaultConfig returns ECS 8.17 documents of dataset flowlog.flows with
// Community IDs of seed 0.
func DefaultConfig() Config {
	return Config{ECSVersion: "8.17.0", Dataset: "flowlog.flows", CommunityID: true}
}

// Encoder appends ECS documents. It is safe for concurrent use.
type Encoder struct {
	cfg Config
}

// New returns an encoder for cfg.
func New(cfg Config) (*Encoder, error) {
	if cfg.ECSVersion == "" {
		return nil, fmt.Errorf("ecs: ecs_version is empty")
	}
	if cfg.Dataset == "" {
		return nil, fmt.Errorf("ecs: dataset is empty")
	}
	return &Encoder{cfg: cfg}, nil
}

// Extra carries what a document holds beyond the record's own fields.
type Extra struct {
	// EventID is the record's deterministic id (package recordid);
	// event.id is left out when it is empty.
	EventID []byte
}

// AppendECS appends the ECS document of rec to dst, as one line of JSON
// without line end. Fields without value are left out, and so are objects
// that would be empty: a NODATA record has no source or network.
func (e *Encoder) AppendECS(dst []byte, rec *parser.Record, x *Extra) []byte {
	d := doc{dst: append(dst, '{')}
	if t, ok := timestamp(rec); ok {
		d.key("@timestamp")
		d.time(t)
	}
	d.open("ecs")
	d.str("version", e.cfg.ECSVersion)
	d.close()

	d.open("event")
	if x != nil && len(x.EventID) > 0 {
		d.key("id")
		d.dst = jsonenc.String(d.dst, x.EventID)
	}
	d.raw("kind", `"event"`)
	d.raw("category", `["network"]`)
	switch rec.Action {
	case parser.ActionAccept:
		d.raw("type", `["connection","allowed"]`)
		d.raw("action", `"accept"`)
		d.raw("outcome", `"success"`)
	case parser.ActionReject:
		d.raw("type", `["connection","denied"]`)
		d.raw("action", `"reject"`)
		d.raw("outcome", `"failure"`)
	default:
		d.raw("type", `["info"]`)
	}
	d.str("dataset", e.cfg.Dataset)
	if rec.Has(parser.FieldStart) {
		d.key("start")
		d.time(rec.Start)
	}
	if rec.Has(parser.FieldEnd) {
		d.key("end")
		d.time(rec.End)
	}
	d.close()

	if rec.Has(parser.FieldSrcAddr) || rec.Has(parser.FieldSrcPort) || rec.Has(parser.FieldPackets) || rec.Has(parser.FieldBytes) {
		d.open("source")
		if rec.Has(parser.FieldSrcAddr) {
			d.addr("ip", rec.SrcAddr)
			d.addr("address", rec.SrcAddr)
		}
		if rec.Has(parser.FieldSrcPort) {
			d.uint("port", uint64(rec.SrcPort))
		}
		if rec.Has(parser.FieldPackets) {
			d.uint("packets", rec.Packets)
		}
		if rec.Has(parser.FieldBytes) {
			d.uint("bytes", rec.Bytes)
		}
		d.close()
	}
	if rec.Has(parser.FieldDstAddr) || rec.Has(parser.FieldDstPort) {
		d.open("destination")
		if rec.Has(parser.FieldDstAddr) {
			d.addr("ip", rec.DstAddr)
			d.addr("address", rec.DstAddr)
		}
		if rec.Has(parser.FieldDstPort) {
			d.uint("port", uint64(rec.DstPort))
		}
		d.close()
	}
	e.network(&d, rec)

	if rec.Has(parser.FieldSrcAddr) || rec.Has(parser.FieldDstAddr) {
		d.open("related")
		d.key("ip")
		d.dst = append(d.dst, '[')
		if rec.Has(parser.FieldSrcAddr) {
			d.dst = append(d.dst, '"')
			d.dst = rec.SrcAddr.AppendTo(d.dst)
			d.dst = append(d.dst, '"')
		}
		if rec.Has(parser.FieldDstAddr) && (!rec.Has(parser.FieldSrcAddr) || rec.DstAddr != rec.SrcAddr) {
			if rec.Has(parser.FieldSrcAddr) {
				d.dst = append(d.dst, ',')
			}
			d.dst = append(d.dst, '"')
			d.dst = rec.DstAddr.AppendTo(d.dst)
			d.dst = append(d.dst, '"')
		}
		d.dst = append(d.dst, ']')
		d.close()
	}
	cloud(&d, rec)

	d.open("flowlog")
	if rec.Has(parser.FieldVersion) {
		d.uint("version", uint64(rec.Version))
	}
	if rec.Has(parser.FieldInterfaceID) {
		d.key("interface_id")
		d.dst = jsonenc.String(d.dst, rec.InterfaceID)
	}
	if rec.Has(parser.FieldLogStatus) {
		d.key("log_status")
		d.dst = append(d.dst, '"')
		d.dst = append(d.dst, rec.LogStatus.String()...)
		d.dst = append(d.dst, '"')
	}
	extraColumns(&d, rec)
	d.close()
	return append(d.dst, '}')
}

func (e *Encoder) network(d *doc, rec *parser.Record) {
	hasSrc, hasDst := rec.Has(parser.FieldSrcAddr), rec.Has(parser.FieldDstAddr)
	hasProto := rec.Has(parser.FieldProtocol)
	if !hasSrc && !hasDst && !hasProto && !rec.Has(parser.FieldPackets) && !rec.Has(parser.FieldBytes) {
		return
	}
	d.open("network")
	if hasSrc || hasDst {
		a := rec.SrcAddr
		if !hasSrc {
			a = rec.DstAddr
		}
		if a.Unmap().Is4() {
			d.raw("type", `"ipv4"`)
		} else {
			d.raw("type", `"ipv6"`)
		}
	}
	if hasProto {
		d.key("iana_number")
		d.dst = append(d.dst, '"')
		d.dst = strconv.AppendUint(d.dst, uint64(rec.Protocol), 10)
		d.dst = append(d.dst, '"')
		if name := Transport(rec.Protocol); name != "" {
			d.str("transport", name)
		}
	}
	if rec.Has(parser.FieldPackets) {
		d.uint("packets", rec.Packets)
	}
	if rec.Has(parser.FieldBytes) {
		d.uint("bytes", rec.Bytes)
	}
	if e.cfg.CommunityID && hasSrc && hasDst && hasProto && (rec.Has(parser.FieldSrcPort) && rec.Has(parser.FieldDstPort) || !usesPorts(rec.Protocol)) {
		var buf [32]byte
		id, ok := communityid.Append(buf[:0], e.cfg.CommunityIDSeed, communityid.Flow{
			Proto: rec.Protocol, Src: rec.SrcAddr, Dst: rec.DstAddr, SrcPort: rec.SrcPort, DstPort: rec.DstPort,
		})
		if ok { // not with mixed address families
			d.key("community_id")
			d.dst = append(d.dst, '"')
			d.dst = append(d.dst, id...)
			d.dst = append(d.dst, '"')
		}
	}
	if v, ok := rec.Value("flow-direction"); ok && (string(v) == "ingress" || string(v) == "egress") {
		d.key("direction")
		d.dst = jsonenc.String(d.dst, v)
	}
	d.close()
}

// usesPorts reports whether the Community ID of a protocol includes ports.
func usesPorts(proto uint8) bool {
	switch proto {
	case 1, 6, 17, 58, 132:
		return true
	}
	return false
}

func cloud(d *doc, rec *parser.Record) {
	inst, hasInst := rec.Value("instance-id")
	hasInst = hasInst && !dash(inst)
	region, hasRegion := rec.Value("region")
	hasRegion = hasRegion && !dash(region)
	if !rec.Has(parser.FieldAccountID) && !hasInst && !hasRegion {
		return
	}
	d.open("cloud")
	if rec.Has(parser.FieldAccountID) {
		d.key("account")
		d.dst = append(d.dst, `{"id":`...)
		d.dst = jsonenc.String(d.dst, rec.AccountID)
		d.dst = append(d.dst, '}')
	}
	if hasInst {
		d.key("instance")
		d.dst = append(d.dst, `{"id":`...)
		d.dst = jsonenc.String(d.dst, inst)
		d.dst = append(d.dst, '}')
	}
	if hasRegion {
		d.key("region")
		d.dst = jsonenc.String(d.dst, region)
	}
	d.close()
}

// extraColumns writes the columns that have no ECS field of their own (AWS
// fields of versions 3 to 8, and unknown names) as flowlog.<snake_case>.
func extraColumns(d *doc, rec *parser.Record) {
	l := rec.Layout()
	if l == nil || l == parser.V2 {
		return
	}
	for i, f := range l.Fields() {
		if mapped[f] {
			continue
		}
		v := rec.Column(i)
		if dash(v) {
			continue
		}
		if f == parser.FieldUnknown {
			d.keySnake(l.Names()[i])
		} else {
			d.key(f.Key())
		}
		switch f {
		case parser.FieldTCPFlags, parser.FieldTrafficPath:
			if rec.Has(f) {
				d.dst = append(d.dst, v...) // digits, checked by the parser
			} else {
				d.dst = append(d.dst, "null"...) // Tencent's -1
			}
		default:
			d.dst = jsonenc.String(d.dst, v)
		}
	}
}

// mapped marks the fields written elsewhere in the document.
var mapped = func() (m [64]bool) {
	for _, f := range []parser.Field{
		parser.FieldVersion, parser.FieldAccountID, parser.FieldInterfaceID, parser.FieldSrcAddr,
		parser.FieldDstAddr, parser.FieldSrcPort, parser.FieldDstPort, parser.FieldProtocol,
		parser.FieldPackets, parser.FieldBytes, parser.FieldStart, parser.FieldEnd,
		parser.FieldAction, parser.FieldLogStatus, parser.FieldInstanceID, parser.FieldRegion,
	} {
		m[f] = true
	}
	return m
}()

func dash(v []byte) bool { return len(v) == 1 && v[0] == '-' }

// timestamp is the record's end, or its start when it has no end.
func timestamp(rec *parser.Record) (int64, bool) {
	switch {
	case rec.Has(parser.FieldEnd):
		return rec.End, true
	case rec.Has(parser.FieldStart):
		return rec.Start, true
	}
	return 0, false
}

// doc writes nested JSON objects. A key needs a comma unless it opens its
// object, which the last byte written tells.
type doc struct {
	dst []byte
}

func (d *doc) key(k string) {
	if d.dst[len(d.dst)-1] != '{' {
		d.dst = append(d.dst, ',')
	}
	d.dst = append(d.dst, '"')
	d.dst = append(d.dst, k...)
	d.dst = append(d.dst, '"', ':')
}

// keySnake writes a key from an arbitrary header name, '-' turned to '_'.
func (d *doc) keySnake(name string) {
	if d.dst[len(d.dst)-1] != '{' {
		d.dst = append(d.dst, ',')
	}
	start := len(d.dst)
	d.dst = jsonenc.Str(d.dst, name)
	for i := start; i < len(d.dst); i++ {
		if d.dst[i] == '-' {
			d.dst[i] = '_'
		}
	}
	d.dst = append(d.dst, ':')
}

func (d *doc) open(k string) { d.key(k); d.dst = append(d.dst, '{') }
func (d *doc) close()        { d.dst = append(d.dst, '}') }

func (d *doc) raw(k, v string) { d.key(k); d.dst = append(d.dst, v...) }

func (d *doc) str(k, v string) { d.key(k); d.dst = jsonenc.Str(d.dst, v) }

func (d *doc) uint(k string, v uint64) { d.key(k); d.dst = strconv.AppendUint(d.dst, v, 10) }

func (d *doc) addr(k string, a netip.Addr) {
	d.key(k)
	d.dst = append(d.dst, '"')
	d.dst = a.AppendTo(d.dst)
	d.dst = append(d.dst, '"')
}

// time writes unix seconds as an RFC 3339 UTC date.
func (d *doc) time(sec int64) {
	d.dst = append(d.dst, '"')
	d.dst = time.Unix(sec, 0).UTC().AppendFormat(d.dst, time.RFC3339)
	d.dst = append(d.dst, '"')
}
