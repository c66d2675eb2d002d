package exporter

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/clickhouse"
	"github.com/flowlog/flowlog/exporter/sink/elasticsearch"
	"github.com/flowlog/flowlog/exporter/sink/logstash"
	"github.com/flowlog/flowlog/exporter/sink/loki"
)

func TestExampleConfig(t *testing.T) {
	t.Setenv("FLOWLOG_S3_ACCESS_KEY", "AKIAEXAMPLE")
	t.Setenv("FLOWLOG_S3_SECRET_KEY", "s3cr3t")
	c, err := Load(filepath.Join("..", "configs", "exporter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Source.URL != "s3://flowlogs/web" || c.Source.Prefixes[0] != "db" || c.Source.AccessKeyID != "AKIAEXAMPLE" ||
		c.Poll != 30*time.Second || c.LookBack != 24*time.Hour || len(c.Sinks) != 1 || c.Limits.MaxObjectBytes != 1<<30 ||
		len(c.Enrich.LocalNetworks) != 3 || c.Enrich.GeoIP.ASN == "" || c.Sinks[0].Type != "file" || c.Limits.MaxBytesInFlight != 256<<20 {
		t.Errorf("read wrong: %+v", c)
	}
	p := c.PipelineConfig()
	if p.Parser.MaxLineBytes != 64<<10 || p.Workers != 2 || p.PollInterval != 30*time.Second {
		t.Errorf("pipeline config: %+v", p)
	}
}

func TestConfigErrors(t *testing.T) {
	base := "source: {url: /tmp}\nsinks: [stdout]\n"
	for _, c := range []struct{ yaml, want string }{
		{"source: {url: gs://x}\nsinks: [stdout]\n", `source.url: scheme "gs://" not supported`},
		{"source: {url: /tmp, endpoint: http://x}\nsinks: [stdout]\n", "apply to s3:// sources only"},
		{"source: {url: s3://b, role_arn: nope}\nsinks: [stdout]\n", `role_arn: "nope" is not an ARN`},
		{"source: {url: s3://b}\n", "sinks: at least one sink"},
		{"source: {url: s3://b}\nsinks: [kafka]\n", "line 2: sinks[0]: sink kafka: unknown; want file:///absolute/folder, stdout, clickhouse://[user@]host[:port][/database], loki+http://host:3100[/prefix], es+https://host:9200, logstash://host:5044, blackhole"},
		{"source: {url: s3://b}\nsinks: [{type: file}]\n", "sinks[0] (type file): dir: required"},
		{"source: {url: s3://b}\nsinks: [{type: file, dri: /x}]\n", `line 2: sinks[0]: unknown key "dri" (did you mean "dir"?)`},
		{"source: {url: s3://b}\nsinks: [{type: kafka}]\n", `sinks[0]: type "kafka": unknown; known types: file, stdout, clickhouse, loki, elasticsearch, logstash, blackhole`},
		{"source: {url: s3://b}\nsinks: [{type: clickhouse, adresses: [h:9000]}]\n", `unknown key "adresses" (did you mean "addresses"?)`},
		{"source: {url: s3://b}\nsinks: [{type: clickhouse, retention: {flows: 36h}}]\n", "sinks[0] (type clickhouse): retention.flows: 36h0m0s: want whole days"},
		{"source: {url: s3://b}\nsinks: [\"clickhouse://h?protocol=grpc\"]\n", `protocol: "grpc": want native or http`},
		{"source: {url: s3://b}\nsinks: [{dir: /x}]\n", `sinks[0]: type: required`},
		{"sources: [{url: s3://b/logs}, {url: s3://b/logs/web}]\nsinks: [stdout]\n", "sources: s3://b/logs and s3://b/logs/web overlap"},
		{"sources: [{url: /tmp}, {url: /tmp/}]\nsinks: [stdout]\n", "overlap"},
		{base + "wrokers: 2\n", `unknown key "wrokers" (did you mean "workers"?)`},
		{base + "poll: 60\n", `line 3: poll: want a duration such as 30s, 10m or 24h, got "60"`},
		{base + "workers: 0\n", "workers: 0 must be 1 to 256"},
		{base + "poll: 10ms\n", "poll: 10ms must be at least 1s"},
		{base + "poll: 1m\nlookback: 10s\n", "lookback: 10s must be at least poll"},
		{base + "limits: {max_line_bytes: 1GiB}\n", "limits:"},
		{base + "enrich: {colour: red}\n", `enrich: unknown key "colour"`},
	} {
		path := filepath.Join(t.TempDir(), "e.yaml")
		os.WriteFile(path, []byte(c.yaml), 0o600)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestSeveralSources(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	path := filepath.Join(t.TempDir(), "e.yaml")
	os.WriteFile(path, []byte("sources:\n  - {url: "+a+"}\n  - {url: "+b+"}\nsinks: [blackhole]\ncheckpoint: "+filepath.Join(t.TempDir(), "cp.json")+"\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := c.Open(context.Background(), sink.Deps{Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Close(context.Background())
	if len(parts.Sources) != 2 || parts.Sources[0].Name() != a || parts.Sources[1].Name() != b {
		t.Errorf("sources: %v", parts.Sources)
	}
	os.WriteFile(path, []byte("sources:\n  - {url: "+a+"}\n  - {url: 'ftp://x'}\nsinks: [blackhole]\n"), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "sources[1].url:") {
		t.Errorf("bad second source: %v", err)
	}
}

// TestTypedSinks: sinks as URLs or as typed mappings, decoded into each
// sink's own configuration.
func TestTypedSinks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "e.yaml")
	os.WriteFile(path, []byte("source: {url: "+dir+"}\nsinks:\n  - file://"+dir+"/a\n  - type: file\n    dir: "+dir+"/b\n  - {type: blackhole, ecs: false}\n  - stdout\n"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SinkNames(); got != "file://"+dir+"/a, type file, type blackhole, stdout" {
		t.Errorf("sinks %s", got)
	}
	c.Checkpoint = filepath.Join(dir, "cp.json")
	parts, err := c.Open(context.Background(), sink.Deps{Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Close(context.Background())
	var names []string
	for _, s := range parts.Sinks {
		names = append(names, s.Name())
	}
	if got := strings.Join(names, " "); got != "file://"+dir+"/a file://"+dir+"/b blackhole stdout" {
		t.Errorf("opened %s", got)
	}
}

// TestCheckpointNames: one source has one default checkpoint, whatever the
// command and however it is written; other sources, prefixes or endpoints
// get another.
func TestCheckpointNames(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(filepath.Dir(dir))
	path := func(srcs ...SourceConfig) string {
		c := DefaultConfig()
		c.Sources = srcs
		return c.CheckpointPath()
	}
	s3 := func(url, endpoint string, prefixes ...string) SourceConfig {
		c := SourceConfig{URL: url, Prefixes: prefixes}
		c.Endpoint = endpoint
		return c
	}
	web := path(s3("s3://flows/web", ""))
	if !strings.HasPrefix(web, "/state/flowlog/s3_flows_web-") {
		t.Errorf("s3://flows/web: %s", web)
	}
	for name, other := range map[string]string{
		"other prefix":   path(s3("s3://flows/old", "")),
		"whole bucket":   path(s3("s3://flows", "")),
		"other endpoint": path(s3("s3://flows/web", "http://127.0.0.1:9000")),
	} {
		if other == web {
			t.Errorf("%s shares %s", name, web)
		}
	}
	if a, b := path(s3("s3://flows/web", "", "db")), path(s3("s3://flows/db/", "", "web")); a != b {
		t.Errorf("the same prefixes in another order: %s and %s", a, b)
	}
	if a, b := path(SourceConfig{URL: dir}), path(SourceConfig{URL: filepath.Base(dir)}); a != b {
		t.Errorf("one folder, absolute and relative: %s and %s", a, b)
	}
}

func TestExampleClickHouseConfig(t *testing.T) {
	t.Setenv("FLOWLOG_S3_ACCESS_KEY", "AKIAEXAMPLE")
	t.Setenv("FLOWLOG_S3_SECRET_KEY", "s3cr3t")
	t.Setenv("CLICKHOUSE_PASSWORD", "ch-s3cr3t")
	c, err := Load(filepath.Join("..", "configs", "exporter-clickhouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sinks) != 1 || c.Sinks[0].Type != "clickhouse" {
		t.Fatalf("sinks: %+v", c.Sinks)
	}
	ch, ok := c.Sinks[0].Options().(clickhouse.Config)
	if !ok || len(ch.Addresses) != 2 || !ch.TLS.Enabled || ch.Password != "ch-s3cr3t" || ch.Retention.Hour != 365*24*time.Hour || ch.BatchRows != 50000 {
		t.Errorf("clickhouse sink read wrong: %+v", ch)
	}
}

func TestExampleLokiConfig(t *testing.T) {
	t.Setenv("FLOWLOG_S3_ACCESS_KEY", "AKIAEXAMPLE")
	t.Setenv("FLOWLOG_S3_SECRET_KEY", "s3cr3t")
	t.Setenv("LOKI_API_TOKEN", "glc_token")
	c, err := Load(filepath.Join("..", "configs", "exporter-loki.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l, ok := c.Sinks[0].Options().(loki.Config)
	if !ok || l.URL != "https://logs-prod-eu-west-0.grafana.net" || l.Username != "123456" || l.Password != "glc_token" ||
		l.Labels["env"] != "prod" || l.BatchBytes != 1<<20 || l.MaxInFlight != 4 {
		t.Errorf("loki sink read wrong: %+v", l)
	}
}

func TestExampleElasticsearchConfig(t *testing.T) {
	t.Setenv("FLOWLOG_S3_ACCESS_KEY", "AKIAEXAMPLE")
	t.Setenv("FLOWLOG_S3_SECRET_KEY", "s3cr3t")
	t.Setenv("ES_API_KEY", "a2V5aWQ6a2V5")
	t.Setenv("ES_CA_FINGERPRINT", strings.Repeat("ab", 32))
	c, err := Load(filepath.Join("..", "configs", "exporter-elasticsearch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := c.Sinks[0].Options().(elasticsearch.Config)
	if !ok || len(e.URLs) != 2 || e.APIKey != "a2V5aWQ6a2V5" || e.DataStream() != "logs-flowlog.flows-default" || e.RetentionDays != 90 || e.Requests != 2 {
		t.Errorf("elasticsearch sink read wrong: %+v", e)
	}
	if l, ok := c.Sinks[1].Options().(logstash.Config); !ok || len(l.Hosts) != 2 || !l.TLS.Enabled {
		t.Errorf("logstash sink read wrong: %+v", l)
	}
}

func TestExampleSQSConfig(t *testing.T) {
	t.Setenv("CLICKHOUSE_PASSWORD", "pw")
	c, err := Load(filepath.Join("..", "configs", "exporter-sqs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queue
	if q == nil || q.Type != "sqs" || q.Reconcile != 15*time.Minute || q.ReconcileAfter != 10*time.Minute ||
		q.LedgerPrefix != ".flowlog/delivered/" || q.MaxDeliver != 5 || q.AckWait != 0 {
		t.Errorf("queue read wrong: %+v", q)
	}
}

// TestQueueConfig: the queue needs exactly one s3:// source, errors are
// named by field, and the NATS defaults fill in.
func TestQueueConfig(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"source: {url: s3://b}\nqueue: {type: nats, url: nats://x:4222, stream: S}\nsinks: [stdout]\n":              "",
		"source: {url: " + dir + "}\nqueue: {type: nats, url: nats://x:4222, stream: S}\nsinks: [stdout]\n":         "exactly one s3:// source",
		"sources: [{url: s3://a}, {url: s3://b}]\nqueue: {type: nats, url: nats://x, stream: S}\nsinks: [stdout]\n": "exactly one s3:// source",
		"source: {url: s3://b}\nqueue: {type: sqs, url: nats://x}\nsinks: [stdout]\n":                               "queue.url: the queue URL is required",
		"source: {url: s3://b}\nqueue: {type: nats, url: nats://x, stream: S, colour: red}\nsinks: [stdout]\n":      "colour",
	} {
		p := filepath.Join(dir, "e.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		c, err := Load(p)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", body, err)
		case want == "" && (c.Queue.Consumer != "flowlog" || c.Queue.AckWait != 2*time.Minute || c.Queue.MaxDeliver != 5):
			t.Errorf("defaults: %+v", c.Queue)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
