package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/flowlog/flowlog/exporter"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/pipeline"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/internal/objstore"
	"github.com/flowlog/flowlog/internal/ops"
)

// exportOptions are the flags export and backfill share.
type exportOptions struct {
	config     string
	check      bool
	source     string
	sinks      []string
	checkpoint string
	deadLetter string
	workers    int
	enrich     enrich.Config
	log        logOptions
}

func (o *exportOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "exporter configuration `file` (YAML); the flags below are then not used")
	f.BoolVar(&o.check, "check", false, "validate the configuration and exit")
	f.StringVar(&o.source, "source", "", "where the objects are: a folder, or s3://bucket[/prefix][?endpoint=…&region=…&path_style=true]")
	f.StringSliceVar(&o.sinks, "sink", nil, "where the documents go (repeatable): file:///folder, stdout or blackhole")
	f.StringVar(&o.checkpoint, "checkpoint", "", "state `file` of delivered objects (default: one per source under ~/.local/state/flowlog)")
	f.StringVar(&o.deadLetter, "dead-letter", "", "`folder` for rejected lines with their reasons (default: only logged and counted)")
	f.IntVar(&o.workers, "workers", 2, "objects processed at once")
	o.enrich = enrich.DefaultConfig()
	f.StringSliceVar(&o.enrich.LocalNetworks, "local-network", nil, "a `network` of yours, e.g. 10.0.0.0/8 (repeatable): sets network.direction")
	f.StringVar(&o.enrich.GeoIP.City, "geoip-city", "", "MaxMind-format city or country database (`.mmdb`): source/destination.geo")
	f.StringVar(&o.enrich.GeoIP.ASN, "geoip-asn", "", "MaxMind-format ASN database (`.mmdb`): source/destination.as")
	f.StringVar(&o.enrich.Interfaces, "interfaces", "", "YAML or CSV `file` of interfaces (id, name, vm, data_center, tags): host.name, tags, labels")
	f.StringVar(&o.log.format, "log-format", "text", "log format: text or json")
	f.StringVar(&o.log.level, "log-level", "info", "log level: debug, info, warn or error")
}

// configure returns the exporter configuration: the file of -c, or the flags.
func (o *exportOptions) configure(cmd *cobra.Command, kind string) (exporter.Config, error) {
	if o.config != "" {
		for _, name := range []string{"source", "sink", "checkpoint", "dead-letter", "workers", "local-network", "geoip-city", "geoip-asn", "interfaces"} {
			if cmd.Flags().Changed(name) {
				return exporter.Config{}, usageError("%s: --%s and -c do not go together: set it in the configuration file", kind, name)
			}
		}
		cfg, err := exporter.Load(o.config)
		if err != nil {
			return cfg, errf("%v", err)
		}
		return cfg, nil
	}
	if o.source == "" {
		return exporter.Config{}, usageError("%s: --source is required (a folder or s3://bucket/prefix), or -c FILE", kind)
	}
	if len(o.sinks) == 0 {
		return exporter.Config{}, usageError("%s: --sink is required (file:///folder, stdout or blackhole)", kind)
	}
	cfg := exporter.DefaultConfig()
	loc, s3cfg, err := objstore.ParseURL(o.source)
	if err != nil {
		return cfg, usageError("%s: --source: %v", kind, err)
	}
	cfg.Source = exporter.SourceConfig{URL: loc.String(), S3Config: s3cfg}
	cfg.Sinks, cfg.Checkpoint, cfg.DeadLetter, cfg.Workers, cfg.Enrich = o.sinks, o.checkpoint, o.deadLetter, o.workers, o.enrich
	return cfg, nil
}

func sourceURLs(cfg *exporter.Config) string {
	var urls []string
	for _, sc := range cfg.AllSources() {
		urls = append(urls, sc.URL)
	}
	return strings.Join(urls, ", ")
}

// pipelines builds one pipeline per source; reg may be nil.
func pipelines(cfg *exporter.Config, parts exporter.Parts, log *slog.Logger, reg prometheus.Registerer) ([]*pipeline.Pipeline, error) {
	var out []*pipeline.Pipeline
	for _, src := range parts.Sources {
		p, err := pipeline.New(cfg.PipelineConfig(), pipeline.Deps{Logger: log, Registerer: reg, Source: src,
			Sinks: parts.Sinks, Checkpoint: parts.Checkpoint, DeadLetter: parts.DeadLetter})
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func closeAll(pipes []*pipeline.Pipeline) {
	for _, p := range pipes {
		p.Close()
	}
}

// open validates cfg and opens its parts.
func open(cmd *cobra.Command, s streams, kind string, cfg *exporter.Config) (exporter.Parts, error) {
	if err := cfg.Validate(); err != nil {
		return exporter.Parts{}, usageError("%s: %v", kind, flagWords(err))
	}
	parts, err := cfg.Open(cmd.Context(), kind, s.out)
	if err != nil {
		return parts, usageError("%s: %v", kind, flagWords(err))
	}
	return parts, nil
}

// flagWords rewords configuration fields as the flags that set them.
func flagWords(err error) string {
	msg := err.Error()
	for _, r := range [][2]string{{"source.url: ", "--source: "}, {"sinks[0]: ", "--sink: "}, {"sinks[1]: ", "--sink: "}} {
		msg = strings.Replace(msg, r[0], r[1], 1)
	}
	return msg
}

func newExportCmd(s streams) *cobra.Command {
	var o exportOptions
	var listen string
	var poll, lookback time.Duration
	cmd := &cobra.Command{
		Use:   "export --source SOURCE --sink SINK",
		Short: "Deliver new flow-log objects from a bucket or folder to sinks, as they appear",
		Long: `export watches a bucket or a folder and delivers every flow-log object in it
to the sinks as ECS documents, once: an object is marked done in the checkpoint
only after every sink has confirmed all of its records, and every record has a
deterministic event.id, so a crash or a restart neither loses nor duplicates.

  flowlog export --source s3://flows/flowlogs --sink file:///var/lib/flowlog/out
  flowlog export --source 's3://flows/logs?endpoint=http://127.0.0.1:9000&path_style=true' --sink stdout
  flowlog export --source /var/lib/flowlog/objects --sink file:///var/lib/flowlog/out

Sources: a folder (files ending .log, .log.gz, .json, .json.gz; hidden and
still-changing files are skipped), or s3://bucket[/prefix] on any S3-compatible
service, with credentials from the AWS environment variables or shared files.
Each listing reaches --lookback into the past, so late objects and objects
rewritten under the same key (new ETag) are delivered too.

Sinks: file:///folder (one NDJSON file per object, written atomically: what a
Logstash file input or a SIEM forwarder picks up), stdout, blackhole (counts).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := o.log.logger(s.err)
			if err != nil {
				return err
			}
			cfg, err := o.configure(cmd, "export")
			if err != nil {
				return err
			}
			if o.config == "" {
				cfg.Poll, cfg.LookBack, cfg.Listen = poll, lookback, listen
			}
			if o.check {
				if err := cfg.Validate(); err != nil {
					return usageError("export: %v", flagWords(err))
				}
				fmt.Fprintf(s.out, "configuration OK: %s → %s, %d workers, poll %s, lookback %s\n",
					sourceURLs(&cfg), strings.Join(cfg.Sinks, ", "), cfg.Workers, cfg.Poll, cfg.LookBack)
				return nil
			}
			parts, err := open(cmd, s, "export", &cfg)
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			pipes, err := pipelines(&cfg, parts, log, reg)
			if err != nil {
				return usageError("export: %v", err)
			}
			defer closeAll(pipes)
			g, gctx := errgroup.WithContext(cmd.Context())
			for i, p := range pipes {
				log.Info("exporting", "source", parts.Sources[i].Name(), "sinks", strings.Join(cfg.Sinks, ","),
					"checkpoint", parts.Checkpoint.Path(), "poll", cfg.Poll, "lookback", cfg.LookBack)
				g.Go(func() error { return p.Run(gctx) })
			}
			if cfg.Listen != "" {
				all := func(check func(*pipeline.Pipeline) error) func() error {
					return func() error {
						for _, p := range pipes {
							if err := check(p); err != nil {
								return err
							}
						}
						return nil
					}
				}
				srv := &ops.Server{Addr: cfg.Listen, Gatherer: reg, Logger: log,
					Health: all((*pipeline.Pipeline).Healthy), Ready: all((*pipeline.Pipeline).Ready)}
				g.Go(func() error { return srv.Run(gctx) })
			}
			if err := g.Wait(); err != nil {
				return errf("%v", err)
			}
			return nil
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.DurationVar(&poll, "poll", 30*time.Second, "time between listings of the source")
	f.DurationVar(&lookback, "lookback", 24*time.Hour, "how far back listings reach, for late and rewritten objects")
	f.StringVar(&listen, "listen", "127.0.0.1:9109", "address for /metrics, /healthz and /readyz; empty turns it off")
	return cmd
}

func newBackfillCmd(s streams) *cobra.Command {
	var o exportOptions
	var since, until string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "backfill --source SOURCE --since TIME --until TIME --sink SINK",
		Short: "Deliver a bucket's history once, with progress; resumes where it stopped",
		Long: `backfill delivers the flow-log objects of a time range once and exits. The
time of an object comes from its key (IONOS: the window end; AWS: the file's
time stamp), else from its modification time. TIME is RFC 3339
(2024-05-01T12:00:00Z), a date (2024-05-01, midnight UTC) or unix seconds.

  flowlog backfill --source s3://flows/flowlogs --since 2024-05-01 --until 2024-05-02 --sink file:///srv/out
  flowlog backfill --source ./bucket --since 2024-05-01 --until 2024-05-02 --dry-run

Interrupted (Ctrl-C, crash), the same command resumes from its checkpoint:
objects already delivered are skipped. --dry-run lists what would be read
(count and bytes) without reading it. On a terminal a progress line shows
objects, bytes, records, rate and ETA; otherwise a log line every 10 s.

Exit status: 0 all delivered, 2 usage error or objects left undelivered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := o.log.logger(s.err)
			if err != nil {
				return err
			}
			var r source.Range
			if r.Since, err = parseTime(since); err != nil || since == "" {
				return usageError("backfill: --since %q: want RFC 3339, YYYY-MM-DD or unix seconds", since)
			}
			if r.Until, err = parseTime(until); err != nil || until == "" {
				return usageError("backfill: --until %q: want RFC 3339, YYYY-MM-DD or unix seconds", until)
			}
			if r.Until.Before(r.Since) {
				return usageError("backfill: --until %s is before --since %s", r.Until.Format(time.RFC3339), r.Since.Format(time.RFC3339))
			}
			if dryRun && len(o.sinks) == 0 && o.config == "" {
				o.sinks = []string{"blackhole"}
			}
			cfg, err := o.configure(cmd, "backfill")
			if err != nil {
				return err
			}
			if o.check {
				if err := cfg.Validate(); err != nil {
					return usageError("backfill: %v", flagWords(err))
				}
				fmt.Fprintf(s.out, "configuration OK: %s → %s\n", sourceURLs(&cfg), strings.Join(cfg.Sinks, ", "))
				return nil
			}
			parts, err := open(cmd, s, "backfill", &cfg)
			if err != nil {
				return err
			}
			pipes, err := pipelines(&cfg, parts, log, nil)
			if err != nil {
				return usageError("backfill: %v", err)
			}
			defer closeAll(pipes)
			cp := parts.Checkpoint
			failed := 0
			for i, p := range pipes {
				src := parts.Sources[i]
				todo, done, err := p.Plan(cmd.Context(), r)
				if err != nil {
					return errf("%v", err)
				}
				var total int64
				for _, ob := range todo {
					total += ob.Size
				}
				if dryRun {
					fmt.Fprintf(s.out, "%d objects, %s to read from %s (%s to %s); %d already delivered (checkpoint %s)\n",
						len(todo), humanBytes(total), src.Name(), r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339), done, cp.Path())
					if pl, ok := src.(prefixLister); ok {
						if prefixes, err := pl.Prefixes(cmd.Context(), r); err == nil {
							fmt.Fprintf(s.out, "listed: %s\n", strings.Join(prefixes, " "))
						}
					}
					for _, ob := range todo {
						fmt.Fprintf(s.out, "  %s  %s  %s\n", ob.Time().Format(time.RFC3339), humanBytes(ob.Size), ob.Key)
					}
					continue
				}
				log.Info("backfill", "source", src.Name(), "objects", len(todo), "bytes", total, "already_done", done, "checkpoint", cp.Path())
				prog := newProgress(s.err, len(todo), total, log)
				st, err := p.Deliver(cmd.Context(), todo, done, prog.update)
				prog.finish(st)
				if cmd.Context().Err() != nil {
					return errf("interrupted; run the same command again to resume")
				}
				if err != nil {
					log.Error("backfill incomplete", "source", src.Name(), "err", err)
					failed++
				}
			}
			if failed > 0 {
				return errf("%d of %d sources not fully delivered; run the same command again to retry", failed, len(pipes))
			}
			return nil
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "start of the time range (objects at or after)")
	f.StringVar(&until, "until", "", "end of the time range (objects at or before)")
	f.BoolVar(&dryRun, "dry-run", false, "list what would be read (count and bytes) and exit")
	return cmd
}

// prefixLister is a source that narrows its listing to key prefixes.
type prefixLister interface {
	Prefixes(ctx context.Context, r source.Range) ([]string, error)
}

// parseTime reads RFC 3339, YYYY-MM-DD (UTC) or unix seconds.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("time %q", s)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progress shows a backfill's advance: a redrawn line on a terminal, a log
// line every 10 s otherwise.
type progress struct {
	w       io.Writer
	tty     bool
	objects int
	bytes   int64
	start   time.Time
	log     interface{ Info(string, ...any) }

	mu   sync.Mutex
	last time.Time
}

func newProgress(w io.Writer, objects int, bytes int64, log interface{ Info(string, ...any) }) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, objects: objects, bytes: bytes, start: time.Now(), log: log}
}

func (p *progress) line(st pipeline.Stats) string {
	el := time.Since(p.start)
	rate := float64(st.Records) / max(el.Seconds(), 1e-3)
	doneObjs := st.Objects + st.Failed
	eta := "?"
	if st.Bytes > 0 && p.bytes > 0 {
		left := time.Duration(float64(el) * float64(p.bytes-st.Bytes) / float64(st.Bytes))
		eta = left.Round(time.Second).String()
	}
	return fmt.Sprintf("objects %d/%d  %s/%s  records %d  %.0f records/s  ETA %s",
		doneObjs, p.objects, humanBytes(st.Bytes), humanBytes(p.bytes), st.Records, rate, eta)
}

func (p *progress) update(st pipeline.Stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) >= 100*time.Millisecond {
			fmt.Fprintf(p.w, "\r\033[K%s", p.line(st))
			p.last = now
		}
		return
	}
	if now.Sub(p.last) >= 10*time.Second {
		p.log.Info("backfill progress", "progress", p.line(st))
		p.last = now
	}
}

func (p *progress) finish(st pipeline.Stats) {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "backfill: %d objects delivered, %d failed, %d already done; %d records, %d lines rejected, %s in %s\n",
		st.Objects, st.Failed, st.Skipped, st.Records, st.Rejected, humanBytes(st.Bytes), time.Since(p.start).Round(time.Millisecond))
}
