package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlog/flowlog/internal/atomicfile"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/pcapgen"
)

func newGenCmd(s streams) *cobra.Command {
	cfg := gen.DefaultConfig()
	var out, pcap string
	var packets, flows int
	start := strconv.FormatInt(cfg.Start.Unix(), 10)
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
watcher never sees half an object. The paths written are printed, one a line.

With --pcap FILE, gen writes a capture instead: --packets Ethernet frames of
--flows TCP, UDP and ICMP flows (IPv4 and IPv6, both directions) spread over
--objects windows of --interval, for 'flowlog collect --pcap' to convert. The
capturing host's MAC address is 02:00:00:00:00:01.`,
		Example: `  flowlog gen --out /tmp/bucket
  flowlog gen --out /tmp/bucket --objects 144 --records 50000 --name web01 --seed 7
  flowlog gen --pcap /tmp/trace.pcap --packets 1000000 --flows 5000`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			t, err := parseTime(start, time.Now())
			if err != nil {
				return usageError("gen: --start %q: %v", start, err)
			}
			cfg.Start = t
			if pcap != "" {
				return genPcap(s, pcap, cfg, packets, flows)
			}
			if out == "" {
				return usageError("gen: --out DIR (objects) or --pcap FILE (a capture) is required")
			}
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
			fmt.Fprintf(s.err, "flowlog gen: wrote %s of %s to %s\n", plural(len(paths), "object"), plural(cfg.Records, "record"), out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "folder to write the objects to (created if missing)")
	f.IntVar(&cfg.Objects, "objects", cfg.Objects, "number of objects (consecutive windows)")
	f.IntVar(&cfg.Records, "records", cfg.Records, "records per object")
	f.StringVar(&cfg.Name, "name", cfg.Name, "flow-log name, the start of each key")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed: the same seed writes the same objects")
	f.StringVar(&start, "start", start, "start of the first window: unix seconds, RFC 3339, a date, now, or a time before now (-24h, -7d)")
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "window length")
	f.BoolVar(&cfg.Header, "header", cfg.Header, "write a header line first in each object")
	f.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "account-id of the records")
	f.StringVar(&cfg.InterfaceID, "interface-id", "", "interface-id of the records (default: derived from name and seed)")
	f.StringVar(&pcap, "pcap", "", "write a pcap `file` of made-up traffic instead of objects")
	f.IntVar(&packets, "packets", 100_000, "with --pcap: number of frames")
	f.IntVar(&flows, "flows", 1000, "with --pcap: number of distinct flows")
	c.MarkFlagDirname("out")
	return c
}

func genPcap(s streams, path string, cfg gen.Config, packets, flows int) error {
	if packets < 1 || flows < 1 {
		return usageError("gen: --packets and --flows must be at least 1")
	}
	span := time.Duration(cfg.Objects) * cfg.Interval
	err := atomicfile.Write(path, 0o666, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := pcapgen.Random(bw, cfg.Seed, packets, flows, cfg.Start, span); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	fmt.Fprintln(s.out, path)
	fmt.Fprintf(s.err, "flowlog gen: wrote %d frames of %d flows over %s to %s\n", packets, flows, span, path)
	return nil
}
