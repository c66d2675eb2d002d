package clickhouse

import (
	"net/netip"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/parser"
)

// The types and codecs of the flows table. Times change little from row to
// row (DoubleDelta), counters are small numbers in wide types (T64),
// addresses and ids are random (ZSTD alone).
const (
	lowCard  = "LowCardinality(String)"
	timeCdc  = "DoubleDelta, ZSTD(1)"
	countCdc = "T64, ZSTD(1)"
	zstd     = "ZSTD(1)"
)

// fieldText is a string column holding the text of field f of the record ("" when
// it had no value).
func fieldText(f parser.Field) func() buffer {
	return str(func(dst []byte, r *sink.Record) []byte {
		if !r.Has(f) {
			return dst
		}
		v, _ := r.Text(f)
		return append(dst, v...)
	})
}

func geo(g *enrich.Geo) *enrich.Geo {
	if g == nil {
		return &noGeo
	}
	return g
}

var noGeo enrich.Geo

func iface(v *enrich.Values) *enrich.Interface {
	if v.Interface == nil {
		return &noIface
	}
	return v.Interface
}

var noIface enrich.Interface

// flowColumns are the columns of the flows table, in order: the record's
// fields, what enrichment adds (when it is on), and where the row came
// from. Changing a column's name or type here needs a migration that
// ClickHouse can make (see migrate.go).
var flowColumns = []column{
	{name: "flow_start", typ: "DateTime", codec: timeCdc, buf: num(func(r *sink.Record) int64 { return r.Start })},
	{name: "flow_end", typ: "DateTime", codec: timeCdc, buf: num(func(r *sink.Record) int64 { return r.End })},
	{name: "version", typ: "UInt8", buf: num(func(r *sink.Record) uint8 { return r.Version })},
	{name: "account_id", typ: lowCard, buf: str(func(dst []byte, r *sink.Record) []byte { return append(dst, r.AccountID...) })},
	{name: "interface_id", typ: lowCard, buf: str(func(dst []byte, r *sink.Record) []byte { return append(dst, r.InterfaceID...) })},
	{name: "src_addr", typ: "IPv6", codec: zstd, buf: ip(func(r *sink.Record) netip.Addr { return r.SrcAddr })},
	{name: "dst_addr", typ: "IPv6", codec: zstd, buf: ip(func(r *sink.Record) netip.Addr { return r.DstAddr })},
	{name: "src_port", typ: "UInt16", buf: num(func(r *sink.Record) uint16 { return r.SrcPort })},
	{name: "dst_port", typ: "UInt16", buf: num(func(r *sink.Record) uint16 { return r.DstPort })},
	{name: "protocol", typ: "UInt8", buf: num(func(r *sink.Record) uint8 { return r.Protocol })},
	{name: "packets", typ: "UInt64", codec: countCdc, buf: num(func(r *sink.Record) uint64 { return r.Packets })},
	{name: "bytes", typ: "UInt64", codec: countCdc, buf: num(func(r *sink.Record) uint64 { return r.Bytes })},
	{name: "action", typ: lowCard, buf: strRef(func(r *sink.Record) string { return r.Action.String() })},
	{name: "log_status", typ: lowCard, buf: strRef(func(r *sink.Record) string { return r.LogStatus.String() })},
	// Versions 3 to 8, where AWS writes them.
	{name: "vpc_id", typ: lowCard, buf: fieldText(parser.FieldVPCID)},
	{name: "subnet_id", typ: lowCard, buf: fieldText(parser.FieldSubnetID)},
	{name: "instance_id", typ: lowCard, buf: fieldText(parser.FieldInstanceID)},
	{name: "tcp_flags", typ: "UInt16", buf: num(func(r *sink.Record) uint16 { return r.TCPFlags })},
	{name: "type", typ: lowCard, buf: fieldText(parser.FieldType)},
	{name: "pkt_src_addr", typ: "IPv6", codec: zstd, buf: ip(func(r *sink.Record) netip.Addr { return r.PktSrcAddr })},
	{name: "pkt_dst_addr", typ: "IPv6", codec: zstd, buf: ip(func(r *sink.Record) netip.Addr { return r.PktDstAddr })},
	{name: "region", typ: lowCard, buf: fieldText(parser.FieldRegion)},
	{name: "az_id", typ: lowCard, buf: fieldText(parser.FieldAZID)},
	{name: "sublocation_type", typ: lowCard, buf: fieldText(parser.FieldSublocationType)},
	{name: "sublocation_id", typ: lowCard, buf: fieldText(parser.FieldSublocationID)},
	{name: "pkt_src_aws_service", typ: lowCard, buf: fieldText(parser.FieldPktSrcAWSService)},
	{name: "pkt_dst_aws_service", typ: lowCard, buf: fieldText(parser.FieldPktDstAWSService)},
	{name: "flow_direction", typ: lowCard, buf: strRef(func(r *sink.Record) string { return r.FlowDirection.String() })},
	{name: "traffic_path", typ: "UInt8", buf: num(func(r *sink.Record) uint8 { return r.TrafficPath })},
	{name: "reject_reason", typ: lowCard, buf: fieldText(parser.FieldRejectReason)},
	{name: "extra", typ: "Map(String, String)", codec: zstd, buf: newExtra},
	// Enrichment.
	{name: "direction", typ: lowCard, buf: strRef(func(r *sink.Record) string { return r.Enrich.Direction })},
	{name: "community_id", typ: "String", codec: zstd, when: func(e *enrich.Config) bool { return e.CommunityID },
		buf: str(func(dst []byte, r *sink.Record) []byte { return append(dst, r.Enrich.CommunityID()...) })},
	{name: "service", typ: lowCard, when: func(e *enrich.Config) bool { return e.Services },
		buf: strRef(func(r *sink.Record) string { return r.Enrich.Service })},
	{name: "src_class", typ: lowCard, when: func(e *enrich.Config) bool { return e.AddressClass },
		buf: strRef(func(r *sink.Record) string { return r.Enrich.SrcClass })},
	{name: "dst_class", typ: lowCard, when: func(e *enrich.Config) bool { return e.AddressClass },
		buf: strRef(func(r *sink.Record) string { return r.Enrich.DstClass })},
	{name: "src_country", typ: lowCard, when: hasCity, buf: strRef(func(r *sink.Record) string { return geo(r.Enrich.Src).CountryISOCode })},
	{name: "dst_country", typ: lowCard, when: hasCity, buf: strRef(func(r *sink.Record) string { return geo(r.Enrich.Dst).CountryISOCode })},
	{name: "src_city", typ: lowCard, when: hasCity, buf: strRef(func(r *sink.Record) string { return geo(r.Enrich.Src).CityName })},
	{name: "dst_city", typ: lowCard, when: hasCity, buf: strRef(func(r *sink.Record) string { return geo(r.Enrich.Dst).CityName })},
	{name: "src_as", typ: "UInt32", when: hasASN, buf: num(func(r *sink.Record) uint32 { return geo(r.Enrich.Src).ASNumber })},
	{name: "dst_as", typ: "UInt32", when: hasASN, buf: num(func(r *sink.Record) uint32 { return geo(r.Enrich.Dst).ASNumber })},
	{name: "src_as_org", typ: lowCard, when: hasASN, buf: strRef(func(r *sink.Record) string { return geo(r.Enrich.Src).ASOrganization })},
	{name: "dst_as_org", typ: lowCard, when: hasASN, buf: strRef(func(r *sink.Record) string { return geo(r.Enrich.Dst).ASOrganization })},
	{name: "interface_name", typ: lowCard, when: hasIfaces, buf: strRef(func(r *sink.Record) string { return iface(&r.Enrich).Name })},
	{name: "interface_vm", typ: lowCard, when: hasIfaces, buf: strRef(func(r *sink.Record) string { return iface(&r.Enrich).VM })},
	{name: "interface_data_center", typ: lowCard, when: hasIfaces, buf: strRef(func(r *sink.Record) string { return iface(&r.Enrich).DataCenter })},
	// Lineage: the record's id (event.id elsewhere), its object and line.
	{name: "event_id", typ: "String", codec: zstd, buf: str(func(dst []byte, r *sink.Record) []byte { return append(dst, r.ID[:]...) })},
	{name: "bucket", typ: lowCard, buf: perObject(func(o *sink.Object) string { return o.Bucket })},
	{name: "object_key", typ: lowCard, buf: perObject(func(o *sink.Object) string { return o.Key })},
	{name: "line", typ: "UInt32", codec: countCdc, buf: num(func(r *sink.Record) uint32 { return uint32(r.Line) })},
}

func hasCity(e *enrich.Config) bool   { return e.GeoIP.City != "" }
func hasASN(e *enrich.Config) bool    { return e.GeoIP.ASN != "" }
func hasIfaces(e *enrich.Config) bool { return e.Interfaces != "" }

// typed holds the fields that have a column of their own; the others go
// to the extra map.
var typed = func() (t [64]bool) {
	for _, f := range []parser.Field{parser.FieldVersion, parser.FieldAccountID, parser.FieldInterfaceID,
		parser.FieldSrcAddr, parser.FieldDstAddr, parser.FieldSrcPort, parser.FieldDstPort, parser.FieldProtocol,
		parser.FieldPackets, parser.FieldBytes, parser.FieldStart, parser.FieldEnd, parser.FieldAction,
		parser.FieldLogStatus, parser.FieldVPCID, parser.FieldSubnetID, parser.FieldInstanceID, parser.FieldTCPFlags,
		parser.FieldType, parser.FieldPktSrcAddr, parser.FieldPktDstAddr, parser.FieldRegion, parser.FieldAZID,
		parser.FieldSublocationType, parser.FieldSublocationID, parser.FieldPktSrcAWSService,
		parser.FieldPktDstAWSService, parser.FieldFlowDirection, parser.FieldTrafficPath, parser.FieldRejectReason} {
		t[f] = true
	}
	return t
}()

// columnsFor returns the flows columns the enrichment e fills.
func columnsFor(e *enrich.Config) []column {
	var cols []column
	for _, c := range flowColumns {
		if c.when == nil || c.when(e) {
			cols = append(cols, c)
		}
	}
	return cols
}
