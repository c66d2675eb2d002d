package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlog/flowlog/internal/gen"
)

func newGenCmd(s streams) *cobra.Command {
	cfg := gen.DefaultConfig()
	var out string
	start := cfg.Start.Unix()
	c := &cobra.Command{
		Use:   "gen --out DIR [flags]",
		Short: "Write realistic synthetic flow-log objects",
		Long: `Gen writes one host's flow log as gzip objects DIR/NAME-<unix>.log.gz, one per
window of --interval starting at --start, as IONOS Flow Logs name them. The
traffic is made up but shaped like the real thing: IPv4 and IPv6, TCP, UDP and
ICMP, accepted and rejected flows, a few heavy talkers among many peers, and
some NODATA and SKIPDATA records. The same flags and seed always write the
same bytes, so tests, demos and benchmarks can rely on them.

Each object is written to a temporary file and renamed into place, so a
watcher never sees half an object. The paths written are printed, one a line.`,
		Example: `  flowlog gen --out /tmp/bucket
  flowlog gen --out /tmp/bucket --objects 144 --records 50000 --name web01 --seed 7`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return usageError("gen: --out DIR is required")
			}
			cfg.Start = time.Unix(start, 0).UTC()
			if err := cfg.Validate(); err != nil {
				return usageError("gen: %v", err)
			}
			paths, err := gen.WriteDir(out, cfg)
			for _, p := range paths {
				fmt.Fprintln(s.out, p)
			}
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			fmt.Fprintf(s.err, "flowlog gen: wrote %d objects of %d records to %s\n", len(paths), cfg.Records, out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "folder to write the objects to (created if missing)")
	f.IntVar(&cfg.Objects, "objects", cfg.Objects, "number of objects (consecutive windows)")
	f.IntVar(&cfg.Records, "records", cfg.Records, "records per object")
	f.StringVar(&cfg.Name, "name", cfg.Name, "flow-log name, the start of each key")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed: the same seed writes the same objects")
	f.Int64Var(&start, "start", start, "start of the first window, unix seconds")
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "window length")
	f.BoolVar(&cfg.Header, "header", cfg.Header, "write a header line first in each object")
	f.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "account-id of the records")
	f.StringVar(&cfg.InterfaceID, "interface-id", "", "interface-id of the records (default: derived from name and seed)")
	c.MarkFlagDirname("out")
	return c
}
