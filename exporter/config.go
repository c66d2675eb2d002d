// Package exporter wires the exporter together from its configuration:
// sources, enrichment, sinks (chosen by type in sinks.go), checkpoint and
// dead-letter folder.
package exporter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/exporter/checkpoint"
	"github.com/flowlog/flowlog/exporter/deadletter"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/pipeline"
	"github.com/flowlog/flowlog/exporter/queue"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/objstore"
	"github.com/flowlog/flowlog/parser"
)

// Config is one exporter: its sources, its sinks, and how to get from one
// to the other.
type Config struct {
	Listen     string        `yaml:"listen"`      // /metrics, /healthz, /readyz; "" turns it off
	Checkpoint string        `yaml:"checkpoint"`  // state file; default one per set of sources under ~/.local/state/flowlog
	DeadLetter string        `yaml:"dead_letter"` // folder for rejected records; "" keeps only logs and counts
	Workers    int           `yaml:"workers"`
	Poll       time.Duration `yaml:"poll"`
	LookBack   time.Duration `yaml:"lookback"`
	Source     SourceConfig  `yaml:"source"` // one source…
	// Queue, when set, makes export deliver the objects that bucket
	// notifications in a queue (NATS JetStream or SQS) name, instead of
	// listing the (single, s3://) source: many exporters share the queue.
	Queue     *queue.Config  `yaml:"queue"`
	Sources   []SourceConfig `yaml:"sources"` // …or several, each with its own pipeline
	SinkNodes []yaml.Node    `yaml:"sinks"`   // decoded into Sinks by Load
	Sinks     []SinkConfig   `yaml:"-"`
	Enrich    enrich.Config  `yaml:"enrich"`
	Limits    Limits         `yaml:"limits"`

	// Redactor hides the values the file took from the environment in
	// errors and logs.
	Redactor *config.Redactor `yaml:"-"`
}

// Limits bound what one object and the whole exporter may take.
type Limits struct {
	MaxLineBytes       config.ByteSize `yaml:"max_line_bytes"`        // longer lines are rejected
	MaxObjectBytes     config.ByteSize `yaml:"max_object_bytes"`      // decompressed, per object
	MaxRecordsInFlight int64           `yaml:"max_records_in_flight"` // handed to sinks, not yet acknowledged
	MaxBytesInFlight   config.ByteSize `yaml:"max_bytes_in_flight"`
}

// SourceConfig is a folder, or a bucket with the options to reach it.
type SourceConfig struct {
	URL               string   `yaml:"url"`      // s3://bucket[/prefix] or a folder
	Prefixes          []string `yaml:"prefixes"` // further prefixes in the same bucket
	objstore.S3Config `yaml:",inline"`
}

// DefaultConfig returns the defaults without source or sinks.
func DefaultConfig() Config {
	p := pipeline.DefaultConfig()
	return Config{Listen: "127.0.0.1:9109", Workers: p.Workers, Poll: p.PollInterval, LookBack: p.LookBack, Enrich: enrich.DefaultConfig(),
		Limits: Limits{MaxLineBytes: config.ByteSize(p.Parser.MaxLineBytes), MaxObjectBytes: config.ByteSize(p.Parser.MaxBytes),
			MaxRecordsInFlight: p.MaxRecordsInFlight, MaxBytesInFlight: config.ByteSize(p.MaxBytesInFlight)}}
}

// Load reads a configuration file over the defaults and validates it.
// Errors never repeat a value the file took from the environment.
func Load(path string) (Config, error) {
	c, err := load(path)
	if err != nil {
		err = errors.New(c.Redactor.Redact(err.Error()))
	}
	return c, err
}

func load(path string) (Config, error) {
	c := DefaultConfig()
	r, err := config.Load(path, &c)
	c.Redactor = r
	if err != nil {
		return c, err
	}
	for i := range c.SinkNodes {
		s, err := sinkFromNode(&c.SinkNodes[i], fmt.Sprintf("sinks[%d]", i))
		if err != nil {
			return c, fmt.Errorf("%s: %w", path, err)
		}
		c.Sinks = append(c.Sinks, s)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// AllSources returns source and sources together.
func (c *Config) AllSources() []SourceConfig {
	var all []SourceConfig
	if c.Source.URL != "" || len(c.Sources) == 0 {
		all = append(all, c.Source)
	}
	return append(all, c.Sources...)
}

// Validate names the first field that is wrong.
func (c *Config) Validate() error {
	if c.Source.URL != "" || len(c.Sources) == 0 {
		if err := c.Source.validate(); err != nil {
			return fmt.Errorf("source%w", err)
		}
	}
	for i := range c.Sources {
		if err := c.Sources[i].validate(); err != nil {
			return fmt.Errorf("sources[%d]%w", i, err)
		}
	}
	if err := overlapping(c.AllSources()); err != nil {
		return err
	}
	if len(c.Sinks) == 0 {
		return fmt.Errorf("sinks: at least one sink is required (%s)", sinkURLForms())
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("workers: %d must be 1 to 256", c.Workers)
	}
	if c.Poll < time.Second {
		return fmt.Errorf("poll: %s must be at least 1s", c.Poll)
	}
	if c.LookBack < c.Poll {
		return fmt.Errorf("lookback: %s must be at least poll (%s)", c.LookBack, c.Poll)
	}
	opts := c.parserOptions()
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if c.Limits.MaxRecordsInFlight < 1 || c.Limits.MaxBytesInFlight < 1 {
		return errors.New("limits: max_records_in_flight and max_bytes_in_flight must be at least 1")
	}
	if c.Queue != nil {
		c.Queue.SetDefaults()
		if err := c.Queue.Validate(); err != nil {
			return fmt.Errorf("queue.%w", err)
		}
		all := c.AllSources()
		if loc, err := objstore.ParseLocation(all[0].URL); len(all) != 1 || err != nil || !loc.IsS3() {
			return errors.New("queue: bucket notifications need exactly one s3:// source, the bucket they are about")
		}
		if c.Queue.Reconcile != 0 && c.LookBack < c.Queue.ReconcileAfter {
			return fmt.Errorf("queue.reconcile_after: %s is longer than lookback (%s): the reconciler would find nothing", c.Queue.ReconcileAfter, c.LookBack)
		}
	}
	return nil
}

// validate checks one source; errors start with "." or ":" to follow its name.
func (s *SourceConfig) validate() error {
	loc, err := objstore.ParseLocation(s.URL)
	if err != nil {
		return fmt.Errorf(".url: %w", err)
	}
	if !loc.IsS3() && (len(s.Prefixes) > 0 || s.Endpoint != "" || s.AccessKeyID != "" || s.RoleARN != "") {
		return errors.New(": prefixes, endpoint, keys and role_arn apply to s3:// sources only")
	}
	if err := s.S3Config.Validate(); err != nil {
		return fmt.Errorf(": %w", err)
	}
	return nil
}

// Name is the source's canonical name: s3://bucket[/prefix] (prefixes
// sorted), or the absolute folder with links resolved. One source has one
// name however it is written.
func (s *SourceConfig) Name() string {
	loc, err := objstore.ParseLocation(s.URL)
	if err != nil {
		return s.URL
	}
	if loc.IsS3() {
		return source.BucketName(loc.Bucket, append([]string{loc.Prefix}, s.Prefixes...))
	}
	dir, err := source.CanonicalFolder(loc.Dir)
	if err != nil {
		return loc.Dir
	}
	return dir
}

// overlapping refuses two sources that can list the same object: each
// would deliver it under its own name, twice.
func overlapping(srcs []SourceConfig) error {
	// A place is a bucket prefix ("" the whole bucket) or a folder (bucket "").
	type place struct {
		src            int
		bucket, prefix string
	}
	var places []place
	for i := range srcs {
		loc, err := objstore.ParseLocation(srcs[i].URL)
		switch {
		case err != nil:
		case !loc.IsS3():
			places = append(places, place{i, "", srcs[i].Name()})
		default:
			for _, p := range source.CanonicalPrefixes(append([]string{loc.Prefix}, srcs[i].Prefixes...)) {
				places = append(places, place{i, loc.Bucket, p})
			}
		}
	}
	within := func(a, b string) bool { return a == b || b == "" || strings.HasPrefix(a, b+"/") }
	for i, a := range places {
		for _, b := range places[i+1:] {
			if a.src != b.src && a.bucket == b.bucket && (within(a.prefix, b.prefix) || within(b.prefix, a.prefix)) {
				return fmt.Errorf("sources: %s and %s overlap: objects in both would be delivered twice; list each place once",
					srcs[a.src].Name(), srcs[b.src].Name())
			}
		}
	}
	return nil
}

func (c *Config) parserOptions() parser.Options {
	return parser.Options{MaxLineBytes: int(c.Limits.MaxLineBytes), MaxBytes: int64(c.Limits.MaxObjectBytes)}
}

// PipelineConfig is the pipeline the configuration describes.
func (c *Config) PipelineConfig() pipeline.Config {
	p := pipeline.DefaultConfig()
	p.Workers, p.PollInterval, p.LookBack = c.Workers, c.Poll, c.LookBack
	p.Enrich = c.Enrich
	p.Parser = c.parserOptions()
	p.MaxRecordsInFlight, p.MaxBytesInFlight = c.Limits.MaxRecordsInFlight, int64(c.Limits.MaxBytesInFlight)
	return p
}

// SinkNames names the sinks for people, without secrets.
func (c *Config) SinkNames() string {
	var names []string
	for _, s := range c.Sinks {
		names = append(names, s.String())
	}
	return strings.Join(names, ", ")
}

// SourceNames names the sources for people, without secrets.
func (c *Config) SourceNames() string {
	var names []string
	for _, s := range c.AllSources() {
		names = append(names, s.Name())
	}
	return strings.Join(names, ", ")
}

// Parts are the opened pieces of an exporter.
type Parts struct {
	Sources    []source.Source
	Sinks      []sink.Sink
	Checkpoint *checkpoint.Store
	DeadLetter *deadletter.Dir
}

// Open opens the sources, sinks, checkpoint (locked: one exporter per
// checkpoint) and dead-letter folder. Everything that can fail at start
// fails here, before any work. deps.Stdout is where the stdout sink writes.
func (c *Config) Open(ctx context.Context, deps sink.Deps) (p Parts, err error) {
	defer func() {
		if err != nil {
			p.Close(context.Background())
		}
	}()
	for i, sc := range c.AllSources() {
		src, err := sc.open(ctx)
		if err != nil {
			return p, fmt.Errorf("%s: %w", c.sourcePath(i), err)
		}
		p.Sources = append(p.Sources, src)
	}
	if p.Checkpoint, err = checkpoint.Open(c.CheckpointPath()); err != nil {
		return p, err
	}
	if c.DeadLetter != "" {
		if p.DeadLetter, err = deadletter.New(c.DeadLetter); err != nil {
			return p, err
		}
	}
	if deps.Enrich == nil {
		deps.Enrich = &c.Enrich
	}
	for i, s := range c.Sinks {
		sk, err := s.Open(deps)
		if err != nil {
			return p, fmt.Errorf("sinks[%d] (%s): %w", i, s, err)
		}
		p.Sinks = append(p.Sinks, sk)
	}
	return p, nil
}

func (c *Config) sourcePath(i int) string {
	if c.Source.URL != "" || len(c.Sources) == 0 {
		if i == 0 {
			return "source"
		}
		i--
	}
	return fmt.Sprintf("sources[%d]", i)
}

// Check reaches everything the parts need: each bucket is listed (one key),
// each sink that can tell is asked, the dead-letter folder is written.
func (p *Parts) Check(ctx context.Context) error {
	for _, s := range p.Sources {
		if c, ok := s.(interface{ Check(context.Context) error }); ok {
			if err := c.Check(ctx); err != nil {
				return fmt.Errorf("source %s: %w", s.Name(), err)
			}
		}
	}
	for _, s := range p.Sinks {
		if c, ok := s.(sink.Checker); ok {
			if err := c.Check(ctx); err != nil {
				return fmt.Errorf("sink %s: %w", s.Name(), err)
			}
		}
	}
	if p.DeadLetter != nil {
		return p.DeadLetter.Check()
	}
	return nil
}

// Close closes the sinks (they deliver what they hold, within ctx) and
// then the checkpoint (written, unlocked).
func (p *Parts) Close(ctx context.Context) error {
	var errs []error
	for _, s := range p.Sinks {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", s.Name(), err))
		}
	}
	if p.Checkpoint != nil {
		if err := p.Checkpoint.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Pipelines builds one pipeline per source; reg may be nil.
func (c *Config) Pipelines(p Parts, log *slog.Logger, reg prometheus.Registerer) ([]*pipeline.Pipeline, error) {
	var out []*pipeline.Pipeline
	for _, src := range p.Sources {
		pl, err := pipeline.New(c.PipelineConfig(), pipeline.Deps{Logger: log, Registerer: reg, Source: src,
			Sinks: p.Sinks, Checkpoint: p.Checkpoint, DeadLetter: p.DeadLetter})
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, pl)
	}
	return out, nil
}

// open opens one source.
func (s *SourceConfig) open(ctx context.Context) (source.Source, error) {
	loc, err := objstore.ParseLocation(s.URL)
	if err != nil {
		return nil, err
	}
	if !loc.IsS3() {
		if fi, err := os.Stat(loc.Dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a folder", loc.Dir)
		}
		return source.NewFolder(loc.Dir)
	}
	client, err := objstore.NewS3Client(ctx, s.S3Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	b := source.NewBucket(client, loc.Bucket, append([]string{loc.Prefix}, s.Prefixes...)...)
	b.Stall = s.TimeoutOrDefault()
	return b, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// CheckpointPath is the configured checkpoint, or the default one of these
// sources: the same for export and backfill, however the sources are
// written (relative or absolute folder, prefixes in any order), and another
// for other sources or another endpoint.
func (c *Config) CheckpointPath() string {
	if c.Checkpoint != "" {
		return c.Checkpoint
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		dir = filepath.Join(home, ".local", "state")
	}
	var names, ids []string
	for _, s := range c.AllSources() {
		names = append(names, s.Name())
		ids = append(ids, s.Name()+" "+s.Endpoint)
	}
	sort.Strings(names)
	sort.Strings(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	name := strings.Trim(unsafeName.ReplaceAllString(strings.Join(names, "+"), "_"), "_")
	if len(name) > 80 {
		name = name[:80]
	}
	return filepath.Join(dir, "flowlog", name+"-"+hex.EncodeToString(sum[:4])+".json")
}
