package main

import (
	"context"
	"errors"
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
	"github.com/flowlog/flowlog/exporter/queue"
	"github.com/flowlog/flowlog/exporter/sink"
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
	f.BoolVar(&o.check, "check", false, "check the configuration and reach every part (bucket, sinks, checkpoint, GeoIP files), then exit")
	f.StringVar(&o.source, "source", "", "where the objects are: a folder, or s3://bucket[/prefix][?endpoint=…&region=…&path_style=true]")
	f.StringSliceVar(&o.sinks, "sink", nil, "where the records go (repeatable): file:///folder, stdout, blackhole, clickhouse://[user@]host[:port][/database] (see flowlog setup clickhouse --help), es+https://host:9200 (see flowlog setup elasticsearch --help), loki+http://host:3100 or logstash://host:5044")
	f.StringVar(&o.checkpoint, "checkpoint", "", "state `file` of delivered objects (default: one per source under ~/.local/state/flowlog, shared by export and backfill)")
	f.StringVar(&o.deadLetter, "dead-letter", "", "`folder` for rejected records with their reasons (default: only logged and counted)")
	f.IntVar(&o.workers, "workers", 2, "objects read at once")
	o.enrich = enrich.DefaultConfig()
	f.StringSliceVar(&o.enrich.LocalNetworks, "local-network", nil, "a `network` of yours, e.g. 10.0.0.0/8 (repeatable): sets network.direction")
	f.StringVar(&o.enrich.GeoIP.City, "geoip-city", "", "MaxMind-format city or country database (`.mmdb`): source/destination.geo")
	f.StringVar(&o.enrich.GeoIP.ASN, "geoip-asn", "", "MaxMind-format ASN database (`.mmdb`): source/destination.as")
	f.StringVar(&o.enrich.Interfaces, "interfaces", "", "YAML or CSV `file` of interfaces (id, name, vm, data_center, tags): host.name, tags, labels")
	o.log.flags(f)
}

// configure returns the exporter configuration: the file of -c, or the flags.
func (o *exportOptions) configure(cmd *cobra.Command, kind string) (exporter.Config, error) {
	if o.config != "" {
		for _, name := range []string{"source", "sink", "checkpoint", "dead-letter", "workers", "local-network", "geoip-city", "geoip-asn", "interfaces", "poll", "lookback", "listen"} {
			if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
				return exporter.Config{}, usageError("%s: --%s and -c do not go together: set it in the configuration file", kind, name)
			}
		}
		cfg, err := exporter.Load(o.config)
		if err != nil {
			return cfg, errf("%s: %v", kind, err)
		}
		return cfg, nil
	}
	if o.source == "" {
		return exporter.Config{}, usageError("%s: --source is required (a folder or s3://bucket/prefix), or -c FILE", kind)
	}
	if len(o.sinks) == 0 {
		return exporter.Config{}, usageError("%s: --sink is required (file:///folder, stdout, blackhole, clickhouse://host/db, es+https://host:9200, loki+http://host:3100, logstash://host:5044)", kind)
	}
	cfg := exporter.DefaultConfig()
	loc, s3cfg, err := objstore.ParseURL(o.source)
	if err != nil {
		return cfg, usageError("%s: --source: %v", kind, err)
	}
	cfg.Source = exporter.SourceConfig{URL: loc.String(), S3Config: s3cfg}
	for _, u := range o.sinks {
		s, err := exporter.SinkFromURL(u)
		if err != nil {
			return cfg, usageError("%s: --sink: %v", kind, err)
		}
		cfg.Sinks = append(cfg.Sinks, s)
	}
	cfg.Checkpoint, cfg.DeadLetter, cfg.Workers, cfg.Enrich = o.checkpoint, o.deadLetter, o.workers, o.enrich
	return cfg, nil
}

// started is an exporter with its parts open and its pipelines built.
type started struct {
	cfg   exporter.Config
	parts exporter.Parts
	pipes []*pipeline.Pipeline
}

// start validates cfg and opens everything, so that whatever can fail at
// start fails here, before any work (and in --check, which runs just this).
func start(ctx context.Context, s streams, kind string, cfg exporter.Config, log *slog.Logger, reg prometheus.Registerer) (*started, error) {
	if err := cfg.Validate(); err != nil {
		return nil, errf("%s: %v", kind, flagWords(err))
	}
	parts, err := cfg.Open(ctx, sink.Deps{Logger: log, Registerer: reg, Stdout: s.out})
	if err != nil {
		return nil, errf("%s: %v", kind, flagWords(err))
	}
	pipes, err := cfg.Pipelines(parts, log, reg)
	if err != nil {
		parts.Close(ctx)
		return nil, errf("%s: %v", kind, flagWords(err))
	}
	return &started{cfg: cfg, parts: parts, pipes: pipes}, nil
}

// check reaches the bucket (one key listed), the sinks and the dead-letter
// folder, and says what would run.
func (st *started) check(ctx context.Context, s streams, kind string) error {
	if err := st.parts.Check(ctx); err != nil {
		return errf("%s: %v", kind, err)
	}
	fmt.Fprint(s.out, st.cfg.Redactor.Redact(fmt.Sprintf("configuration OK: %s → %s; checkpoint %s; %d workers\n",
		st.cfg.SourceNames(), st.cfg.SinkNames(), st.parts.Checkpoint.Path(), st.cfg.Workers)))
	return nil
}

// prepare lets the sinks that have work to do at their far end (a schema)
// do it before records flow; what they refuse stops the command.
func (st *started) prepare(ctx context.Context, kind string) error {
	for _, sk := range st.parts.Sinks {
		if p, ok := sk.(sink.Preparer); ok {
			if err := p.Prepare(ctx); err != nil {
				return errf("%s: sink %s: %v", kind, sk.Name(), err)
			}
		}
	}
	return nil
}

// stop closes the pipelines and parts: sinks deliver what they hold for at
// most 0.8 s (after the pipelines' second of grace: stopping takes under 2 s),
// the checkpoint is written and unlocked.
func (st *started) stop() error {
	for _, p := range st.pipes {
		p.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	return st.parts.Close(ctx)
}

// flagWords rewords the configuration field source.url as the flag that sets it.
func flagWords(err error) string {
	return strings.Replace(err.Error(), "source.url: ", "--source: ", 1)
}

func newExportCmd(s streams) *cobra.Command {
	var o exportOptions
	var listen string
	var poll, lookback, reconcile time.Duration
	var queueURL string
	cmd := &cobra.Command{
		Use:   "export --source SOURCE --sink SINK",
		Short: "Deliver new flow-log objects from a bucket or folder to sinks, as they appear",
		Long: `export watches a bucket or a folder and delivers every flow-log object in it
to the sinks, once: an object is marked done in the checkpoint only after
every sink has acknowledged all of its records, and every record has a
deterministic event.id, so a crash or a restart neither loses nor duplicates.

  flowlog export --source s3://flows/flowlogs --sink file:///var/lib/flowlog/out
  flowlog export --source 's3://flows/logs?endpoint=http://127.0.0.1:9000&path_style=true' --sink stdout
  flowlog export --source /var/lib/flowlog/objects --sink file:///var/lib/flowlog/out
  flowlog export -c /etc/flowlog/exporter.yaml --check

Sources: a folder (files ending .log, .log.gz, .log.zst, .parquet, .json, .json.gz; hidden and
still-changing files are skipped), or s3://bucket[/prefix] on any S3-compatible
service, with credentials from the AWS environment variables or shared files
(never in the address). Each listing reaches --lookback into the past, so late
objects and objects rewritten under the same key (new ETag) are delivered too.
Formats are recognised by content: version-2 text (with or without header,
plain, gzip or zstd), AWS's Parquet output and IBM Cloud Flow Logs JSON.

Many exporters on one bucket: with --queue (or "queue:" in the file), export
delivers what the bucket's notifications name instead of listing: an SQS
queue (AWS S3 → SQS, or S3 → SNS → SQS) or a NATS JetStream stream (MinIO);
the exporters share it. --reconcile EVERY also lists the bucket at that
interval and delivers what no exporter recorded (lost notifications).
README: Running many exporters.

  flowlog export --source s3://flows --queue sqs://sqs.eu-central-1.amazonaws.com/123456789012/flowlog --sink …
  flowlog export --source 's3://flows?endpoint=…' --queue 'nats://127.0.0.1:4222?stream=flows' --reconcile 15m --sink …

Sinks: file:///folder (one NDJSON file per object, written atomically: what a
Logstash file input or a SIEM forwarder picks up), stdout, blackhole (counts),
clickhouse://host/db, es+https://host:9200 (data stream logs-flowlog.flows-default),
loki+http://host:3100, logstash://host:5044. Credentials and every option:
use -c FILE (configs/exporter-*.yaml), secrets as ${ENV}.

--check opens everything start-up opens (checkpoint, GeoIP files, dead-letter
folder), lists one key of each bucket and asks each sink, then exits: it fails
exactly where a start would. One checkpoint serves one exporter at a time.

Logs: one line per object at --log-level debug; a summary every minute.
SIGTERM or Ctrl-C: listing stops, objects being read are abandoned (delivered
again at the next start), the checkpoint is written; within 2 seconds.`,
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
				if queueURL != "" {
					qc, err := queue.ParseURL(queueURL)
					if err != nil {
						return usageError("export: --queue: %v", err)
					}
					cfg.Queue = &qc
				}
			} else if queueURL != "" {
				return usageError("export: --queue and -c do not go together: set queue: in the configuration file")
			}
			if cmd.Flags().Changed("reconcile") {
				if cfg.Queue == nil {
					return usageError("export: --reconcile needs a queue (--queue, or queue: in the file): without one, export lists the bucket anyway")
				}
				cfg.Queue.Reconcile = reconcile
			}
			return redactErr(runExport(cmd, s, o, cfg, redacting(log, cfg.Redactor)), cfg.Redactor)
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.DurationVar(&poll, "poll", 30*time.Second, "time between listings of the source")
	f.DurationVar(&lookback, "lookback", 24*time.Hour, "how far back listings reach, for late and rewritten objects")
	f.StringVar(&listen, "listen", "127.0.0.1:9109", "address for /metrics, /healthz and /readyz; empty turns it off")
	f.StringVar(&queueURL, "queue", "", "deliver what bucket notifications name: sqs://sqs.REGION.amazonaws.com/ACCOUNT/NAME[?endpoint=…] (sqs+http:// for a plain-HTTP emulator) or nats://host:4222?stream=NAME[&consumer=…]")
	f.DurationVar(&reconcile, "reconcile", 0, "with a queue: list the bucket over --lookback this often and deliver what no exporter recorded (0: off)")
	return cmd
}

// checkQueue reaches the queue (and the reconciler's ledger) as a start
// would, and says what it found.
func checkQueue(ctx context.Context, s streams, cfg exporter.Config, log *slog.Logger) error {
	q, qopts, err := cfg.OpenQueue(ctx, log)
	if err != nil {
		return errf("export: %v", err)
	}
	defer q.Close()
	msg := fmt.Sprintf("queue OK: %s (a failing message is delivered %d times", q.Name(), q.MaxAttempts())
	if qopts.Ledger != nil {
		msg += fmt.Sprintf("; reconciling every %s through %s", qopts.Reconcile, qopts.Ledger.Name())
	}
	fmt.Fprintln(s.out, cfg.Redactor.Redact(msg+")"))
	return nil
}

// runExport runs export until its context ends.
func runExport(cmd *cobra.Command, s streams, o exportOptions, cfg exporter.Config, log *slog.Logger) error {
	ctx := cmd.Context()
	reg := prometheus.NewRegistry()
	st, err := start(ctx, s, "export", cfg, log, reg)
	if err != nil {
		return err
	}
	if o.check {
		err := st.check(ctx, s, "export")
		if err == nil && cfg.Queue != nil {
			err = checkQueue(ctx, s, cfg, log)
		}
		if cerr := st.stop(); err == nil && cerr != nil {
			err = errf("export: %v", cerr)
		}
		return err
	}
	if err := st.prepare(ctx, "export"); err != nil {
		st.stop()
		return err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g, gctx := errgroup.WithContext(ctx)
	if cfg.Queue != nil {
		q, qopts, err := cfg.OpenQueue(ctx, log)
		if err != nil {
			st.stop()
			return errf("export: %v", err)
		}
		defer q.Close()
		p := st.pipes[0]
		args := []any{"queue", q.Name(), "source", st.parts.Sources[0].Name(), "sinks", cfg.SinkNames()}
		if qopts.Ledger != nil {
			args = append(args, "reconcile", qopts.Reconcile, "reconcile_after", qopts.ReconcileAfter, "lookback", cfg.LookBack,
				"ledger", qopts.Ledger.Name())
		}
		log.Info("exporting what bucket notifications name", args...)
		g.Go(func() error { return p.RunQueue(gctx, q, qopts) })
	} else {
		for i, p := range st.pipes {
			log.Info("exporting", "source", st.parts.Sources[i].Name(), "sinks", cfg.SinkNames(),
				"checkpoint", st.parts.Checkpoint.Path(), "poll", cfg.Poll, "lookback", cfg.LookBack)
			g.Go(func() error { return p.Run(gctx) })
		}
	}
	if cfg.Listen != "" {
		all := func(check func(*pipeline.Pipeline) error) func() error {
			return func() error {
				for _, p := range st.pipes {
					if err := check(p); err != nil {
						return err
					}
				}
				return nil
			}
		}
		pipesReady := all((*pipeline.Pipeline).Ready)
		ready := func() error {
			if err := pipesReady(); err != nil {
				return err
			}
			for _, sk := range st.parts.Sinks {
				if r, ok := sk.(sink.Readier); ok {
					if err := r.Ready(); err != nil {
						return fmt.Errorf("sink %s: %w", sk.Name(), err)
					}
				}
			}
			return nil
		}
		srv := &ops.Server{Addr: cfg.Listen, Gatherer: reg, Logger: log,
			Health: all((*pipeline.Pipeline).Healthy), Ready: ready}
		g.Go(func() error { return srv.Run(gctx) })
	}
	err = g.Wait()
	if cerr := st.stop(); err == nil {
		err = cerr
	}
	if err != nil {
		return errf("export: %v", err)
	}
	log.Info("stopped; the checkpoint is written", "checkpoint", st.parts.Checkpoint.Path())
	return nil
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
(2024-05-01T12:00:00Z), a date (2024-05-01, midnight UTC), unix seconds, now,
or a time relative to now (-24h, -90m, -7d).

  flowlog backfill --source s3://flows/flowlogs --since 2024-05-01 --until 2024-05-02 --sink file:///srv/out
  flowlog backfill --source ./bucket --since -7d --until now --dry-run

Interrupted (Ctrl-C, crash), the same command resumes from its checkpoint,
which it shares with export of the same source: objects already delivered are
skipped. --dry-run lists what would be read (count and bytes) without reading
it. On a terminal a progress line shows objects, bytes, records, rate and ETA;
otherwise a log line every 10 s. An object that fails is tried 5 times.

Exit status: 0 everything delivered; 1 delivered, but some lines or records
were rejected or some objects were damaged (see the dead letters and the
log); 2 usage or configuration error, or objects left undelivered (run the
same command again).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := o.log.logger(s.err)
			if err != nil {
				return err
			}
			now := time.Now()
			var r source.Range
			if since == "" || until == "" {
				return usageError("backfill: --since and --until are required: the time range to deliver (e.g. --since 2024-05-01 --until 2024-05-02, or --since -24h --until now)")
			}
			if r.Since, err = parseTime(since, now); err != nil {
				return usageError("backfill: --since %q: %v", since, err)
			}
			if r.Until, err = parseTime(until, now); err != nil {
				return usageError("backfill: --until %q: %v", until, err)
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
			log = redacting(log, cfg.Redactor)
			return redactErr(runBackfill(cmd, s, o, cfg, r, dryRun, log), cfg.Redactor)
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "start of the time range (objects at or after); required")
	f.StringVar(&until, "until", "", "end of the time range (objects at or before); required")
	f.BoolVar(&dryRun, "dry-run", false, "list what would be read (count and bytes) and exit")
	return cmd
}

// runBackfill runs the backfill of r and says how it went.
func runBackfill(cmd *cobra.Command, s streams, o exportOptions, cfg exporter.Config, r source.Range, dryRun bool, log *slog.Logger) error {
	ctx := cmd.Context()
	st, err := start(ctx, s, "backfill", cfg, log, nil)
	if err != nil {
		return err
	}
	if o.check {
		err := st.check(ctx, s, "backfill")
		if cerr := st.stop(); err == nil && cerr != nil {
			err = errf("backfill: %v", cerr)
		}
		return err
	}
	if !dryRun {
		err = st.prepare(ctx, "backfill")
	}
	if err == nil {
		err = backfill(ctx, s, st, r, dryRun, log, o.log.format == "json")
	}
	if cerr := st.stop(); err == nil && cerr != nil {
		err = errf("backfill: %v", cerr)
	}
	return err
}

// backfill runs the backfill of every source and says how it went.
func backfill(ctx context.Context, s streams, st *started, r source.Range, dryRun bool, log *slog.Logger, jsonLogs bool) error {
	// A far end that refuses old entries (Loki) says so before the work.
	for _, sk := range st.parts.Sinks {
		if a, ok := sk.(interface {
			AcceptsSince(context.Context) (time.Time, bool)
		}); ok {
			if oldest, ok := a.AcceptsSince(ctx); ok && r.Since.Before(oldest) {
				log.Warn("the sink refuses entries older than it accepts: records of the range before that will be rejected (see the dead letters); raise its limit for a backfill",
					"sink", sk.Name(), "oldest_accepted", oldest.UTC().Format(time.RFC3339), "since", r.Since.UTC().Format(time.RFC3339))
			}
		}
	}
	cp := st.parts.Checkpoint
	var total pipeline.Stats
	failed := false
	for i, p := range st.pipes {
		src := st.parts.Sources[i]
		todo, done, err := p.Plan(ctx, r)
		if err != nil {
			return errf("backfill: %v", err)
		}
		var bytes int64
		for _, ob := range todo {
			bytes += ob.Size
		}
		if dryRun {
			fmt.Fprintf(s.out, "%s, %s to read from %s (%s to %s); %s already delivered (checkpoint %s)\n",
				plural(len(todo), "object"), humanBytes(bytes), src.Name(), r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339),
				plural(done, "object"), cp.Path())
			if pl, ok := src.(prefixLister); ok {
				if prefixes, err := pl.Prefixes(ctx, r); err == nil {
					fmt.Fprintf(s.out, "listed: %s\n", strings.Join(prefixes, " "))
				}
			}
			for _, ob := range todo {
				fmt.Fprintf(s.out, "  %s  %s  %s\n", ob.Time().Format(time.RFC3339), humanBytes(ob.Size), ob.Key)
			}
			continue
		}
		log.Info("backfill", "source", src.Name(), "objects", len(todo), "bytes", bytes, "already_done", done, "checkpoint", cp.Path())
		prog := newProgress(s.err, len(todo), bytes, log, jsonLogs)
		stats, err := p.Deliver(ctx, todo, done, prog.update)
		prog.finish(src.Name(), stats)
		add(&total, stats)
		if ctx.Err() != nil {
			return errf("backfill: interrupted; what was delivered is in the checkpoint: run the same command again to resume")
		}
		if err != nil {
			failed = true
		}
	}
	switch {
	case dryRun:
		return nil
	case failed:
		return errf("backfill: %s not delivered; run the same command again to retry them", plural(total.Failed, "object"))
	case total.Damaged > 0 || total.RejectedLines > 0 || total.SinkRejected > 0:
		return &exitError{code: exitRejected}
	}
	return nil
}

func add(t *pipeline.Stats, s pipeline.Stats) {
	t.Objects += s.Objects
	t.Damaged += s.Damaged
	t.Failed += s.Failed
	t.Skipped += s.Skipped
	t.Bytes += s.Bytes
	t.Records += s.Records
	t.RejectedLines += s.RejectedLines
	t.SinkRejected += s.SinkRejected
}

// prefixLister is a source that narrows its listing to key prefixes.
type prefixLister interface {
	Prefixes(ctx context.Context, r source.Range) ([]string, error)
}

// parseTime reads RFC 3339, YYYY-MM-DD (UTC), unix seconds, "now", or a
// duration relative to now: -24h, -90m, -7d (days of 24 h).
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Unix(n, 0).UTC(), nil
	}
	if rel, ok := strings.CutPrefix(s, "-"); ok {
		if days, ok := strings.CutSuffix(rel, "d"); ok {
			if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 {
				return now.Add(-time.Duration(n * 24 * float64(time.Hour))).UTC(), nil
			}
		}
		if d, err := time.ParseDuration(rel); err == nil && d >= 0 {
			return now.Add(-d).UTC(), nil
		}
	}
	return time.Time{}, errors.New("want RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01), unix seconds, now, or a time before now (-24h, -7d)")
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

// plural writes "1 object", "2 objects".
func plural[N int | int64](n N, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// progress shows a backfill's advance: a redrawn line on a terminal, a log
// line every 10 s otherwise (and always with --log-format json).
type progress struct {
	w       io.Writer
	tty     bool
	objects int
	bytes   int64
	start   time.Time
	log     *slog.Logger

	mu   sync.Mutex
	last time.Time
}

func newProgress(w io.Writer, objects int, bytes int64, log *slog.Logger, jsonLogs bool) *progress {
	tty := false
	if f, ok := w.(*os.File); ok && !jsonLogs {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, objects: objects, bytes: bytes, start: time.Now(), log: log}
}

func (p *progress) rate(st pipeline.Stats) (perSec float64, eta string) {
	el := time.Since(p.start)
	perSec = float64(st.Records) / max(el.Seconds(), 1e-3)
	eta = "?"
	if st.Bytes > 0 && p.bytes > 0 {
		eta = time.Duration(float64(el) * float64(p.bytes-st.Bytes) / float64(st.Bytes)).Round(time.Second).String()
	}
	return perSec, eta
}

func (p *progress) update(st pipeline.Stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	rate, eta := p.rate(st)
	if p.tty {
		if now.Sub(p.last) >= 100*time.Millisecond {
			fmt.Fprintf(p.w, "\r\033[Kobjects %d/%d  %s/%s  records %d  %.0f records/s  ETA %s",
				st.Objects+st.Failed, p.objects, humanBytes(st.Bytes), humanBytes(p.bytes), st.Records, rate, eta)
			p.last = now
		}
		return
	}
	if now.Sub(p.last) >= 10*time.Second {
		p.log.Info("backfill progress", "objects_done", st.Objects+st.Failed, "objects", p.objects, "bytes_done", st.Bytes, "bytes", p.bytes,
			"records", st.Records, "records_per_second", int64(rate), "eta", eta)
		p.last = now
	}
}

// finish says how the backfill of one source went: in words on a terminal
// or plain output, as a log record with --log-format json.
func (p *progress) finish(src string, st pipeline.Stats) {
	took := time.Since(p.start).Round(time.Millisecond)
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	if _, isJSON := p.log.Handler().(*slog.JSONHandler); isJSON {
		p.log.Info("backfill finished", "source", src, "objects_delivered", st.Objects, "objects_damaged", st.Damaged,
			"objects_failed", st.Failed, "objects_already_done", st.Skipped, "records", st.Records, "lines_rejected", st.RejectedLines,
			"records_refused_by_sinks", st.SinkRejected, "bytes", st.Bytes, "took", took.String())
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "backfill %s: %s delivered", src, plural(st.Objects, "object"))
	if st.Damaged > 0 {
		fmt.Fprintf(&b, " (%d damaged: the records before the damage)", st.Damaged)
	}
	fmt.Fprintf(&b, ", %d failed, %d already done; %s", st.Failed, st.Skipped, plural(st.Records, "record"))
	if st.RejectedLines > 0 {
		fmt.Fprintf(&b, ", %s rejected", plural(st.RejectedLines, "line"))
	}
	if st.SinkRejected > 0 {
		fmt.Fprintf(&b, ", %s refused by sinks", plural(st.SinkRejected, "record"))
	}
	fmt.Fprintf(&b, "; %s in %s\n", humanBytes(st.Bytes), took)
	io.WriteString(p.w, b.String())
}
