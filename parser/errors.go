package parser

import (
	"errors"
	"strconv"
	"strings"
)

// Kinds of line errors. A line error rejects one line; the lines after it
// are read as usual.
var (
	ErrFieldCount  = errors.New("wrong number of fields")
	ErrValue       = errors.New("invalid value")
	ErrLineTooLong = errors.New("line too long")
	ErrHeader      = errors.New("invalid header")
)

// Kinds of object errors. An object error ends the object: the records
// before it were delivered, nothing after it can be read.
var (
	ErrTooLarge  = errors.New("object exceeds the decompressed size limit")
	ErrTruncated = errors.New("object is truncated")
	ErrCorrupt   = errors.New("object is corrupt")
)

// LineError rejects one line of an object. Use errors.As to tell it from an
// ObjectError, and keep reading after it.
type LineError struct {
	Object string // name of the object or file; empty when unknown
	Line   int    // 1-based line number; 0 when unknown (ParseLine)
	Field  string // AWS name of the field at fault; empty when the line as a whole is
	Value  string // the offending text, shortened and made printable
	Reason string // what is wrong, for a person
	Err    error  // ErrFieldCount, ErrValue, ErrLineTooLong or ErrHeader
}

func (e *LineError) Error() string {
	var b strings.Builder
	if e.Object != "" {
		b.WriteString("object ")
		b.WriteString(e.Object)
		b.WriteByte(' ')
	}
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	b.WriteString(e.Detail())
	return b.String()
}

// Detail returns the error without object and line: "field srcaddr: ...".
func (e *LineError) Detail() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if e.Value != "" {
		b.WriteByte(' ')
		b.WriteString(e.Value)
	}
	return b.String()
}

func (e *LineError) Unwrap() error { return e.Err }

// ObjectError ends the reading of an object. Line is the last line that was
// read completely; every record up to it has been delivered.
type ObjectError struct {
	Object string
	Line   int
	Err    error // wraps ErrTooLarge, ErrTruncated, ErrCorrupt or an I/O error
}

func (e *ObjectError) Error() string {
	var b strings.Builder
	b.WriteString("object ")
	if e.Object != "" {
		b.WriteString(e.Object)
	} else {
		b.WriteString("(unnamed)")
	}
	if e.Line > 0 {
		b.WriteString(" after line ")
		b.WriteString(strconv.Itoa(e.Line))
	} else {
		b.WriteString(" before the first line")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ObjectError) Unwrap() error { return e.Err }

// maxQuoted is how much of an offending value an error message shows.
const maxQuoted = 64

// quote renders a value for an error message: quoted, printable (invalid
// UTF-8 and control bytes escaped), short.
func quote(v []byte) string {
	cut := len(v) > maxQuoted
	if cut {
		v = v[:maxQuoted]
	}
	s := strconv.Quote(string(v))
	if cut {
		s += "…"
	}
	return s
}
