// Package ecs encodes flow records and their enrichment as Elastic Common
// Schema documents: the documents the JSON-speaking sinks (files, stdout,
// Elasticsearch, Logstash) and the dead letters carry, and what
// "flowlog parse --output ecs" prints. See DESIGN.md §4 for the mapping.
package ecs

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/internal/jsonenc"
	"github.com/flowlog/flowlog/parser"
)

// Config sets the constant parts of the documents.
type Config struct {
	ECSVersion string // ecs.version
	Dataset    string // event.dataset
	// ElasticAWS writes the fields where Elastic's AWS integration puts
	// them (its vpcflow data stream): aws.vpcflow.* instead of flowlog.*,
	// event.action ACCEPT/REJECT, cloud.provider aws, and the ECS container
	// fields of version 7 under orchestrator and service.
	ElasticAWS bool
}

// DefaultConfig returns ECS 8.17 documents of dataset flowlog.flows.
func DefaultConfig() Config {
	return Config{ECSVersion: "8.17.0", Dataset: "flowlog.flows"}
}

// ElasticAWSConfig returns documents of Elastic's AWS integration's
// aws.vpcflow data set.
func ElasticAWSConfig() Config {
	return Config{ECSVersion: "8.17.0", Dataset: "aws.vpcflow", ElasticAWS: true}
}

// Encoder appends ECS documents. It is safe for concurrent use.
type Encoder struct {
	cfg Config
	// head opens every document after @timestamp: ecs and the constant part
	// of event, JSON-escaped once here rather than per record.
	head []byte
	// accept and reject are the event members of each action.
	accept, reject string
}

// New returns an encoder for cfg.
func New(cfg Config) (*Encoder, error) {
	if cfg.ECSVersion == "" {
		return nil, fmt.Errorf("ecs: ecs_version is empty")
	}
	if cfg.Dataset == "" {
		return nil, fmt.Errorf("ecs: dataset is empty")
	}
	head := []byte(`"ecs":{"version":`)
	head = jsonenc.Str(head, cfg.ECSVersion)
	head = append(head, `},"event":{"kind":"event","category":["network"],"dataset":`...)
	head = jsonenc.Str(head, cfg.Dataset)
	e := &Encoder{cfg: cfg, head: head,
		accept: `,"type":["connection","allowed"],"action":"accept","outcome":"success"`,
		reject: `,"type":["connection","denied"],"action":"reject","outcome":"failure"`}
	if cfg.ElasticAWS {
		e.accept = `,"type":["connection","allowed"],"action":"ACCEPT","outcome":"success"`
		e.reject = `,"type":["connection","denied"],"action":"REJECT","outcome":"failure"`
	}
	return e, nil
}

var noValues enrich.Values

// AppendECS appends the ECS document of rec to dst, as one line of JSON
// without line end. id is event.id (left out when empty); v is the record's
// enrichment (nil: none). Fields without value are left out, and so are
// objects that would be empty: a NODATA record has no source or network.
//
// Constant runs of the document are appended whole; an object whose fields
// are all optional writes a separator byte that starts as '{' and becomes ','.
func (e *Encoder) AppendECS(dst []byte, rec *parser.Record, id []byte, v *enrich.Values) []byte {
	if v == nil {
		v = &noValues
	}
	hasStart, hasEnd := rec.Has(parser.FieldStart), rec.Has(parser.FieldEnd)
	var endText []byte // the end, formatted once for @timestamp and event.end
	var endBuf [24]byte
	if hasEnd {
		endText = jsonenc.Time(endBuf[:0], rec.End)
	}

	dst = append(dst, '{')
	switch {
	case hasEnd:
		dst = append(dst, `"@timestamp":`...)
		dst = append(dst, endText...)
		dst = append(dst, ',')
	case hasStart:
		dst = append(dst, `"@timestamp":`...)
		dst = jsonenc.Time(dst, rec.Start)
		dst = append(dst, ',')
	}
	dst = append(dst, e.head...)
	if len(id) > 0 {
		dst = append(dst, `,"id":`...)
		dst = jsonenc.String(dst, id)
	}
	switch rec.Action {
	case parser.ActionAccept:
		dst = append(dst, e.accept...)
	case parser.ActionReject:
		dst = append(dst, e.reject...)
	default:
		dst = append(dst, `,"type":["info"]`...)
	}
	if hasStart {
		dst = append(dst, `,"start":`...)
		dst = jsonenc.Time(dst, rec.Start)
	}
	if hasEnd {
		dst = append(dst, `,"end":`...)
		dst = append(dst, endText...)
	}
	if e.cfg.ElasticAWS {
		if r, ok := rec.Text(parser.FieldRejectReason); ok && !dash(r) {
			dst = append(dst, `,"reason":`...)
			dst = jsonenc.String(dst, r)
		}
	}
	dst = append(dst, '}')

	hasSrc, hasDst := rec.Has(parser.FieldSrcAddr), rec.Has(parser.FieldDstAddr)
	if hasSrc || rec.Has(parser.FieldSrcPort) || rec.Has(parser.FieldPackets) || rec.Has(parser.FieldBytes) {
		dst = append(dst, `,"source":`...)
		sep := byte('{')
		if hasSrc {
			dst = appendAddr(append(dst, sep), rec.SrcAddr)
			sep = ','
		}
		if rec.Has(parser.FieldSrcPort) {
			dst = appendUint(append(dst, sep), `"port":`, uint64(rec.SrcPort))
			sep = ','
		}
		if rec.Has(parser.FieldPackets) {
			dst = appendUint(append(dst, sep), `"packets":`, rec.Packets)
			sep = ','
		}
		if rec.Has(parser.FieldBytes) {
			dst = appendUint(append(dst, sep), `"bytes":`, rec.Bytes)
			sep = ','
		}
		if hasSrc {
			dst, sep = appendGeo(dst, sep, v.Src)
		}
		dst = closeObject(dst, sep)
	}
	if hasDst || rec.Has(parser.FieldDstPort) {
		dst = append(dst, `,"destination":`...)
		sep := byte('{')
		if hasDst {
			dst = appendAddr(append(dst, sep), rec.DstAddr)
			sep = ','
		}
		if rec.Has(parser.FieldDstPort) {
			dst = appendUint(append(dst, sep), `"port":`, uint64(rec.DstPort))
			sep = ','
		}
		if hasDst {
			dst, sep = appendGeo(dst, sep, v.Dst)
		}
		dst = closeObject(dst, sep)
	}
	dst = appendNetwork(dst, rec, v, e.cfg.ElasticAWS)

	if hasSrc || hasDst {
		dst = append(dst, `,"related":{"ip":[`...)
		if hasSrc {
			dst = append(dst, '"')
			dst = rec.SrcAddr.AppendTo(dst)
			dst = append(dst, '"')
		}
		if hasDst && (!hasSrc || rec.DstAddr != rec.SrcAddr) {
			if hasSrc {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = rec.DstAddr.AppendTo(dst)
			dst = append(dst, '"')
		}
		dst = append(dst, "]}"...)
	}
	dst = appendCloud(dst, rec, e.cfg.ElasticAWS)
	if v.Interface != nil {
		dst = appendInterface(dst, v.Interface)
	}
	if e.cfg.ElasticAWS {
		return append(appendAWS(dst, rec), '}')
	}

	dst = append(dst, `,"flowlog":`...)
	sep := byte('{')
	if rec.Has(parser.FieldVersion) {
		dst = appendUint(append(dst, sep), `"version":`, uint64(rec.Version))
		sep = ','
	}
	if rec.Has(parser.FieldInterfaceID) {
		dst = append(dst, sep)
		dst = append(dst, `"interface_id":`...)
		dst = jsonenc.String(dst, rec.InterfaceID)
		sep = ','
	}
	if rec.Has(parser.FieldLogStatus) {
		dst = append(dst, sep)
		dst = append(dst, `"log_status":"`...)
		dst = append(dst, rec.LogStatus.String()...)
		dst = append(dst, '"')
		sep = ','
	}
	dst, sep = appendExtraColumns(dst, sep, rec)
	if v.SrcClass != "" {
		dst, sep = appendStr(dst, sep, `"source_class":`, v.SrcClass)
	}
	if v.DstClass != "" {
		dst, sep = appendStr(dst, sep, `"destination_class":`, v.DstClass)
	}
	dst = closeObject(dst, sep)
	return append(dst, '}')
}

// closeObject ends an object whose separator is sep: '{' while still empty.
func closeObject(dst []byte, sep byte) []byte {
	if sep == '{' {
		dst = append(dst, '{')
	}
	return append(dst, '}')
}

// appendStr appends a member whose key is given with its quotes and colon.
func appendStr(dst []byte, sep byte, key, value string) ([]byte, byte) {
	dst = append(dst, sep)
	dst = append(dst, key...)
	return jsonenc.Str(dst, value), ','
}

// appendGeo appends the geo and as members of one address.
func appendGeo(dst []byte, sep byte, g *enrich.Geo) ([]byte, byte) {
	if g == nil {
		return dst, sep
	}
	if g.HasGeo() {
		dst = append(dst, sep)
		dst = append(dst, `"geo":`...)
		gsep := byte('{')
		if g.ContinentCode != "" {
			dst, gsep = appendStr(dst, gsep, `"continent_code":`, g.ContinentCode)
		}
		if g.CountryISOCode != "" {
			dst, gsep = appendStr(dst, gsep, `"country_iso_code":`, g.CountryISOCode)
		}
		if g.CountryName != "" {
			dst, gsep = appendStr(dst, gsep, `"country_name":`, g.CountryName)
		}
		if g.CityName != "" {
			dst, gsep = appendStr(dst, gsep, `"city_name":`, g.CityName)
		}
		if g.HasLocation {
			dst = append(dst, gsep)
			dst = append(dst, `"location":{"lat":`...)
			dst = strconv.AppendFloat(dst, g.Lat, 'g', -1, 64)
			dst = append(dst, `,"lon":`...)
			dst = strconv.AppendFloat(dst, g.Lon, 'g', -1, 64)
			dst = append(dst, '}')
			gsep = ','
		}
		dst = closeObject(dst, gsep)
		sep = ','
	}
	if g.ASNumber != 0 {
		dst = append(dst, sep)
		dst = appendUint(dst, `"as":{"number":`, uint64(g.ASNumber))
		if g.ASOrganization != "" {
			dst = append(dst, `,"organization":{"name":`...)
			dst = jsonenc.Str(dst, g.ASOrganization)
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
		sep = ','
	}
	return dst, sep
}

// appendInterface appends host.name (the VM), tags, and
// labels.interface_name and labels.data_center.
func appendInterface(dst []byte, ifc *enrich.Interface) []byte {
	if ifc.VM != "" {
		dst = append(dst, `,"host":{"name":`...)
		dst = jsonenc.Str(dst, ifc.VM)
		dst = append(dst, '}')
	}
	if len(ifc.Tags) > 0 {
		dst = append(dst, `,"tags":[`...)
		for i, t := range ifc.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonenc.Str(dst, t)
		}
		dst = append(dst, ']')
	}
	if ifc.Name != "" || ifc.DataCenter != "" {
		dst = append(dst, `,"labels":`...)
		sep := byte('{')
		if ifc.Name != "" {
			dst, sep = appendStr(dst, sep, `"interface_name":`, ifc.Name)
		}
		if ifc.DataCenter != "" {
			dst, sep = appendStr(dst, sep, `"data_center":`, ifc.DataCenter)
		}
		dst = closeObject(dst, sep)
	}
	return dst
}

// appendAddr appends "ip" and "address", both the address.
func appendAddr(dst []byte, a netip.Addr) []byte {
	dst = append(dst, `"ip":"`...)
	start := len(dst)
	dst = a.AppendTo(dst)
	text := dst[start:]
	dst = append(dst, `","address":"`...)
	dst = append(dst, text...)
	return append(dst, '"')
}

func appendUint(dst []byte, key string, v uint64) []byte {
	dst = append(dst, key...)
	return strconv.AppendUint(dst, v, 10)
}

func appendNetwork(dst []byte, rec *parser.Record, v *enrich.Values, aws bool) []byte {
	hasSrc, hasDst := rec.Has(parser.FieldSrcAddr), rec.Has(parser.FieldDstAddr)
	hasProto := rec.Has(parser.FieldProtocol)
	if !hasSrc && !hasDst && !hasProto && !rec.Has(parser.FieldPackets) && !rec.Has(parser.FieldBytes) {
		return dst
	}
	dst = append(dst, `,"network":`...)
	sep := byte('{')
	if hasSrc || hasDst {
		a := rec.SrcAddr
		if !hasSrc {
			a = rec.DstAddr
		}
		dst = append(dst, sep)
		if a.Unmap().Is4() {
			dst = append(dst, `"type":"ipv4"`...)
		} else {
			dst = append(dst, `"type":"ipv6"`...)
		}
		sep = ','
	}
	if hasProto {
		dst = append(dst, sep)
		dst = append(dst, `"iana_number":"`...)
		dst = strconv.AppendUint(dst, uint64(rec.Protocol), 10)
		dst = append(dst, '"')
		if name := Transport(rec.Protocol); name != "" {
			dst = append(dst, `,"transport":"`...)
			dst = append(dst, name...) // lower-case letters, digits and '-'
			dst = append(dst, '"')
		}
		sep = ','
	}
	if rec.Has(parser.FieldPackets) {
		dst = appendUint(append(dst, sep), `"packets":`, rec.Packets)
		sep = ','
	}
	if rec.Has(parser.FieldBytes) {
		dst = appendUint(append(dst, sep), `"bytes":`, rec.Bytes)
		sep = ','
	}
	if id := v.CommunityID(); id != nil {
		dst = append(dst, sep)
		dst = append(dst, `"community_id":"`...)
		dst = append(dst, id...) // base64 and ':'
		dst = append(dst, '"')
		sep = ','
	}
	if v.Direction != "" {
		dst, sep = appendStr(dst, sep, `"direction":`, v.Direction)
	} else if d, ok := rec.Text(parser.FieldFlowDirection); aws && ok && !dash(d) {
		dst = append(dst, sep)
		dst = append(dst, `"direction":`...)
		dst, sep = jsonenc.String(dst, d), ','
	}
	if v.Service != "" {
		dst, sep = appendStr(dst, sep, `"protocol":`, v.Service)
	}
	return closeObject(dst, sep)
}

func appendCloud(dst []byte, rec *parser.Record, aws bool) []byte {
	inst, hasInst := rec.Text(parser.FieldInstanceID)
	hasInst = hasInst && !dash(inst)
	region, hasRegion := rec.Text(parser.FieldRegion)
	hasRegion = hasRegion && !dash(region)
	if !rec.Has(parser.FieldAccountID) && !hasInst && !hasRegion && !aws {
		return dst
	}
	dst = append(dst, `,"cloud":`...)
	sep := byte('{')
	if aws {
		dst = append(dst, `{"provider":"aws"`...)
		sep = ','
		if az, ok := rec.Text(parser.FieldAZID); ok && !dash(az) {
			dst = append(dst, `,"availability_zone":`...)
			dst = jsonenc.String(dst, az)
		}
	}
	if rec.Has(parser.FieldAccountID) {
		dst = append(dst, sep)
		dst = append(dst, `"account":{"id":`...)
		dst = jsonenc.String(dst, rec.AccountID)
		dst = append(dst, '}')
		sep = ','
	}
	if hasInst {
		dst = append(dst, sep)
		dst = append(dst, `"instance":{"id":`...)
		dst = jsonenc.String(dst, inst)
		dst = append(dst, '}')
		sep = ','
	}
	if hasRegion {
		dst = append(dst, sep)
		dst = append(dst, `"region":`...)
		dst = jsonenc.String(dst, region)
	}
	return append(dst, '}')
}

// appendExtraColumns writes the columns that have no ECS field of their own
// (AWS fields of versions 3 to 8, and unknown names) as flowlog.<snake_case>.
func appendExtraColumns(dst []byte, sep byte, rec *parser.Record) ([]byte, byte) {
	l := rec.Layout()
	if l == nil || l == parser.V2 {
		return dst, sep
	}
	for i, f := range l.Fields() {
		if mapped[f] {
			continue
		}
		v := rec.Column(i)
		if dash(v) {
			continue
		}
		dst = append(dst, sep)
		sep = ','
		if f == parser.FieldUnknown {
			dst = jsonenc.SnakeKey(dst, l.Names()[i])
		} else {
			dst = append(dst, '"')
			dst = append(dst, f.Key()...)
			dst = append(dst, '"', ':')
		}
		switch {
		case !rec.Has(f) && f != parser.FieldUnknown:
			dst = append(dst, "null"...) // Tencent's -1
		case f == parser.FieldTCPFlags:
			dst = strconv.AppendUint(dst, uint64(rec.TCPFlags), 10) // not v: "019" is no JSON number
		case f == parser.FieldTrafficPath:
			dst = strconv.AppendUint(dst, uint64(rec.TrafficPath), 10)
		default:
			dst = jsonenc.String(dst, v)
		}
	}
	return dst, sep
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
