package parser

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Options bound what a Reader accepts from one object.
type Options struct {
	// MaxLineBytes is the longest line accepted, without its line end.
	// A longer line is rejected and skipped; the lines after it are read.
	MaxLineBytes int
	// MaxBytes is the most decompressed bytes read from one object; past it
	// the object ends with ErrTooLarge. It stops decompression bombs.
	MaxBytes int64
}

// DefaultOptions returns the limits used when none are configured:
// 64 KiB lines and 1 GiB of decompressed data per object.
func DefaultOptions() Options {
	return Options{MaxLineBytes: 64 << 10, MaxBytes: 1 << 30}
}

// MaxLineLimit is the largest MaxLineBytes accepted: the reader holds a
// buffer of that size.
const MaxLineLimit = 64 << 20

// Validate names the option that cannot be used.
func (o Options) Validate() error {
	if o.MaxLineBytes < 1 || o.MaxLineBytes > MaxLineLimit {
		return fmt.Errorf("max line bytes %d: want 1 to %d", o.MaxLineBytes, MaxLineLimit)
	}
	if o.MaxBytes < 1 {
		return fmt.Errorf("max bytes %d: want at least 1", o.MaxBytes)
	}
	return nil
}

// Reader reads the records of one flow-log object: plain text, gzip or zstd
// (recognised by their magic bytes, not by the name; multi-member gzip is read
// whole), with or without header lines. Reset reuses a Reader, with its
// buffers and gzip state, for the next object; in steady state reading a
// record allocates nothing.
type Reader struct {
	opts Options
	name string

	src   *bufio.Reader // the object as stored
	gz    *gzip.Reader
	zst   *zstd.Decoder
	limit LimitReader   // the object decompressed, capped at opts.MaxBytes
	lines *bufio.Reader // lines of the decompressed object

	opened     bool
	compressed bool
	isZstd     bool    // the object is zstd (else gzip when compressed)
	line       int     // number of the last line read
	layout     *Layout // the columns named by the last header
	headerText []byte  // that header line, to reuse its layout when the same header comes again
	headerErr  error   // and what was wrong with it
	header     bool    // layout holds a header
	headerV2   bool    // and it names the version-2 fields in order
	rec        Record
	err        error // sticky: the object error, or io.EOF
}

// NewReader returns a Reader of src. name identifies the object in errors.
// Zero fields of opts take their default; a MaxLineBytes above MaxLineLimit
// is lowered to it (check user input with Options.Validate).
func NewReader(src io.Reader, name string, opts Options) *Reader {
	d := DefaultOptions()
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = d.MaxLineBytes
	}
	opts.MaxLineBytes = min(opts.MaxLineBytes, MaxLineLimit)
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = d.MaxBytes
	}
	r := &Reader{opts: opts}
	r.Reset(src, name)
	return r
}

// Reset makes r read a new object, keeping its buffers.
func (r *Reader) Reset(src io.Reader, name string) {
	if r.src == nil {
		r.src = bufio.NewReaderSize(src, 32<<10)
	} else {
		r.src.Reset(src)
	}
	r.name = name
	r.opened, r.compressed, r.isZstd, r.header = false, false, false, false
	r.line = 0
	r.limit = LimitReader{}
	r.err = nil
}

// Line returns the number of the last line read (1-based).
func (r *Reader) Line() int { return r.line }

// Compressed reports whether the object is gzip or zstd; valid after the first Next.
func (r *Reader) Compressed() bool { return r.compressed }

// DecompressedBytes returns how many decompressed bytes were read so far.
func (r *Reader) DecompressedBytes() int64 { return r.limit.N }

// Next returns the next record. The record and its byte slices are valid
// until the next call.
//
// At the end of the object Next returns io.EOF. A *LineError rejects one line:
// call Next again for the lines after it. An *ObjectError ends the object; the
// records before it were all returned.
func (r *Reader) Next() (*Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.opened {
		if err := r.open(); err != nil {
			r.err = &ObjectError{Object: r.name, Err: err}
			return nil, r.err
		}
	}
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			continue
		}
		if c := line[0]; c >= 'a' && c <= 'z' && isHeader(line) {
			r.header = true
			if r.layout == nil || !bytes.Equal(line, r.headerText) {
				// A new layout, never a rewritten one: records read
				// before this header keep theirs (a batch may hold them).
				r.layout = new(Layout)
				r.headerText = append(r.headerText[:0], line...)
				r.headerErr = r.layout.parseHeader(line)
			}
			r.headerV2 = slices.Equal(r.layout.fields, V2.fields)
			if err := r.headerErr; err != nil {
				return nil, r.lineError(err)
			}
			continue
		}
		switch {
		case !r.header:
			err = ParseLine(&r.rec, line)
		case r.headerV2 && scanV2(&r.rec, line):
			err = nil
		default:
			err = r.layout.Parse(&r.rec, line)
		}
		if err != nil {
			return nil, r.lineError(err)
		}
		return &r.rec, nil
	}
}

// open sniffs the object's first bytes and sets up decompression.
func (r *Reader) open() error {
	r.opened = true
	var in io.Reader = r.src
	magic, _ := r.src.Peek(4) // a shorter object is plain text (or empty)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		r.compressed = true
		var err error
		if r.gz == nil {
			r.gz, err = gzip.NewReader(r.src)
		} else {
			err = r.gz.Reset(r.src)
		}
		if err != nil {
			return r.classify(err)
		}
		in = r.gz
	case IsZstd(magic):
		r.compressed, r.isZstd = true, true
		var err error
		if r.zst == nil {
			// One block at a time, in this goroutine; windows past 64 MiB
			// (a hostile header) are refused rather than allocated.
			r.zst, err = zstd.NewReader(r.src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20),
				zstd.WithDecoderLowmem(true))
		} else {
			err = r.zst.Reset(r.src)
		}
		if err != nil {
			return r.classify(err)
		}
		in = r.zst
	}
	r.limit = LimitReader{R: in, Max: r.opts.MaxBytes}
	if r.lines == nil {
		r.lines = bufio.NewReaderSize(&r.limit, r.opts.MaxLineBytes+2)
	} else {
		r.lines.Reset(&r.limit)
	}
	return nil
}

var bom = []byte("\xef\xbb\xbf")

// readLine returns the next line without its line end.
func (r *Reader) readLine() ([]byte, error) {
	b, err := r.lines.ReadSlice('\n')
	switch {
	case err == nil:
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, r.skipLongLine()
	case err == io.EOF:
		if len(b) == 0 {
			r.err = io.EOF
			return nil, io.EOF
		}
		// The last line has no line end: a complete line all the same.
	default:
		// A partial line before a read error may be cut mid-value: drop it.
		r.err = &ObjectError{Object: r.name, Line: r.line, Err: r.classify(err)}
		return nil, r.err
	}
	r.line++
	b = trimEOL(b)
	if r.line == 1 {
		b = bytes.TrimPrefix(b, bom)
	}
	if len(b) > r.opts.MaxLineBytes {
		return nil, r.lineError(r.tooLong())
	}
	return b, nil
}

// skipLongLine discards the rest of a line that does not fit the buffer.
func (r *Reader) skipLongLine() error {
	r.line++
	for {
		_, err := r.lines.ReadSlice('\n')
		if err == nil || err == io.EOF {
			return r.lineError(r.tooLong())
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			r.err = &ObjectError{Object: r.name, Line: r.line - 1, Err: r.classify(err)}
			return r.err
		}
	}
}

func (r *Reader) tooLong() error {
	return &LineError{Reason: fmt.Sprintf("longer than %d bytes; skipped", r.opts.MaxLineBytes), Err: ErrLineTooLong}
}

// lineError completes a parse error with the object and line.
func (r *Reader) lineError(err error) error {
	var le *LineError
	if errors.As(err, &le) {
		le.Object, le.Line = r.name, r.line
		return le
	}
	return &LineError{Object: r.name, Line: r.line, Reason: err.Error(), Err: err}
}

// classify wraps a read or decompression error in its object-error kind.
func (r *Reader) classify(err error) error {
	switch {
	case errors.Is(err, ErrTooLarge):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		stream := "gzip"
		if r.isZstd {
			stream = "zstd"
		}
		return fmt.Errorf("%w (%s stream ends early): %w", ErrTruncated, stream, err)
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), isFlateError(err), isZstdError(err):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// IsZstd reports whether an object starting with magic is a zstd frame.
func IsZstd(magic []byte) bool {
	return len(magic) >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd
}

// isZstdError reports whether err is the zstd decoder's complaint about
// the stream's bytes.
func isZstdError(err error) bool {
	for _, e := range []error{zstd.ErrMagicMismatch, zstd.ErrWindowSizeExceeded, zstd.ErrWindowSizeTooSmall,
		zstd.ErrBlockTooSmall, zstd.ErrReservedBlockType, zstd.ErrCompressedSizeTooBig, zstd.ErrCRCMismatch,
		zstd.ErrFrameSizeMismatch, zstd.ErrDecoderSizeExceeded, zstd.ErrUnknownDictionary, zstd.ErrFrameSizeExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// LimitReader reads R, and fails with ErrTooLarge once more than Max bytes
// were read: it stops decompression bombs. N counts the bytes read.
type LimitReader struct {
	R   io.Reader
	N   int64
	Max int64
}

func (l *LimitReader) Read(p []byte) (int, error) {
	if l.N > l.Max {
		return 0, l.tooLarge()
	}
	if room := l.Max - l.N; room < int64(len(p)) {
		p = p[:room+1] // one byte past the limit tells "more" from "exactly max"
	}
	n, err := l.R.Read(p)
	l.N += int64(n)
	if l.N > l.Max {
		return n - int(l.N-l.Max), l.tooLarge()
	}
	return n, err
}

func (l *LimitReader) tooLarge() error {
	return fmt.Errorf("%w of %d bytes", ErrTooLarge, l.Max)
}

func isFlateError(err error) bool {
	var corrupt flate.CorruptInputError
	var internal flate.InternalError
	return errors.As(err, &corrupt) || errors.As(err, &internal)
}
