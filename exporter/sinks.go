package exporter

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/blackhole"
	"github.com/flowlog/flowlog/exporter/sink/clickhouse"
	"github.com/flowlog/flowlog/exporter/sink/elasticsearch"
	"github.com/flowlog/flowlog/exporter/sink/file"
	"github.com/flowlog/flowlog/exporter/sink/logstash"
	"github.com/flowlog/flowlog/exporter/sink/loki"
	"github.com/flowlog/flowlog/exporter/sink/stdout"
	"github.com/flowlog/flowlog/internal/config"
)

// sinkTypes are the sinks flowlog knows, by type name. Adding a sink is one
// package and one line here.
var sinkTypes = []sinkType{
	register("file", "file:///absolute/folder", []string{"file"}, file.DefaultConfig, file.ParseURL, file.New),
	register("stdout", "stdout", []string{"stdout"}, stdout.DefaultConfig, stdout.ParseURL, stdout.New),
	register("clickhouse", "clickhouse://[user@]host[:port][/database]", []string{"clickhouse"}, clickhouse.DefaultConfig, clickhouse.ParseURL, clickhouse.New),
	register("loki", "loki+http://host:3100[/prefix]", []string{"loki+http", "loki+https"}, loki.DefaultConfig, loki.ParseURL, loki.New),
	register("elasticsearch", "es+https://host:9200", []string{"es+https", "es+http"}, elasticsearch.DefaultConfig, elasticsearch.ParseURL, elasticsearch.New),
	register("logstash", "logstash://host:5044", []string{"logstash"}, logstash.DefaultConfig, logstash.ParseURL, logstash.New),
	register("blackhole", "blackhole", []string{"blackhole"}, blackhole.DefaultConfig, blackhole.ParseURL, blackhole.New),
}

// sinkType makes the sinks of one type from YAML or from a URL.
type sinkType struct {
	name    string
	urlForm string   // the shorthand, for messages
	schemes []string // URL schemes (before "://"), or the whole shorthand
	decode  func(n *yaml.Node, path string) (any, error)
	fromURL func(u string) (any, error)
	open    func(cfg any, deps sink.Deps) (sink.Sink, error)
}

type validator interface{ Validate() error }

// register ties a sink package's Config, DefaultConfig, ParseURL and New
// together.
func register[C validator, S sink.Sink](name, urlForm string, schemes []string, defaults func() C,
	fromURL func(string) (C, error), open func(C, sink.Deps) (S, error)) sinkType {
	return sinkType{
		name: name, urlForm: urlForm, schemes: schemes,
		decode: func(n *yaml.Node, path string) (any, error) {
			c := defaults()
			if err := config.DecodeNode(n, &c, path); err != nil {
				return nil, err
			}
			if err := c.Validate(); err != nil {
				return nil, fmt.Errorf("%s (type %s): %w", path, name, err)
			}
			return c, nil
		},
		fromURL: func(u string) (any, error) {
			c, err := fromURL(u)
			if err == nil {
				err = c.Validate()
			}
			return c, err
		},
		open: func(cfg any, deps sink.Deps) (sink.Sink, error) { return open(cfg.(C), deps) },
	}
}

func sinkTypeNamed(name string) *sinkType {
	for i := range sinkTypes {
		if sinkTypes[i].name == name {
			return &sinkTypes[i]
		}
	}
	return nil
}

func sinkTypeNames() string {
	var names []string
	for _, t := range sinkTypes {
		names = append(names, t.name)
	}
	return strings.Join(names, ", ")
}

func sinkURLForms() string {
	var forms []string
	for _, t := range sinkTypes {
		forms = append(forms, t.urlForm)
	}
	return strings.Join(forms, ", ")
}

// SinkConfig is one sink: in YAML either the shorthand URL as a string
// (file:///srv/out, stdout) or a mapping with type: and that type's options.
type SinkConfig struct {
	Type string
	cfg  any // the type's own Config, decoded and valid
	text string
}

// sinkFromNode decodes a sink strictly into its type's Config.
func sinkFromNode(n *yaml.Node, path string) (SinkConfig, error) {
	if n.Kind == yaml.ScalarNode {
		c, err := SinkFromURL(n.Value)
		if err != nil {
			return c, &config.Error{Line: n.Line, Path: path, Msg: err.Error()}
		}
		return c, nil
	}
	if n.Kind != yaml.MappingNode {
		return SinkConfig{}, &config.Error{Line: n.Line, Path: path, Msg: "want a sink: a URL (" + sinkURLForms() + ") or keys with type: (" + sinkTypeNames() + ")"}
	}
	var typ string
	rest := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typ = n.Content[i+1].Value
			continue
		}
		rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
	}
	if typ == "" {
		return SinkConfig{}, &config.Error{Line: n.Line, Path: path, Msg: "type: required (" + sinkTypeNames() + ")"}
	}
	t := sinkTypeNamed(typ)
	if t == nil {
		return SinkConfig{}, &config.Error{Line: n.Line, Path: path, Msg: fmt.Sprintf("type %q: unknown; known types: %s", typ, sinkTypeNames())}
	}
	cfg, err := t.decode(rest, path)
	if err != nil {
		return SinkConfig{}, err
	}
	return SinkConfig{Type: typ, cfg: cfg, text: "type " + typ}, nil
}

// SinkFromURL reads a sink shorthand (--sink): file:///folder, stdout, …
// Errors never repeat the address, which may hold a secret.
func SinkFromURL(u string) (SinkConfig, error) {
	scheme, _, found := strings.Cut(u, "://")
	if !found {
		scheme = u
	}
	for _, t := range sinkTypes {
		if slices.Contains(t.schemes, scheme) {
			cfg, err := t.fromURL(u)
			if err != nil {
				return SinkConfig{}, fmt.Errorf("sink %s…: %w", scheme, err)
			}
			return SinkConfig{Type: t.name, cfg: cfg, text: config.RedactURL(u)}, nil
		}
	}
	shown := scheme
	if len(shown) > 24 || strings.ContainsAny(shown, "@:/?=") {
		shown = "(not shown)"
	}
	return SinkConfig{}, fmt.Errorf("sink %s: unknown; want %s", shown, sinkURLForms())
}

// Options returns the sink type's own Config (clickhouse.Config, …).
func (s SinkConfig) Options() any { return s.cfg }

// String names the sink without secrets.
func (s SinkConfig) String() string { return s.text }

// Open makes the sink.
func (s SinkConfig) Open(deps sink.Deps) (sink.Sink, error) {
	t := sinkTypeNamed(s.Type)
	if t == nil || s.cfg == nil {
		return nil, errors.New("sink: not configured")
	}
	return t.open(s.cfg, deps)
}
