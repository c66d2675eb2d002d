// Package exporter wires the exporter together from its configuration:
// source, enrichment, sinks, checkpoint and dead-letter folder.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/flowlog/flowlog/exporter/checkpoint"
	"github.com/flowlog/flowlog/exporter/deadletter"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/pipeline"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/objstore"
	"github.com/flowlog/flowlog/parser"
)

// Config is one exporter: a source, its sinks, and how to get from one to
// the other.
type Config struct {
	Listen     string         `yaml:"listen"`      // /metrics, /healthz, /readyz; "" turns it off
	Checkpoint string         `yaml:"checkpoint"`  // state file; default one per source under ~/.local/state/flowlog
	DeadLetter string         `yaml:"dead_letter"` // folder for rejected lines; "" keeps only logs and counts
	Workers    int            `yaml:"workers"`
	Poll       time.Duration  `yaml:"poll"`
	LookBack   time.Duration  `yaml:"lookback"`
	Source     SourceConfig   `yaml:"source"`  // one source…
	Sources    []SourceConfig `yaml:"sources"` // …or several, each with its own pipeline
	Sinks      []string       `yaml:"sinks"`   // file:///folder, stdout, blackhole
	Enrich     enrich.Config  `yaml:"enrich"`
	Limits     struct {
		MaxLineBytes   config.ByteSize `yaml:"max_line_bytes"`
		MaxObjectBytes config.ByteSize `yaml:"max_object_bytes"`
	} `yaml:"limits"`
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
	c := Config{Listen: "127.0.0.1:9109", Workers: p.Workers, Poll: p.PollInterval, LookBack: p.LookBack, Enrich: enrich.DefaultConfig()}
	c.Limits.MaxLineBytes = config.ByteSize(p.Parser.MaxLineBytes)
	c.Limits.MaxObjectBytes = config.ByteSize(p.Parser.MaxBytes)
	return c
}

// Load reads a configuration file over the defaults and validates it.
func Load(path string) (Config, error) {
	c := DefaultConfig()
	if err := config.Load(path, &c); err != nil {
		return c, err
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
	if len(c.Sinks) == 0 {
		return errors.New("sinks: at least one sink is required (file:///folder, stdout or blackhole)")
	}
	for i, s := range c.Sinks {
		if _, err := sink.Parse(s); err != nil {
			return fmt.Errorf("sinks[%d]: %w", i, err)
		}
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

func (c *Config) parserOptions() parser.Options {
	return parser.Options{MaxLineBytes: int(c.Limits.MaxLineBytes), MaxBytes: int64(c.Limits.MaxObjectBytes)}
}

// PipelineConfig is the pipeline the configuration describes.
func (c *Config) PipelineConfig() pipeline.Config {
	p := pipeline.DefaultConfig()
	p.Workers, p.PollInterval, p.LookBack = c.Workers, c.Poll, c.LookBack
	p.Enrich = c.Enrich
	p.Parser = c.parserOptions()
	return p
}

// Parts are the opened pieces of an exporter.
type Parts struct {
	Sources    []source.Source
	Sinks      []sink.Sink
	Checkpoint *checkpoint.Store
	DeadLetter *deadletter.Dir
}

// Open opens the source, sinks, checkpoint (named after kind, e.g. export
// or backfill, when not configured) and dead-letter folder. stdout is where
// the stdout sink writes.
func (c *Config) Open(ctx context.Context, kind string, stdout io.Writer) (Parts, error) {
	var p Parts
	var names []string
	for _, sc := range c.AllSources() {
		src, err := sc.open(ctx)
		if err != nil {
			return p, err
		}
		p.Sources = append(p.Sources, src)
		names = append(names, src.Name())
	}
	for i, s := range c.Sinks {
		sk, err := sink.Open(s, stdout)
		if err != nil {
			return p, fmt.Errorf("sinks[%d]: %w", i, err)
		}
		p.Sinks = append(p.Sinks, sk)
	}
	path := c.Checkpoint
	if path == "" {
		path = DefaultCheckpoint(kind, strings.Join(names, "+"))
	}
	var err error
	if p.Checkpoint, err = checkpoint.Open(path); err != nil {
		return p, err
	}
	if c.DeadLetter != "" {
		if p.DeadLetter, err = deadletter.New(c.DeadLetter); err != nil {
			return p, err
		}
	}
	return p, nil
}

// open opens one source.
func (s *SourceConfig) open(ctx context.Context) (source.Source, error) {
	loc, err := objstore.ParseLocation(s.URL)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.URL, err)
	}
	if !loc.IsS3() {
		if fi, err := os.Stat(loc.Dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("source.url: %s is not a folder", loc.Dir)
		}
		return source.NewFolder(loc.Dir), nil
	}
	client, err := objstore.NewS3Client(ctx, s.S3Config)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.URL, err)
	}
	return source.NewBucket(client, loc.Bucket, append([]string{loc.Prefix}, s.Prefixes...)...), nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// DefaultCheckpoint is one state file per command and source, so that the
// same command line resumes where it stopped.
func DefaultCheckpoint(kind, src string) string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		dir = filepath.Join(home, ".local", "state")
	}
	name := strings.Trim(unsafeName.ReplaceAllString(src, "_"), "_")
	return filepath.Join(dir, "flowlog", kind+"-"+name+".json")
}
