package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/format"
	"github.com/flowlog/flowlog/exporter/recordid"
	"github.com/flowlog/flowlog/parser"
)

type parseOptions struct {
	output    string
	bucket    string // for event.id, as the exporter derives it
	etag      string
	strict    bool
	header    bool
	maxErrors int // rejected lines printed per file; 0 prints all
	limits    parser.Options
}

func newParseCmd(s streams) *cobra.Command {
	o := parseOptions{limits: parser.DefaultOptions()}
	c := &cobra.Command{
		Use:   "parse [flags] FILE|- ...",
		Short: "Print the records of flow-log objects as JSON, ECS or v2 lines",
		Long: `Parse reads flow-log objects (version-2 text or IBM Cloud Flow Logs JSON, plain
or gzip, all recognised by content, not by name; a header line sets the field
order) and prints one line per record on standard output:

  --output json   the record as flat JSON with snake_case names (default)
  --output ecs    the Elastic Common Schema document the exporter ships, with
                  the same default enrichment (Community ID, services,
                  address classes); with --bucket and --etag, and FILE named
                  by its key, event.id is the one the exporter gives
  --output v2     the record as a normalized version-2 line

Rejected lines are reported on standard error as FILE:LINE: reason, and the
lines after them are still read; past --max-errors per file only their number
is reported. "-" reads standard input.

Exit status: 0 every line parsed, 1 some lines rejected, 2 usage, I/O or
decompression error (the records before the error are printed).`,
		Example: `  flowlog parse flowlogs/webserver01-1629810635.log.gz
  flowlog parse --output ecs AWSLogs/*/vpcflowlogs/*/2024/05/01/*.log.gz
  zcat old.log.gz | flowlog parse --output v2 --header -`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("parse: name at least one FILE, or - for standard input")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			switch o.output {
			case "json", "ecs", "v2":
			default:
				return usageError("parse: --output %q: want json, ecs or v2", o.output)
			}
			if o.header && o.output != "v2" {
				return usageError("parse: --header works with --output v2 only")
			}
			if (o.bucket != "" || o.etag != "") && o.output != "ecs" {
				return usageError("parse: --bucket and --etag work with --output ecs only")
			}
			if o.maxErrors < 0 {
				return usageError("parse: --max-errors %d: want 0 (all) or more", o.maxErrors)
			}
			if err := o.limits.Validate(); err != nil {
				return usageError("parse: %v", err)
			}
			return runParse(s, o, args)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.output, "output", "o", "json", "output format: json, ecs or v2")
	f.BoolVar(&o.strict, "strict", false, "stop at the first rejected line")
	f.StringVar(&o.bucket, "bucket", "", "with --output ecs: the object's bucket (for a folder source, the folder's absolute path), for event.id")
	f.StringVar(&o.etag, "etag", "", "with --output ecs: the object's ETag (as listed, with its quotes), for event.id")
	f.BoolVar(&o.header, "header", false, "with --output v2, print a header line first")
	f.IntVar(&o.maxErrors, "max-errors", 20, "rejected lines to print per file, then only count (0: print all)")
	f.IntVar(&o.limits.MaxLineBytes, "max-line-bytes", o.limits.MaxLineBytes, "reject lines longer than this")
	f.Int64Var(&o.limits.MaxBytes, "max-bytes", o.limits.MaxBytes, "stop reading an object after this many decompressed bytes")
	c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "ecs", "v2"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// parseRun holds the state of one parse command.
type parseRun struct {
	o        parseOptions
	out      *bufio.Writer
	errOut   io.Writer
	enc      *ecs.Encoder
	fill     *enrich.Filler
	values   enrich.Values
	id       []byte
	detect   *format.Detector
	reader   format.Reader
	buf      []byte
	records  int
	rejected int
}

func runParse(s streams, o parseOptions, files []string) error {
	enc, err := ecs.New(ecs.DefaultConfig())
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	en, err := enrich.New(enrich.DefaultConfig())
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	p := &parseRun{o: o, out: bufio.NewWriterSize(s.out, 64<<10), errOut: s.err, enc: enc, fill: en.NewFiller(),
		detect: format.NewDetector(nil, o.limits)}
	if o.header {
		p.out.Write(parser.AppendHeader(nil))
	}
	failed := false
	for _, name := range files {
		err := p.file(s.in, name)
		if err == errStrict {
			break
		}
		if err != nil {
			p.out.Flush()
			fmt.Fprintf(p.errOut, "%s: %v\n", name, err)
			failed = true
		}
	}
	if err := p.out.Flush(); err != nil {
		return &exitError{code: exitFailure, err: fmt.Errorf("writing output: %w", err)}
	}
	if p.rejected > 0 {
		fmt.Fprintf(p.errOut, "flowlog parse: %s printed, %s rejected\n", plural(p.records, "record"), plural(p.rejected, "line"))
	}
	switch {
	case failed:
		return &exitError{code: exitFailure}
	case p.rejected > 0:
		return &exitError{code: exitRejected}
	}
	return nil
}

var errStrict = errors.New("stopped at the first rejected line (--strict)")

// file prints the records of one file. It returns errStrict when --strict
// stops the run, or the error that ended the file.
func (p *parseRun) file(stdin io.Reader, name string) error {
	var src io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return pe.Err // the message starts with the name already
			}
			return err
		}
		defer f.Close()
		src = f
	}
	// The format is told by content, as the exporter tells it: v2 text
	// or IBM Cloud Flow Logs JSON, gzip or not.
	br := bufio.NewReaderSize(src, 64<<10)
	head, _ := br.Peek(4 << 10)
	p.reader = p.detect.Reader(head)
	p.reader.Reset(br, name)
	ids := recordid.ForObject(p.o.bucket, name, p.o.etag)
	var records, rejected int
	defer func() { p.summarize(name, records, rejected) }()
	for {
		rec, err := p.reader.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var le *parser.LineError
		if errors.As(err, &le) {
			p.rejected++
			rejected++
			if p.o.maxErrors == 0 || rejected <= p.o.maxErrors {
				p.out.Flush() // keep stdout and stderr in order on a terminal
				fmt.Fprintf(p.errOut, "%s:%d: %s\n", name, le.Line, le.Detail())
			}
			if p.o.strict {
				return errStrict
			}
			continue
		}
		if err != nil {
			if errors.Is(err, syscall.EISDIR) {
				return fmt.Errorf("is a directory; name the objects in it, e.g. %s", filepath.Join(name, "*.log.gz"))
			}
			return plainObjectError(err)
		}
		switch p.o.output {
		case "json":
			p.buf = append(parser.AppendJSON(p.buf[:0], rec), '\n')
		case "ecs":
			p.id = ids.Append(p.id[:0], p.reader.Line())
			p.fill.Fill(&p.values, rec)
			p.buf = append(p.enc.AppendECS(p.buf[:0], rec, p.id, &p.values), '\n')
		case "v2":
			p.buf = parser.AppendRecord(p.buf[:0], rec)
		}
		if _, err := p.out.Write(p.buf); err != nil {
			return err
		}
		p.records++
		records++
	}
}

// summarize reports, after a file, the rejected lines it did not print and
// whether the file looks like a flow log at all.
func (p *parseRun) summarize(name string, records, rejected int) {
	if hidden := rejected - p.o.maxErrors; p.o.maxErrors > 0 && hidden > 0 {
		fmt.Fprintf(p.errOut, "%s: %d more rejected lines not shown (--max-errors 0 shows all)\n", name, hidden)
	}
	if records == 0 && rejected > 0 && !p.o.strict {
		fmt.Fprintf(p.errOut, "%s: no line parsed as a flow record: is this a flow log?\n", name)
	}
}

// plainObjectError drops the object name from an object error: the file
// name already starts the message.
func plainObjectError(err error) error {
	var oe *parser.ObjectError
	if !errors.As(err, &oe) {
		return err
	}
	if oe.Line > 0 {
		return fmt.Errorf("after line %d: %w", oe.Line, oe.Err)
	}
	return oe.Err
}
