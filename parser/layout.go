package parser

import (
	"bytes"
	"fmt"
	"strings"
)

// Layout is the order of the columns of a record: the default version-2
// order, or the order a header line names.
type Layout struct {
	fields []Field
	names  []string
	column [numFields]int16 // column of each known field, -1 when absent
}

// canonical holds the "all fields up to version N" layouts, indexed by
// width; nil for other widths.
var canonical = func() (t [numFields]*Layout) {
	for _, w := range versionWidths {
		names := make([]string, w)
		for i := range names {
			names[i] = Field(i + 1).String()
		}
		l, err := NewLayout(names...)
		if err != nil {
			panic(err) // the field table is broken
		}
		t[w] = l
	}
	return t
}()

// canonicalLayout returns the headerless layout with n columns, or nil.
func canonicalLayout(n int) *Layout {
	if n < 0 || n >= len(canonical) {
		return nil
	}
	return canonical[n]
}

// V2 is the default layout: the fourteen version-2 fields in AWS order.
var V2 = canonical[14]

// NewLayout returns the layout of a header with the given column names.
// Unknown names are kept. It fails on an empty or repeated name.
func NewLayout(names ...string) (*Layout, error) {
	var l Layout
	l.reset()
	for _, n := range names {
		if err := l.add([]byte(n)); err != nil {
			return nil, err
		}
	}
	if len(l.fields) == 0 {
		return nil, fmt.Errorf("%w: no columns", ErrHeader)
	}
	return &l, nil
}

// Fields returns the field of each column; FieldUnknown for unknown names.
func (l *Layout) Fields() []Field { return l.fields }

// Names returns the header name of each column.
func (l *Layout) Names() []string { return l.names }

// Len returns the number of columns.
func (l *Layout) Len() int { return len(l.fields) }

// Has reports whether the layout has a column for the known field f.
func (l *Layout) Has(f Field) bool { return f != FieldUnknown && f < numFields && l.column[f] >= 0 }

// Index returns the column of the given header name, or -1.
func (l *Layout) Index(name string) int {
	for i, n := range l.names {
		if n == name {
			return i
		}
	}
	return -1
}

// String returns the layout as a header line, without line end.
func (l *Layout) String() string { return strings.Join(l.names, " ") }

func (l *Layout) reset() {
	l.fields = l.fields[:0]
	l.names = l.names[:0]
	for i := range l.column {
		l.column[i] = -1
	}
}

// add appends a column named name. A repeated known name is kept as an
// unknown column, so its values stay reachable, and reported.
func (l *Layout) add(name []byte) error {
	if len(name) == 0 {
		return fmt.Errorf("%w: empty column name", ErrHeader)
	}
	f, ok := lookupHeaderName(name)
	var err error
	if ok && l.column[f] >= 0 {
		err = fmt.Errorf("%w: field %s appears twice (columns %d and %d); the second is kept uninterpreted",
			ErrHeader, f, l.column[f]+1, len(l.fields)+1)
		f, ok = FieldUnknown, false
	}
	if ok {
		l.column[f] = int16(len(l.fields))
		l.names = append(l.names, f.String())
	} else {
		f = FieldUnknown
		l.names = append(l.names, string(name))
	}
	l.fields = append(l.fields, f)
	return err
}

// lookupHeaderName finds a field by its AWS name, also written with
// underscores (account_id) as some exports do.
func lookupHeaderName(name []byte) (Field, bool) {
	if f, ok := LookupField(name); ok {
		return f, true
	}
	if bytes.IndexByte(name, '_') < 0 || len(name) > 64 {
		return FieldUnknown, false
	}
	var buf [64]byte
	n := copy(buf[:], name)
	for i := range n {
		if buf[i] == '_' {
			buf[i] = '-'
		}
	}
	return LookupField(buf[:n])
}

// isHeader reports whether line names the fields of a layout rather than
// holding values: every token looks like a field name (a lowercase letter,
// then lowercase letters, digits, '-' or '_'), and either the first token is
// "version" and another token is a known field, or at least three tokens are
// known fields. Values never pass (records carry numbers, addresses, "-" or
// upper-case words), and neither does a stray word of text such as "end".
func isHeader(line []byte) bool {
	known, first, version := 0, true, false
	for len(line) > 0 {
		i := bytes.IndexByte(line, ' ')
		tok := line
		if i >= 0 {
			tok, line = line[:i], line[i+1:]
		} else {
			line = nil
		}
		if len(tok) == 0 {
			continue
		}
		if c := tok[0]; c < 'a' || c > 'z' {
			return false
		}
		for _, c := range tok[1:] {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
		if f, ok := lookupHeaderName(tok); ok {
			known++
			version = version || first && f == FieldVersion
		}
		first = false
	}
	return known >= 3 || version && known >= 2
}

// parseHeader sets l to the columns of a header line. Problems are returned
// as an error, but l is usable either way: a repeated name becomes an
// uninterpreted column.
func (l *Layout) parseHeader(line []byte) error {
	l.reset()
	var first error
	for len(line) > 0 {
		i := bytes.IndexByte(line, ' ')
		tok := line
		if i >= 0 {
			tok, line = line[:i], line[i+1:]
		} else {
			line = nil
		}
		if len(tok) == 0 {
			continue
		}
		if err := l.add(tok); err != nil && first == nil {
			first = err
		}
	}
	return first
}
