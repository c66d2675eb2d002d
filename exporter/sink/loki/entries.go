package loki

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/parser"
)

// stream is one label set.
type stream struct {
	labels string // {job="flowlog", account_id="…", …}, as Loki takes it
	id     int    // order of first use, for grouping
}

// streams hands out the label set of each (account, interface, action,
// status): a handful per interface, found without allocating once known.
type streams struct {
	mu     sync.RWMutex
	byKey  map[string]*stream
	prefix string // `{job="…", <static labels>`
}

func newStreams(c Config) *streams {
	p := []byte("{job=")
	p = strconv.AppendQuote(p, c.Job)
	for _, name := range c.labelNames() {
		p = append(p, ", "...)
		p = append(p, name...)
		p = append(p, '=')
		p = strconv.AppendQuote(p, c.Labels[name])
	}
	return &streams{byKey: map[string]*stream{}, prefix: string(p)}
}

// get returns the stream of key (account \0 interface \0 action \0 status).
func (s *streams) get(key []byte, r *sink.Record) *stream {
	s.mu.RLock()
	st := s.byKey[string(key)]
	s.mu.RUnlock()
	if st != nil {
		return st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st = s.byKey[string(key)]; st != nil {
		return st
	}
	// Label values come from the objects: quoted, so no value can add a
	// label or end the set.
	l := []byte(s.prefix)
	for i, v := range []string{string(r.AccountID), string(r.InterfaceID), r.Action.String(), r.LogStatus.String()} {
		l = append(l, ", "...)
		l = append(l, streamLabels[i]...)
		l = append(l, '=')
		l = strconv.AppendQuote(l, validUTF8(v))
	}
	l = append(l, '}')
	st = &stream{labels: string(l), id: len(s.byKey)}
	s.byKey[string(key)] = st
	return st
}

// entry is one record as a log entry: its line and metadata live in the
// writer's text.
type entry struct {
	st     *stream
	ts     int64 // unix nanoseconds
	l0, l1 int32 // the line in text
	m0, m1 int32 // its metadata in meta
	line   int32 // the record's line in the object
}

// metaPair is one structured-metadata field: a constant value, or one in
// text.
type metaPair struct {
	name   string
	val    string // when set; else text[v0:v1]
	v0, v1 int32
}

// The names of the structured metadata.
const (
	mEventID     = "event_id"
	mCommunityID = "community_id"
	mDirection   = "direction"
	mService     = "service"
	mSrcCountry  = "src_country"
	mDstCountry  = "dst_country"
	mSrcAS       = "src_as"
	mDstAS       = "dst_as"
	mInterface   = "interface_name"
	mObject      = "object_key"
)

// timestamp is the record's end time plus a sub-second offset taken from
// its id: the same on every delivery, and different for different records
// (a collision needs two records of one stream with the same line whose
// ids hash to the same nanosecond: about one chance in a billion a pair).
func timestamp(r *sink.Record) int64 {
	h := uint64(14695981039346656037) // FNV-1a
	for _, c := range r.ID {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return r.End*1e9 + int64(h%1e9)
}

// appendEntry adds r to w as an entry.
func (w *writer) appendEntry(r *sink.Record) {
	k := w.key[:0]
	k = append(k, r.AccountID...)
	k = append(k, 0)
	k = append(k, r.InterfaceID...)
	k = append(k, 0, byte(r.Action), byte(r.LogStatus))
	w.key = k
	st := w.s.streams.get(k, r)

	e := entry{st: st, ts: timestamp(r), line: int32(r.Line)}
	e.l0 = int32(len(w.text))
	if w.s.cfg.Format == "json" {
		w.text = appendJSON(w.text, r)
	} else {
		w.text = appendLogfmt(w.text, r)
	}
	e.l1 = int32(len(w.text))

	e.m0 = int32(len(w.meta))
	w.metaText(mEventID, r.ID[:])
	if cid := r.Enrich.CommunityID(); cid != nil {
		w.metaText(mCommunityID, cid)
	}
	v := &r.Enrich
	w.metaConst(mDirection, v.Direction)
	w.metaConst(mService, v.Service)
	if v.Src != nil {
		w.metaConst(mSrcCountry, v.Src.CountryISOCode)
		w.metaNum(mSrcAS, v.Src.ASNumber)
	}
	if v.Dst != nil {
		w.metaConst(mDstCountry, v.Dst.CountryISOCode)
		w.metaNum(mDstAS, v.Dst.ASNumber)
	}
	if v.Interface != nil {
		w.metaConst(mInterface, v.Interface.Name)
	}
	w.metaConst(mObject, w.objectKey)
	e.m1 = int32(len(w.meta))
	w.entries = append(w.entries, e)
	w.bytes += int(e.l1-e.l0) + 64*int(e.m1-e.m0)
}

func (w *writer) metaText(name string, v []byte) {
	v0 := int32(len(w.text))
	w.text = append(w.text, v...)
	w.meta = append(w.meta, metaPair{name: name, v0: v0, v1: int32(len(w.text))})
}

// metaConst adds a value that outlives the batch (enrichment tables, the
// object): nothing is copied. Empty values are left out.
func (w *writer) metaConst(name, v string) {
	if v != "" {
		w.meta = append(w.meta, metaPair{name: name, val: v})
	}
}

func (w *writer) metaNum(name string, n uint32) {
	if n != 0 {
		v0 := int32(len(w.text))
		w.text = strconv.AppendUint(w.text, uint64(n), 10)
		w.meta = append(w.meta, metaPair{name: name, v0: v0, v1: int32(len(w.text))})
	}
}

// str returns text[a:b] as a string without copying. The writer's text
// does not change once the object ended, which is when requests are built.
func (w *writer) str(a, b int32) string {
	if a == b {
		return ""
	}
	return unsafe.String(&w.text[a], int(b-a))
}

// appendLogfmt appends the flow as logfmt:
// srcaddr=… dstaddr=… srcport=… dstport=… protocol=tcp packets=… bytes=… start=… end=…
// Values are addresses, numbers and protocol names: none needs quoting.
func appendLogfmt(dst []byte, r *sink.Record) []byte {
	dst = append(dst, "srcaddr="...)
	dst = appendAddr(dst, r, parser.FieldSrcAddr)
	dst = append(dst, " dstaddr="...)
	dst = appendAddr(dst, r, parser.FieldDstAddr)
	dst = append(dst, " srcport="...)
	dst = appendNum(dst, r, parser.FieldSrcPort, uint64(r.SrcPort))
	dst = append(dst, " dstport="...)
	dst = appendNum(dst, r, parser.FieldDstPort, uint64(r.DstPort))
	dst = append(dst, " protocol="...)
	dst = appendProto(dst, r)
	dst = append(dst, " packets="...)
	dst = appendNum(dst, r, parser.FieldPackets, r.Packets)
	dst = append(dst, " bytes="...)
	dst = appendNum(dst, r, parser.FieldBytes, r.Bytes)
	dst = append(dst, " start="...)
	dst = strconv.AppendInt(dst, r.Start, 10)
	dst = append(dst, " end="...)
	dst = strconv.AppendInt(dst, r.End, 10)
	return dst
}

// appendJSON appends the same fields as a JSON object; a field without a
// value is null. Values need no escaping: addresses, numbers, protocol names.
func appendJSON(dst []byte, r *sink.Record) []byte {
	dst = append(dst, `{"srcaddr":`...)
	dst = appendAddrJSON(dst, r, parser.FieldSrcAddr)
	dst = append(dst, `,"dstaddr":`...)
	dst = appendAddrJSON(dst, r, parser.FieldDstAddr)
	dst = append(dst, `,"srcport":`...)
	dst = appendNumJSON(dst, r, parser.FieldSrcPort, uint64(r.SrcPort))
	dst = append(dst, `,"dstport":`...)
	dst = appendNumJSON(dst, r, parser.FieldDstPort, uint64(r.DstPort))
	dst = append(dst, `,"protocol":`...)
	if r.Has(parser.FieldProtocol) {
		dst = append(dst, '"')
		dst = appendProto(dst, r)
		dst = append(dst, '"')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"packets":`...)
	dst = appendNumJSON(dst, r, parser.FieldPackets, r.Packets)
	dst = append(dst, `,"bytes":`...)
	dst = appendNumJSON(dst, r, parser.FieldBytes, r.Bytes)
	dst = append(dst, `,"start":`...)
	dst = strconv.AppendInt(dst, r.Start, 10)
	dst = append(dst, `,"end":`...)
	dst = strconv.AppendInt(dst, r.End, 10)
	return append(dst, '}')
}

func appendAddrJSON(dst []byte, r *sink.Record, f parser.Field) []byte {
	a := r.SrcAddr
	if f == parser.FieldDstAddr {
		a = r.DstAddr
	}
	if !r.Has(f) || !a.IsValid() {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = appendAddr(dst, r, f)
	return append(dst, '"')
}

func appendNumJSON(dst []byte, r *sink.Record, f parser.Field, n uint64) []byte {
	if !r.Has(f) {
		return append(dst, "null"...)
	}
	return strconv.AppendUint(dst, n, 10)
}

func appendAddr(dst []byte, r *sink.Record, f parser.Field) []byte {
	a := r.SrcAddr
	if f == parser.FieldDstAddr {
		a = r.DstAddr
	}
	if !r.Has(f) || !a.IsValid() {
		return append(dst, '-')
	}
	return a.AppendTo(dst)
}

func appendNum(dst []byte, r *sink.Record, f parser.Field, n uint64) []byte {
	if !r.Has(f) {
		return append(dst, '-')
	}
	return strconv.AppendUint(dst, n, 10)
}

// appendProto writes the protocol's name (tcp, udp, icmp, …), or its number
// when it has none.
func appendProto(dst []byte, r *sink.Record) []byte {
	if !r.Has(parser.FieldProtocol) {
		return append(dst, '-')
	}
	if name := ecs.Transport(r.Protocol); name != "" {
		return append(dst, name...)
	}
	return strconv.AppendUint(dst, uint64(r.Protocol), 10)
}

// validUTF8 returns s with invalid UTF-8 replaced by U+FFFD: Loki refuses
// labels and metadata that are not UTF-8, and ids and keys come from
// objects and file names.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
