package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlog/flowlog/exporter"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/clickhouse"
)

func newSetupCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create or migrate what a sink keeps at its far end (ClickHouse tables)",
	}
	cmd.AddCommand(newSetupClickHouseCmd(s))
	return cmd
}

func newSetupClickHouseCmd(s streams) *cobra.Command {
	var (
		file     string
		sinks    []string
		print    bool
		timeout  time.Duration
		enrichOn = enrich.DefaultConfig()
	)
	cmd := &cobra.Command{
		Use:   "clickhouse (-c FILE | --sink clickhouse://…) [--print]",
		Short: "Create or migrate the ClickHouse tables and views the exporter writes",
		Long: `Create or migrate the ClickHouse schema of the exporter's ClickHouse sinks:
the flows table, the per-minute and per-hour rollups and their materialized
views, with the columns the enrichment fills and the retention configured.

It compares what the server holds (system.tables, system.columns,
system.data_skipping_indices) with what the configuration wants and applies
only the difference: missing tables, views, columns and indexes are created,
a changed retention is set, views that select other columns are recreated.
It refuses, naming the table and column, a change that would lose or rewrite
data (a column of another type, another sorting key). Running it again
changes nothing. export and backfill do the same at start unless the sink says
setup: false.

  flowlog setup clickhouse -c exporter.yaml            apply to every clickhouse sink
  flowlog setup clickhouse --sink clickhouse://default@db1:9000/flowlog --print
                                                       print the DDL, reach nothing

The enrichment flags matter: each enrichment has columns (with -c, the file's
enrich: section is used).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfgs []exporter.SinkConfig
			en := enrichOn
			redact := func(x string) string { return x }
			switch {
			case file != "" && len(sinks) > 0:
				return usageError("setup clickhouse: -c and --sink do not go together")
			case file != "":
				c, err := exporter.Load(file)
				if err != nil {
					return errf("setup clickhouse: %v", err)
				}
				cfgs, en, redact = c.Sinks, c.Enrich, c.Redactor.Redact
			case len(sinks) > 0:
				for _, u := range sinks {
					sc, err := exporter.SinkFromURL(u)
					if err != nil {
						return usageError("setup clickhouse: --sink: %v", err)
					}
					cfgs = append(cfgs, sc)
				}
			default:
				return usageError("setup clickhouse: give -c FILE or --sink clickhouse://…")
			}
			var chs []clickhouse.Config
			for _, sc := range cfgs {
				if c, ok := sc.Options().(clickhouse.Config); ok {
					chs = append(chs, c)
				}
			}
			if len(chs) == 0 {
				return usageError("setup clickhouse: no sink of type clickhouse in the configuration")
			}
			for _, c := range chs {
				if print {
					fmt.Fprintf(s.out, "-- flowlog schema for database %s\n", c.Database)
					for _, q := range clickhouse.NewSchema(c, &en).DDL() {
						fmt.Fprintf(s.out, "%s;\n\n", q)
					}
					continue
				}
				// The changes are listed on stdout; the sink's own log would repeat them.
				sk, err := clickhouse.New(c, sink.Deps{Enrich: &en})
				if err != nil {
					return errf("setup clickhouse: %s", redact(err.Error()))
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				steps, err := sk.Migrate(ctx)
				cancel()
				sk.Close(context.Background())
				if err != nil {
					return errf("setup clickhouse: %s: %s", sk.Name(), redact(err.Error()))
				}
				if len(steps) == 0 {
					fmt.Fprintf(s.out, "%s: schema up to date\n", sk.Name())
					continue
				}
				var whys []string
				for _, st := range steps {
					if st.Why != "" {
						whys = append(whys, st.Why)
					}
				}
				fmt.Fprintf(s.out, "%s: applied %d changes\n", sk.Name(), len(whys))
				for _, w := range whys {
					fmt.Fprintf(s.out, "  %s\n", w)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "config", "c", "", "exporter configuration `file`: its clickhouse sinks and enrichment")
	f.StringSliceVar(&sinks, "sink", nil, "a clickhouse://[user[:password]@]host[:port][/database] sink (repeatable)")
	f.BoolVar(&print, "print", false, "print the DDL that creates the schema on an empty server; reach nothing")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	f.StringVar(&enrichOn.GeoIP.City, "geoip-city", "", "the exporter will have a city database: add the country and city columns")
	f.StringVar(&enrichOn.GeoIP.ASN, "geoip-asn", "", "the exporter will have an ASN database: add the AS columns")
	f.StringVar(&enrichOn.Interfaces, "interfaces", "", "the exporter will have an interfaces file: add the interface columns")
	return cmd
}
