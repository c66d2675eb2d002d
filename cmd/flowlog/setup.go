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
	"github.com/flowlog/flowlog/exporter/sink/elasticsearch"
)

func newSetupCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create or migrate what a sink keeps at its far end (ClickHouse tables, Elasticsearch templates)",
	}
	cmd.AddCommand(newSetupClickHouseCmd(s), newSetupElasticsearchCmd(s))
	return cmd
}

// setupSinks returns the sinks of -c FILE or of --sink URLs, with the
// enrichment and the redactor of the file.
func setupSinks(kind, file string, sinks []string, en enrich.Config) ([]exporter.SinkConfig, enrich.Config, func(string) string, error) {
	redact := func(x string) string { return x }
	switch {
	case file != "" && len(sinks) > 0:
		return nil, en, redact, usageError("setup %s: -c and --sink do not go together", kind)
	case file != "":
		c, err := exporter.Load(file)
		if err != nil {
			return nil, en, redact, errf("setup %s: %v", kind, err)
		}
		return c.Sinks, c.Enrich, c.Redactor.Redact, nil
	case len(sinks) > 0:
		var cfgs []exporter.SinkConfig
		for _, u := range sinks {
			sc, err := exporter.SinkFromURL(u)
			if err != nil {
				return nil, en, redact, usageError("setup %s: --sink: %v", kind, err)
			}
			cfgs = append(cfgs, sc)
		}
		return cfgs, en, redact, nil
	}
	return nil, en, redact, usageError("setup %s: give -c FILE or --sink", kind)
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
			cfgs, en, redact, err := setupSinks("clickhouse", file, sinks, enrichOn)
			if err != nil {
				return err
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

func newSetupElasticsearchCmd(s streams) *cobra.Command {
	var (
		file    string
		sinks   []string
		print   bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "elasticsearch (-c FILE | --sink es+https://…) [--print]",
		Short: "Install or upgrade the Elasticsearch index template, component templates and ILM policy",
		Long: `Install or upgrade what the exporter's Elasticsearch sinks need in the cluster:

  ILM policy          logs-flowlog.flows            rollover at 50 GB per primary shard
                                                    or 30 days; delete after retention_days
  component template  logs-flowlog.flows@package    settings and the mapping of every field
  component template  logs-flowlog.flows@custom     yours: created empty, never changed
  index template      logs-flowlog.flows            logs-flowlog.flows-* as data streams,
                                                    priority 250 (above the built-in logs)

Each of flowlog's resources carries _meta.managed_by: flowlog and a version:
an older version is upgraded, a newer one (a newer flowlog's) left alone, and
a resource of the same name that flowlog did not make is refused, by name.
Running it again changes nothing. export and backfill do the same at start
unless the sink says setup: false. With target: elastic-aws it only checks
that Elastic's AWS integration installed its logs-aws.vpcflow template.

  flowlog setup elasticsearch -c exporter.yaml       apply to every elasticsearch sink
  flowlog setup elasticsearch --sink es+https://es1:9200 --print
                                                     print the requests, reach nothing

The user needs the cluster privileges manage_index_templates and manage_ilm
(the README has a role).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfgs, _, redact, err := setupSinks("elasticsearch", file, sinks, enrich.DefaultConfig())
			if err != nil {
				return err
			}
			var ess []elasticsearch.Config
			for _, sc := range cfgs {
				if c, ok := sc.Options().(elasticsearch.Config); ok {
					ess = append(ess, c)
				}
			}
			if len(ess) == 0 {
				return usageError("setup elasticsearch: no sink of type elasticsearch in the configuration")
			}
			for _, c := range ess {
				if print {
					if c.Target == elasticsearch.TargetElasticAWS {
						fmt.Fprintf(s.out, "# target elastic-aws: the templates are Elastic's AWS integration's; nothing to install\n")
						continue
					}
					for _, st := range elasticsearch.Requests(c) {
						fmt.Fprintf(s.out, "%s %s\n%s\n\n", st.Method, st.Path, st.Body)
					}
					continue
				}
				sk, err := elasticsearch.New(c, sink.Deps{})
				if err != nil {
					return errf("setup elasticsearch: %s", redact(err.Error()))
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				steps, err := sk.Migrate(ctx)
				cancel()
				sk.Close(context.Background())
				if err != nil {
					return errf("setup elasticsearch: %s: %s", sk.Name(), redact(err.Error()))
				}
				if len(steps) == 0 {
					fmt.Fprintf(s.out, "%s: up to date\n", sk.Name())
					continue
				}
				fmt.Fprintf(s.out, "%s: applied %d changes\n", sk.Name(), len(steps))
				for _, st := range steps {
					fmt.Fprintf(s.out, "  %s\n", st.Why)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "config", "c", "", "exporter configuration `file`: its elasticsearch sinks")
	f.StringSliceVar(&sinks, "sink", nil, "an es+https://host:9200 sink (repeatable)")
	f.BoolVar(&print, "print", false, "print the requests that install everything on an empty cluster; reach nothing")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}
