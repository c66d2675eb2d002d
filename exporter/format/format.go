// Package format tells the kinds of flow-log objects apart by their content
// and gives a reader for each: version-2 text (AWS, IONOS, Tencent, the
// collector; plain, gzip or zstd), IBM Cloud Flow Logs JSON and AWS's
// Parquet output. A format is chosen from the object's first bytes (after
// gunzip), never from its key. A new format is one more entry in the
// registry.
package format

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlog/flowlog/exporter/ibm"
	"github.com/flowlog/flowlog/parser"
)

// Reader reads the records of one object at a time. It sniffs and undoes
// gzip itself.
type Reader interface {
	// Reset starts reading object name from src.
	Reset(src io.Reader, name string)
	// Next returns the next record, valid until the next call: io.EOF
	// (itself, never wrapped) at the end; a *parser.LineError for one bad
	// record, after which Next goes on; a *parser.ObjectError that ends the
	// object.
	Next() (*parser.Record, error)
	// Line returns the line (or position) of the last record, for its id.
	Line() int
}

// Format is a kind of flow-log object.
type Format struct {
	Name string
	// Match reports whether an object whose decompressed content starts
	// with head is of this format; head may be short or empty.
	Match func(head []byte) bool
	// New returns a reader bounded by opts.
	New func(opts parser.Options) Reader
}

// V2 is version-2 text: records of space-separated fields, with or without
// a header line. It matches anything, so it comes last.
var V2 = Format{
	Name:  "v2",
	Match: func([]byte) bool { return true },
	New:   func(opts parser.Options) Reader { return parser.NewReader(nil, "", opts) },
}

// IBM is an IBM Cloud Flow Logs for VPC object: one JSON document.
var IBM = Format{
	Name: "ibm-json",
	Match: func(head []byte) bool {
		head = bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf")
		return len(head) > 0 && head[0] == '{'
	},
	New: func(opts parser.Options) Reader { return ibm.NewReader(opts) },
}

// Builtin are the formats flowlog reads, in the order they are tried.
var Builtin = []Format{Parquet, IBM, V2}

// Detector picks the format of objects and keeps a reader of each format,
// made on first use. It reuses its gzip state and readers: one per worker,
// not safe for concurrent use.
type Detector struct {
	formats []Format
	opts    parser.Options
	readers []Reader // by format
	gz      *gzip.Reader
	br      bytes.Reader
	head    [64]byte
}

// NewDetector returns a detector of formats (Builtin when nil) whose readers
// are bounded by opts.
func NewDetector(formats []Format, opts parser.Options) *Detector {
	if formats == nil {
		formats = Builtin
	}
	return &Detector{formats: formats, opts: opts, readers: make([]Reader, len(formats))}
}

// Reader returns the reader of the format of an object whose stored bytes
// start with raw (see Detect).
func (d *Detector) Reader(raw []byte) Reader {
	f := d.Detect(raw)
	if d.readers[f] == nil {
		d.readers[f] = d.formats[f].New(d.opts)
	}
	return d.readers[f]
}

// Detect returns the index of the format of an object whose stored bytes
// start with raw (a few KiB are enough; gzip is undone on a copy).
func (d *Detector) Detect(raw []byte) int {
	head := raw
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		head = d.gunzipHead(raw)
	}
	for i, f := range d.formats {
		if f.Match(head) {
			return i
		}
	}
	return len(d.formats) - 1
}

// gunzipHead decompresses the start of raw, as far as it goes.
func (d *Detector) gunzipHead(raw []byte) []byte {
	d.br.Reset(raw)
	var err error
	if d.gz == nil {
		d.gz, err = gzip.NewReader(&d.br)
	} else {
		err = d.gz.Reset(&d.br)
	}
	if err != nil {
		return nil
	}
	n, _ := io.ReadFull(d.gz, d.head[:])
	return d.head[:n]
}
