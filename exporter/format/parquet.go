package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/flowlog/flowlog/parser"
)

// Parquet is AWS's Parquet flow-log output: one column per field of the
// flow log's format, named with underscores (account_id, log_status), of
// the types AWS documents (INT_32 version, ports, protocol, tcp-flags,
// traffic-path; INT_64 packets, bytes, start, end; STRING the rest), a
// missing value as null. Each row becomes the text record it stands for, so
// a Parquet object and its text twin give the same records.
var Parquet = Format{
	Name:  "parquet",
	Match: func(head []byte) bool { return bytes.HasPrefix(head, []byte("PAR1")) },
	New:   func(opts parser.Options) Reader { return &parquetReader{opts: opts} },
}

// parquetRowBatch is how many rows are read at a time.
const parquetRowBatch = 256

// parquetReader reads a Parquet object. Parquet keeps its index at the
// end, so the object is first copied to an unlinked temporary file (up to
// MaxBytes); rows are then read a row group at a time: memory follows a
// row group, not the object.
type parquetReader struct {
	opts   parser.Options
	name   string
	tmp    *os.File
	groups []parquet.RowGroup
	group  int
	rows   parquet.Rows
	batch  []parquet.Row
	at, n  int // next row of batch, rows in it
	layout *parser.Layout
	names  []string // the columns, as the file names them
	row    int      // rows returned, for Line
	line   []byte
	rec    parser.Record
	err    error // sticky
	src    io.Reader
	opened bool
}

func (r *parquetReader) Reset(src io.Reader, name string) {
	r.closeObject()
	r.src, r.name = src, name
	r.opened, r.err = false, nil
	r.group, r.at, r.n, r.row = 0, 0, 0, 0
}

func (r *parquetReader) Line() int { return r.row }

func (r *parquetReader) closeObject() {
	if r.rows != nil {
		r.rows.Close()
		r.rows = nil
	}
	if r.tmp != nil {
		r.tmp.Close()
		r.tmp = nil
	}
	r.groups, r.layout = nil, nil
}

func (r *parquetReader) fail(err error) error {
	r.closeObject()
	r.err = &parser.ObjectError{Object: r.name, Line: r.row, Err: err}
	return r.err
}

// open copies the object aside and reads its footer and schema.
func (r *parquetReader) open() error {
	r.opened = true
	max := r.opts.MaxBytes
	if max <= 0 {
		max = parser.DefaultOptions().MaxBytes
	}
	f, err := os.CreateTemp("", "flowlog-parquet-*")
	if err != nil {
		return fmt.Errorf("a temporary file for the Parquet object: %w", err)
	}
	os.Remove(f.Name()) // gone with the descriptor, whatever happens
	r.tmp = f
	n, err := io.Copy(f, io.LimitReader(r.src, max+1))
	if err != nil {
		return err // a download error: not the object's fault
	}
	if n > max {
		return fmt.Errorf("%w: larger than %d bytes", parser.ErrTooLarge, max)
	}
	// The footer's length is in the file's last 8 bytes; parquet-go
	// allocates what it claims.
	var tail [8]byte
	if n < 12 {
		return fmt.Errorf("%w: %d bytes are not a Parquet file", parser.ErrCorrupt, n)
	}
	if _, err := f.ReadAt(tail[:], n-8); err != nil {
		return err
	}
	if footer := int64(binary.LittleEndian.Uint32(tail[:4])); footer > n-12 || footer > maxFooter || string(tail[4:]) != "PAR1" {
		return fmt.Errorf("%w: a footer of %d bytes in a file of %d (cut short?)", parser.ErrCorrupt, footer, n)
	}
	pf, err := parquet.OpenFile(f, n, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.FileReadMode(parquet.ReadModeSync))
	if err != nil {
		return fmt.Errorf("%w: not a readable Parquet file: %v", parser.ErrCorrupt, err)
	}
	if err := checkParquetSizes(pf, n, max); err != nil {
		return err
	}
	if err := checkParquetPages(f, pf, n); err != nil {
		return err
	}
	var names []string
	for _, path := range pf.Schema().Columns() {
		if len(path) != 1 {
			return fmt.Errorf("%w: column %v is nested; AWS's flow logs have flat columns", parser.ErrCorrupt, path)
		}
		names = append(names, path[0])
	}
	if r.layout, err = parser.NewLayout(names...); err != nil {
		return fmt.Errorf("%w: columns %v: %v", parser.ErrCorrupt, names, err)
	}
	known := 0
	for _, fld := range r.layout.Fields() {
		if fld != parser.FieldUnknown {
			known++
		}
	}
	if known == 0 {
		return fmt.Errorf("%w: no column is a flow-log field (%v)", parser.ErrCorrupt, names)
	}
	r.groups, r.names = pf.RowGroups(), names
	if r.batch == nil {
		r.batch = make([]parquet.Row, parquetRowBatch)
	}
	return nil
}

// Next returns the next record. parquet-go panics on some malformed files;
// a panic while reading is the object's corruption, not the exporter's.
func (r *parquetReader) Next() (rec *parser.Record, err error) {
	if r.err != nil {
		return nil, r.err
	}
	defer func() {
		if p := recover(); p != nil {
			rec, err = nil, r.fail(fmt.Errorf("%w: %v", parser.ErrCorrupt, p))
		}
	}()
	if !r.opened {
		if err := r.open(); err != nil {
			return nil, r.fail(err)
		}
	}
	for r.at == r.n {
		if err := r.fill(); err != nil {
			if err == io.EOF {
				r.closeObject()
				r.err = io.EOF
				return nil, io.EOF
			}
			return nil, r.fail(err)
		}
	}
	row := r.batch[r.at]
	r.at++
	r.row++
	line, err := r.text(row)
	if err == nil {
		err = r.layout.Parse(&r.rec, line)
	}
	if err != nil {
		var le *parser.LineError
		if !errors.As(err, &le) {
			le = &parser.LineError{Reason: err.Error(), Err: err}
		}
		le.Object, le.Line = r.name, r.row
		return nil, le
	}
	return &r.rec, nil
}

// fill reads the next batch of rows, moving to the next row group at the
// end of one; io.EOF after the last.
func (r *parquetReader) fill() error {
	for {
		if r.rows == nil {
			if r.group == len(r.groups) {
				return io.EOF
			}
			r.rows = r.groups[r.group].Rows()
			r.group++
		}
		n, err := r.rows.ReadRows(r.batch)
		r.at, r.n = 0, n
		if n > 0 {
			return nil
		}
		if err == io.EOF {
			r.rows.Close()
			r.rows = nil
			continue
		}
		if err == nil {
			err = errors.New("no rows and no end") // a reader that would spin
		}
		return fmt.Errorf("%w: row group %d: %v", parser.ErrCorrupt, r.group, err)
	}
}

// text writes a row as the record line it stands for: values in column
// order, "-" for null.
func (r *parquetReader) text(row parquet.Row) ([]byte, error) {
	b := r.line[:0]
	col := 0
	for _, v := range row {
		if v.Column() != col {
			return nil, fmt.Errorf("column %d: a repeated or missing value", col)
		}
		if col > 0 {
			b = append(b, ' ')
		}
		switch {
		case v.IsNull():
			b = append(b, '-')
		case v.Kind() == parquet.Int32:
			b = strconv.AppendInt(b, int64(v.Int32()), 10)
		case v.Kind() == parquet.Int64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case v.Kind() == parquet.ByteArray || v.Kind() == parquet.FixedLenByteArray:
			s := v.ByteArray()
			if len(s) == 0 || bytes.ContainsAny(s, " \t\r\n") {
				return nil, fmt.Errorf("column %s: %q is not one word", r.names[col], clip(s))
			}
			b = append(b, s...)
		default:
			return nil, fmt.Errorf("column %s: type %s is not one AWS writes", r.names[col], v.Kind())
		}
		col++
	}
	if col != r.layout.Len() {
		return nil, fmt.Errorf("%d values for %d columns", col, r.layout.Len())
	}
	if len(b) > r.opts.MaxLineBytes && r.opts.MaxLineBytes > 0 {
		return nil, fmt.Errorf("longer than %d bytes", r.opts.MaxLineBytes)
	}
	r.line = b
	return b, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// checkParquetSizes refuses a file whose metadata claims more than the
// object can hold: column chunks larger than the file, more values than
// the decompressed limit allows. The reader sizes its buffers from these
// claims.
func checkParquetSizes(pf *parquet.File, size, max int64) error {
	md := pf.Metadata()
	if md.NumRows < 0 || md.NumRows > max {
		return fmt.Errorf("%w: %d rows claimed in %d bytes", parser.ErrCorrupt, md.NumRows, size)
	}
	for i, rg := range md.RowGroups {
		if rg.NumRows < 0 || rg.NumRows > md.NumRows {
			return fmt.Errorf("%w: row group %d claims %d rows", parser.ErrCorrupt, i, rg.NumRows)
		}
		for _, c := range rg.Columns {
			m := c.MetaData
			switch m.Codec {
			case format.Uncompressed, format.Gzip, format.Snappy, format.Zstd:
			default:
				// AWS writes gzip; the LZ4 decoders grow their output
				// without bound on a hostile page.
				return fmt.Errorf("%w: column %v: compression %s is not one flowlog reads (gzip, snappy, zstd, none)",
					parser.ErrCorrupt, m.PathInSchema, m.Codec)
			}
			if m.NumValues < 0 || m.NumValues > max || m.TotalCompressedSize < 0 || m.TotalCompressedSize > size ||
				m.TotalUncompressedSize < 0 || m.TotalUncompressedSize > max || m.DataPageOffset < 0 || m.DataPageOffset > size {
				return fmt.Errorf("%w: row group %d, column %v: sizes beyond the file (%d values, %d bytes compressed, %d uncompressed)",
					parser.ErrCorrupt, i, m.PathInSchema, m.NumValues, m.TotalCompressedSize, m.TotalUncompressedSize)
			}
		}
	}
	return nil
}

// Bounds on what one page may claim. AWS writes pages of about 1 MiB.
const (
	maxPageBytes  = 8 << 20
	maxPageHeader = 64 << 10
	maxPages      = 1 << 20
	maxPageValues = 1 << 20
	maxFooter     = 4 << 20
)

// checkParquetPages walks the page headers of every column chunk before
// any page is read: parquet-go sizes its page buffers from them, so a file
// claiming a 2 GiB page would have it allocated. Each page must lie inside
// its chunk, and claim at most maxPageBytes, and no more values than
// maxPageValues and (for data pages of these flat columns) its row group's
// rows.
func checkParquetPages(ra io.ReaderAt, pf *parquet.File, size int64) error {
	var proto thrift.CompactProtocol
	head := make([]byte, maxPageHeader)
	pages := 0
	for i, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			m := c.MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
				start = m.DictionaryPageOffset
			}
			end := start + m.TotalCompressedSize
			if start < 4 || end > size || end < start {
				return fmt.Errorf("%w: row group %d, column %v: pages outside the file", parser.ErrCorrupt, i, m.PathInSchema)
			}
			for off := start; off < end; {
				if pages++; pages > maxPages {
					return fmt.Errorf("%w: more than %d pages", parser.ErrCorrupt, maxPages)
				}
				n, err := ra.ReadAt(head[:min(int64(maxPageHeader), end-off)], off)
				if err != nil && err != io.EOF {
					return err
				}
				var h format.PageHeader
				pr := proto.NewReaderFromBytes(head[:n])
				if err := thrift.NewDecoder(pr).Decode(&h); err != nil {
					return fmt.Errorf("%w: row group %d, column %v: page header at byte %d: %v", parser.ErrCorrupt, i, m.PathInSchema, off, err)
				}
				values := int64(-1)
				if d, ok := h.DataPageHeader.Get(); ok {
					values = int64(d.NumValues)
				} else if d, ok := h.DataPageHeaderV2.Get(); ok {
					values = max(int64(d.NumValues), int64(d.NumRows))
				} else if d, ok := h.DictionaryPageHeader.Get(); ok {
					values = int64(d.NumValues)
				}
				body := int64(h.CompressedPageSize)
				if body < 0 || h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxPageBytes ||
					off+int64(pr.BytesRead())+body > end || values > maxPageValues || values > max(rg.NumRows, 1) && h.Type != format.DictionaryPage {
					return fmt.Errorf("%w: row group %d, column %v: page at byte %d claims %d bytes (%d compressed) and %d values",
						parser.ErrCorrupt, i, m.PathInSchema, off, h.UncompressedPageSize, body, values)
				}
				off += int64(pr.BytesRead()) + body
			}
		}
	}
	return nil
}
