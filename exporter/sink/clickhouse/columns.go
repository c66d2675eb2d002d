package clickhouse

import (
	"net/netip"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/parser"
)

// column is one column of the flows table: its type in the table, the type
// it is sent as, and how a record fills it.
type column struct {
	name  string
	typ   string // type in the table
	codec string // "" for the default
	when  func(e *enrich.Config) bool
	buf   func() buffer
}

// wire is the type a column is sent as. LowCardinality columns are sent as
// String: the server builds the dictionary, and clickhouse-go's own
// LowCardinality encoder boxes every value.
func (c *column) wire() string {
	if c.typ == "LowCardinality(String)" {
		return "String"
	}
	return c.typ
}

// buffer holds one column of the records of one object, in Go's own types:
// adding a record allocates nothing once the buffer has grown.
type buffer interface {
	add(r *sink.Record)
	// appendTo appends the rows to c: all of them when keep is nil, else
	// those whose keep is true.
	appendTo(c driver.BatchColumn, keep []bool) error
	// used reports whether a row holds anything but the type's zero value
	// (an insert leaves out columns no row uses: the server fills them in).
	used() bool
	reset(o *sink.Object) // empties the buffer for the rows of o
}

type numBuf[T uint8 | uint16 | uint32 | uint64 | int64] struct {
	get  func(r *sink.Record) T
	vals []T
	any  bool
}

func num[T uint8 | uint16 | uint32 | uint64 | int64](get func(r *sink.Record) T) func() buffer {
	return func() buffer { return &numBuf[T]{get: get} }
}

func (b *numBuf[T]) add(r *sink.Record) {
	v := b.get(r)
	b.any = b.any || v != 0
	b.vals = append(b.vals, v)
}
func (b *numBuf[T]) used() bool { return b.any }
func (b *numBuf[T]) appendTo(c driver.BatchColumn, keep []bool) error {
	return c.Append(masked(b.vals, keep))
}
func (b *numBuf[T]) reset(*sink.Object) { b.vals, b.any = b.vals[:0], false }

type ipBuf struct {
	get  func(r *sink.Record) netip.Addr
	vals [][16]byte
	any  bool
}

func ip(get func(r *sink.Record) netip.Addr) func() buffer {
	return func() buffer { return &ipBuf{get: get} }
}

// add stores IPv4 addresses IPv4-mapped and a missing address as ::.
func (b *ipBuf) add(r *sink.Record) {
	var v [16]byte
	if a := b.get(r); a.IsValid() {
		v = a.As16()
		b.any = true
	}
	b.vals = append(b.vals, v)
}
func (b *ipBuf) appendTo(c driver.BatchColumn, keep []bool) error {
	return c.Append(masked(b.vals, keep))
}
func (b *ipBuf) used() bool         { return b.any }
func (b *ipBuf) reset(*sink.Object) { b.vals, b.any = b.vals[:0], false }

// strBuf keeps the text of every row in one byte slice. The []string the
// client takes is cut from a single string made at send time: one
// allocation per object and column, none per row.
type strBuf struct {
	get  func(dst []byte, r *sink.Record) []byte
	text []byte
	ends []int
	strs []string
}

func str(get func(dst []byte, r *sink.Record) []byte) func() buffer {
	return func() buffer { return &strBuf{get: get} }
}

func (b *strBuf) add(r *sink.Record) {
	b.text = b.get(b.text, r)
	b.ends = append(b.ends, len(b.text))
}

func (b *strBuf) appendTo(c driver.BatchColumn, keep []bool) error {
	all := string(b.text)
	b.strs = b.strs[:0]
	start := 0
	for _, end := range b.ends {
		b.strs = append(b.strs, all[start:end])
		start = end
	}
	err := c.Append(masked(b.strs, keep))
	clear(b.strs) // the client copied the bytes: let all go
	return err
}

// at returns row i's text; it is valid until the buffer changes.
func (b *strBuf) at(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.text[start:b.ends[i]]
}

func (b *strBuf) used() bool         { return len(b.text) > 0 }
func (b *strBuf) reset(*sink.Object) { b.text, b.ends = b.text[:0], b.ends[:0] }

// strRef is a string column whose value a record gives as a Go string that
// outlives the batch (enrichment tables, the object): nothing is copied.
type strRefBuf struct {
	get  func(r *sink.Record) string
	vals []string
	any  bool
}

func strRef(get func(r *sink.Record) string) func() buffer {
	return func() buffer { return &strRefBuf{get: get} }
}

func (b *strRefBuf) add(r *sink.Record) {
	v := b.get(r)
	b.any = b.any || v != ""
	b.vals = append(b.vals, v)
}
func (b *strRefBuf) used() bool { return b.any }
func (b *strRefBuf) appendTo(c driver.BatchColumn, keep []bool) error {
	return c.Append(masked(b.vals, keep))
}
func (b *strRefBuf) reset(*sink.Object) {
	clear(b.vals)
	b.vals, b.any = b.vals[:0], false
}

// extraBuf is the Map(String, String) of the fields without a column of
// their own (the ECS fields of version 7, columns flowlog does not know),
// keyed by their header names. Rows without such fields, the usual case,
// cost nothing but an offset.
type extraBuf struct {
	text   []byte
	pairs  []extraPair
	ends   []int // end of each row's pairs
	maps   []map[string]string
	layout *parser.Layout // the last layout seen, and its columns that go here
	cols   []int
}

type extraPair struct {
	key    string // a header name, owned by the layout
	v0, v1 int    // the value in text
}

func newExtra() buffer { return &extraBuf{} }

func (b *extraBuf) add(r *sink.Record) {
	if l := r.Layout(); l != nil {
		if l != b.layout {
			b.layout, b.cols = l, b.cols[:0]
			for i, f := range l.Fields() {
				if !typed[f] {
					b.cols = append(b.cols, i)
				}
			}
		}
		names := l.Names()
		for _, i := range b.cols {
			v := r.Column(i)
			if len(v) == 1 && v[0] == '-' {
				continue
			}
			v0 := len(b.text)
			b.text = append(b.text, v...)
			b.pairs = append(b.pairs, extraPair{key: names[i], v0: v0, v1: len(b.text)})
		}
	}
	b.ends = append(b.ends, len(b.pairs))
}

func (b *extraBuf) appendTo(c driver.BatchColumn, keep []bool) error {
	all := string(b.text)
	b.maps = b.maps[:0]
	start := 0
	for _, end := range b.ends {
		var m map[string]string
		if end > start {
			m = make(map[string]string, end-start)
			for _, p := range b.pairs[start:end] {
				m[p.key] = all[p.v0:p.v1]
			}
		}
		b.maps = append(b.maps, m)
		start = end
	}
	return c.Append(masked(b.maps, keep))
}

func (b *extraBuf) used() bool { return len(b.pairs) > 0 }

func (b *extraBuf) reset(*sink.Object) {
	b.text, b.pairs, b.ends = b.text[:0], b.pairs[:0], b.ends[:0]
	clear(b.maps)
	b.layout = nil
}

// objBuf is a column whose value is the same for every row of the object.
type objBuf struct {
	get  func(o *sink.Object) string
	val  string
	vals []string
}

func perObject(get func(o *sink.Object) string) func() buffer {
	return func() buffer { return &objBuf{get: get} }
}

func (b *objBuf) add(*sink.Record) { b.vals = append(b.vals, b.val) }
func (b *objBuf) used() bool       { return b.val != "" }
func (b *objBuf) appendTo(c driver.BatchColumn, keep []bool) error {
	return c.Append(masked(b.vals, keep))
}
func (b *objBuf) reset(o *sink.Object) {
	clear(b.vals)
	b.vals, b.val = b.vals[:0], ""
	if o != nil {
		b.val = b.get(o)
	}
}

// masked returns the values whose keep is true (all when keep is nil).
// It copies only when some are left out: a rare path (redeliveries,
// isolating a refused row).
func masked[T any](vals []T, keep []bool) []T {
	if keep == nil {
		return vals
	}
	out := make([]T, 0, len(vals))
	for i, v := range vals {
		if keep[i] {
			out = append(out, v)
		}
	}
	return out
}
