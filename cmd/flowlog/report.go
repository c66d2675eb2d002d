package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlog/flowlog/dashboards/report"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/internal/atomicfile"
	"github.com/flowlog/flowlog/parser"
)

func newReportCmd(s streams) *cobra.Command {
	var (
		out, title, city string
		opts             report.Options
		limits           = parser.DefaultOptions()
	)
	cmd := &cobra.Command{
		Use:   "report [flags] PATH...",
		Short: "Write a self-contained HTML summary of flow-log objects or of the exporter's NDJSON output",
		Long: `Report reads flow-log objects (v2 text or IBM JSON, gzip or not) and the
exporter's NDJSON output (files ending in .ndjson: what a backfill to
file:// writes), from files and folders, and writes one HTML page summarising
them: traffic over time by action, top sources, destinations, pairs and
ports, rejected flows by source and port, possible scans, traffic by country,
and SKIPDATA/NODATA windows per interface.

The page has no scripts and loads nothing: open it in any browser, mail it,
attach it to a ticket. Lists are exact up to --max-keys distinct keys each;
past that the page says which are approximate.

  flowlog report --out hour.html bucket/
  flowlog report --out backfill.html --geoip-city GeoLite2-City.mmdb out/

Exit status: 0 written; 1 written, but some lines or files could not be read
(listed on the page and on standard error); 2 nothing written.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("report: name at least one file or folder")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError("report: give --out FILE.html")
			}
			if err := limits.Validate(); err != nil {
				return usageError("report: %v", err)
			}
			r := &report.Reader{S: report.New(opts), Limits: limits}
			if city != "" {
				ec := enrich.Config{GeoIP: enrich.GeoIP{City: city}}
				en, err := enrich.New(ec)
				if err != nil {
					return errf("report: --geoip-city: %v", err)
				}
				defer en.Close()
				r.Fill = en.NewFiller()
			}
			var sources []string
			for _, p := range args {
				if err := r.Read(p); err != nil {
					return errf("report: %v", err)
				}
				abs, _ := filepath.Abs(p)
				sources = append(sources, abs)
			}
			if r.Files == 0 {
				return errf("report: no files found in %s", strings.Join(args, ", "))
			}
			var notes []string
			if r.Rejected > 0 || len(r.Errors) > 0 {
				notes = append(notes, fmt.Sprintf("Not everything could be read (%d lines rejected); the first problems:", r.Rejected))
				notes = append(notes, r.Errors...)
			}
			if title == "" {
				title = "Flow logs"
			}
			err := atomicfile.Write(out, 0o644, func(w io.Writer) error {
				return r.S.WriteHTML(w, title, sources, notes, time.Now())
			})
			if err != nil {
				return errf("report: %v", err)
			}
			abs, _ := filepath.Abs(out)
			fmt.Fprintf(s.out, "%s: %d files, %d records, %d flows (%d rejected)\n", abs, r.Files, r.S.Records, r.S.OK.Flows, r.S.Rejected.Flows)
			if r.Rejected > 0 || len(r.Errors) > 0 {
				for _, e := range r.Errors {
					fmt.Fprintln(s.err, e)
				}
				return &exitError{code: exitRejected}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "the HTML `file` to write")
	f.StringVar(&title, "title", "", "the page's title (default \"Flow logs\")")
	f.StringVar(&city, "geoip-city", "", "MaxMind City database (`.mmdb`) for the countries of v2 records (NDJSON carries its own)")
	f.IntVar(&opts.MaxKeys, "max-keys", 200_000, "distinct keys kept per list before the smallest are dropped (bounds memory)")
	f.IntVar(&opts.ScanMin, "scan-min", 10, "distinct destination ports or hosts that make a mostly rejected source a possible scan")
	f.IntVar(&limits.MaxLineBytes, "max-line-bytes", limits.MaxLineBytes, "reject lines longer than this")
	f.Int64Var(&limits.MaxBytes, "max-bytes", limits.MaxBytes, "stop reading an object after this many decompressed bytes")
	return cmd
}
