package exporter

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		len(c.Enrich.LocalNetworks) != 3 || c.Enrich.GeoIP.ASN == "" {
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
		{"source: {url: gs://x}\nsinks: [stdout]\n", "source.url: location \"gs://x\": scheme not supported"},
		{"source: {url: /tmp, endpoint: http://x}\nsinks: [stdout]\n", "apply to s3:// sources only"},
		{"source: {url: s3://b, role_arn: nope}\nsinks: [stdout]\n", `role_arn: "nope" is not an ARN`},
		{"source: {url: s3://b}\n", "sinks: at least one sink"},
		{"source: {url: s3://b}\nsinks: [kafka]\n", "sinks[0]: sink \"kafka\""},
		{base + "workers: 0\n", "workers: 0 must be 1 to 256"},
		{base + "poll: 10ms\n", "poll: 10ms must be at least 1s"},
		{base + "poll: 1m\nlookback: 10s\n", "lookback: 10s must be at least poll"},
		{base + "limits: {max_line_bytes: 1GiB}\n", "limits:"},
		{base + "enrich: {colour: red}\n", "field colour not found"},
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
	parts, err := c.Open(context.Background(), "export", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Sources) != 2 || parts.Sources[0].Name() != a || parts.Sources[1].Name() != b {
		t.Errorf("sources: %v", parts.Sources)
	}
	os.WriteFile(path, []byte("sources:\n  - {url: "+a+"}\n  - {url: 'ftp://x'}\nsinks: [blackhole]\n"), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "sources[1].url:") {
		t.Errorf("bad second source: %v", err)
	}
}
