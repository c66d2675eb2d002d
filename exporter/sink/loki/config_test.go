package loki

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/parser"
)

func TestParseURL(t *testing.T) {
	f := func(u string, want func(c *Config)) {
		t.Helper()
		got, err := ParseURL(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		w := DefaultConfig()
		want(&w)
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", u, diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	f("loki+http://loki:3100", func(c *Config) { c.URL = "http://loki:3100" })
	f("loki+http://127.0.0.1:9428/insert/", func(c *Config) { c.URL = "http://127.0.0.1:9428/insert" })
	f("loki+https://logs-prod-eu-west-0.grafana.net?tenant=42&job=vpc&format=json", func(c *Config) {
		c.URL, c.Tenant, c.Job, c.Format = "https://logs-prod-eu-west-0.grafana.net", "42", "vpc", "json"
	})
	for _, bad := range []string{"http://loki", "loki+ftp://x", "loki+http://", "loki+http://u:p@loki", "loki+http://loki?nope=1"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%s: no error", bad)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("%s: error shows the address: %v", bad, err)
		}
	}
}

func TestValidate(t *testing.T) {
	f := func(change func(c *Config), want string) {
		t.Helper()
		c := DefaultConfig()
		c.URL = "http://loki:3100"
		change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one naming %q", err, want)
		}
	}
	f(func(c *Config) { c.URL = "" }, "url: required")
	f(func(c *Config) { c.URL = "loki:3100" }, "url: want")
	f(func(c *Config) { c.Labels = map[string]string{"9lives": "x"} }, `"9lives"`)
	f(func(c *Config) { c.Labels = map[string]string{"__name__": "x"} }, `"__name__"`)
	f(func(c *Config) { c.Labels = map[string]string{"account_id": "x"} }, "flowlog sets it itself")
	f(func(c *Config) { c.Labels = map[string]string{"env": ""} }, "empty value")
	f(func(c *Config) {
		c.Labels = map[string]string{}
		for _, n := range strings.Fields("a b c d e f g h i j k") {
			c.Labels[n] = "x"
		}
	}, "at most 15")
	f(func(c *Config) { c.Format = "xml" }, "format")
	f(func(c *Config) { c.Password = "p" }, "password: needs username")
	f(func(c *Config) { c.Username, c.BearerToken = "u", "t" }, "one or the other")
	f(func(c *Config) { c.MaxInFlight = 0 }, "max_in_flight")
}

// TestStreamLabels: label values come from objects; quoted, no value adds
// a label or ends the set.
func TestStreamLabels(t *testing.T) {
	c := DefaultConfig()
	c.URL, c.Labels = "http://loki:3100", map[string]string{"env": `pro"d`}
	st := newStreams(c)
	r := &sink.Record{}
	r.AccountID, r.InterfaceID = []byte("a\"b\n}, job=\"x\""), []byte(`eni-\1`)
	r.Action = parser.ActionReject
	got := st.get([]byte("k"), r).labels
	want := map[string]string{"job": "flowlog", "env": `pro"d`, "account_id": "a\"b\n}, job=\"x\"", "interface_id": `eni-\1`,
		"action": "REJECT", "log_status": "-"}
	parsed := map[string]string{}
	rest := strings.TrimSuffix(strings.TrimPrefix(got, "{"), "}")
	for rest != "" {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			t.Fatalf("labels %s: no = after %q", got, rest)
		}
		q, err := strconv.QuotedPrefix(after)
		if err != nil {
			t.Fatalf("labels %s: %v", got, err)
		}
		v, _ := strconv.Unquote(q)
		parsed[strings.TrimSpace(name)] = v
		rest = strings.TrimPrefix(strings.TrimPrefix(after[len(q):], ","), " ")
	}
	if diff := cmp.Diff(want, parsed); diff != "" {
		t.Errorf("labels %s (-want +got):\n%s", got, diff)
	}
}
