package elasticsearch

import (
	"context"
	"encoding/base64"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/flowlog/flowlog/exporter/sink"
)

func TestParseURL(t *testing.T) {
	for in, want := range map[string]struct {
		urls      string
		user, ns  string
		target    string
		setup     bool
		hasPasswd bool
	}{
		"es+https://es1":                          {urls: "https://es1:9200", ns: "default", target: TargetFlowlog, setup: true},
		"es+http://127.0.0.1:9201":                {urls: "http://127.0.0.1:9201", ns: "default", target: TargetFlowlog, setup: true},
		"es+https://elastic:pw@es1,es2:9300":      {urls: "https://es1:9200 https://es2:9300", user: "elastic", ns: "default", target: TargetFlowlog, setup: true, hasPasswd: true},
		"es+https://[::1]?namespace=prod&setup=0": {urls: "https://[::1]:9200", ns: "prod", target: TargetFlowlog},
		"es+https://es1/?target=elastic-aws":      {urls: "https://es1:9200", ns: "default", target: TargetElasticAWS, setup: true},
		"es+https://[::1]:9243?namespace=a.b_c":   {urls: "https://[::1]:9243", ns: "a.b_c", target: TargetFlowlog, setup: true},
	} {
		c, err := ParseURL(in)
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if strings.Join(c.URLs, " ") != want.urls || c.Username != want.user || c.Namespace != want.ns || c.Target != want.target ||
			c.Setup != want.setup || (c.Password != "") != want.hasPasswd {
			t.Errorf("%s: %+v", in, c)
		}
	}
	for _, in := range []string{"es://h", "es+https://", "es+https://h/index", "es+https://h?x=1", "es+https://h?setup=maybe",
		"es+https://u:s3cret@h?namespace=Bad-Name", "es+https://h?target=opensearch", "es+https://h,,x"} {
		c, err := ParseURL(in)
		if err == nil {
			err = c.Validate()
		}
		if err == nil {
			t.Errorf("%s: accepted", in)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", in, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for want, change := range map[string]func(*Config){
		"urls":           func(c *Config) { c.URLs = nil },
		"urls and cloud": func(c *Config) { c.CloudID = "x:eA==" },
		"urls[0]":        func(c *Config) { c.URLs = []string{"https://u:p@h:9200"} },
		"give one way":   func(c *Config) { c.APIKey, c.Username = "k", "u" },
		"password":       func(c *Config) { c.Password = "p" },
		"namespace":      func(c *Config) { c.Namespace = "" },
		"target":         func(c *Config) { c.Target = "x" },
		"retention_days": func(c *Config) { c.RetentionDays = -1 },
		"flush_bytes":    func(c *Config) { c.FlushBytes = 200 << 20 },
		"requests":       func(c *Config) { c.Requests = 0 },
		"compression":    func(c *Config) { c.Compression = 10 },
		"ca_fingerprint": func(c *Config) { c.TLS.CAFingerprint = "abc" },
		"ca_file and":    func(c *Config) { c.TLS.CAFingerprint, c.TLS.CAFile = strings.Repeat("0", 64), "/x" },
		"cert_file":      func(c *Config) { c.TLS.CertFile = "/x" },
	} {
		c := DefaultConfig()
		c.URLs = []string{"https://h:9200"}
		change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	f.Add("es+https://elastic:pw@es1,es2:9300?namespace=x")
	f.Add("es+http://[::1]:9200/?target=elastic-aws&setup=false")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s)
		if err != nil {
			if p := c.Password; p != "" && len(p) > 3 && strings.Contains(err.Error(), string(p)) {
				t.Fatalf("error shows the password: %v", err)
			}
			return
		}
		if c.Validate() == nil && len(c.URLs) == 0 {
			t.Fatalf("%q: valid without URLs", s)
		}
	})
}

// TestREADMEQueries checks that every field the README's KQL and ES|QL
// queries name is in the template (they cannot be run here).
func TestREADMEQueries(t *testing.T) {
	data, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "<!-- es-queries -->")
	block, _, ok2 := strings.Cut(rest, "<!-- /es-queries -->")
	if !ok || !ok2 {
		t.Fatal("the README has no es-queries block")
	}
	mapped := map[string]bool{"@timestamp": true}
	for _, f := range Fields() {
		mapped[f.Name] = true
	}
	field := regexp.MustCompile(`@timestamp|[a-z_]+(\.[a-z_]+)+`)
	quoted := regexp.MustCompile(`"[^"]*"`)
	n := 0
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "FROM ") || strings.HasPrefix(line, "```") {
			continue
		}
		for _, f := range field.FindAllString(quoted.ReplaceAllString(line, `""`), -1) {
			n++
			if !mapped[f] {
				t.Errorf("README query field %s: not in the template (%s)", f, line)
			}
		}
	}
	if n < 15 {
		t.Fatalf("only %d fields found in the queries", n)
	}
}

// TestCloudID: an Elastic Cloud ID is taken as the client takes it, and
// one that is not refuses to start, without echoing it.
func TestCloudID(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CloudID = "flowlog-prod:" + base64.StdEncoding.EncodeToString([]byte("eu-west-1.aws.found.io:443$abc123$def456"))
	cfg.APIKey = "a2V5aWQ6a2V5"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, sink.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close(context.Background())
	for _, bad := range []string{"no-colon-s3cret", "x:not-base64-s3cret", "x:" + base64.StdEncoding.EncodeToString([]byte("s3cret"))} {
		cfg.CloudID = bad
		if _, err := New(cfg, sink.Deps{}); err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "cloud_id") {
			t.Fatalf("bad cloud id: %v", err)
		}
	}
}
