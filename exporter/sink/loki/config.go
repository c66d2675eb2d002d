package loki

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/tlsconfig"
)

// Config is the Loki sink's configuration.
type Config struct {
	URL         string            `yaml:"url"`          // http(s)://host:3100[/prefix]: pushes go to <url>/loki/api/v1/push
	Tenant      string            `yaml:"tenant"`       // X-Scope-OrgID; "" for a single-tenant Loki
	Username    string            `yaml:"username"`     // basic auth (Grafana Cloud: the instance id)
	Password    config.Secret     `yaml:"password"`     // use ${ENV}
	BearerToken config.Secret     `yaml:"bearer_token"` // instead of basic auth; use ${ENV}
	TLS         tlsconfig.Config  `yaml:"tls"`
	Job         string            `yaml:"job"`    // the job label; default flowlog
	Labels      map[string]string `yaml:"labels"` // static labels added to every stream
	Format      string            `yaml:"format"` // the line: logfmt (default) or json
	BatchBytes  config.ByteSize   `yaml:"batch_bytes"`
	BatchWait   time.Duration     `yaml:"batch_wait"`
	MaxInFlight int               `yaml:"max_in_flight"` // pushes at once
	Timeout     time.Duration     `yaml:"timeout"`       // one push
	MinBackoff  time.Duration     `yaml:"min_backoff"`
	MaxBackoff  time.Duration     `yaml:"max_backoff"`
	RetryFor    time.Duration     `yaml:"retry_for"` // then the objects fail and are delivered again later
}

// DefaultConfig has no URL: one must be given.
func DefaultConfig() Config {
	return Config{Job: "flowlog", Format: "logfmt", BatchBytes: 1 << 20, BatchWait: time.Second, MaxInFlight: 4,
		Timeout: 10 * time.Second, MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, RetryFor: time.Minute}
}

// The labels every stream has, besides job and the static ones. Nothing
// with per-flow values: addresses, ports and ids would make a stream per
// flow, which Loki is not built for.
var streamLabels = []string{"account_id", "interface_id", "action", "log_status"}

// maxLabels is Loki's default max_label_names_per_series.
const maxLabels = 15

var labelNameRe = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate names the field that is wrong.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required (http://host:3100)")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("url: want http(s)://host[:port][/prefix]")
	}
	if u.User != nil {
		return errors.New("url: no credentials in the address (it shows in the process list): use username and password")
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("password: needs username")
	}
	if c.BearerToken != "" && c.Username != "" {
		return errors.New("bearer_token and username: one or the other")
	}
	if c.Job == "" || strings.ContainsAny(c.Job, "\n") {
		return errors.New("job: want a name")
	}
	if n := 1 + len(streamLabels) + len(c.Labels); n > maxLabels {
		return fmt.Errorf("labels: %d labels in all, Loki takes at most %d by default (max_label_names_per_series)", n, maxLabels)
	}
	for _, name := range c.labelNames() {
		if !labelNameRe.MatchString(name) || strings.HasPrefix(name, "__") {
			return fmt.Errorf("labels: %q: want a name of letters, digits and _ not starting with a digit or __", name)
		}
		if name == "job" || slices.Contains(streamLabels, name) {
			return fmt.Errorf("labels: %q: flowlog sets it itself", name)
		}
		if c.Labels[name] == "" {
			return fmt.Errorf("labels: %q: empty value (Loki drops the label)", name)
		}
	}
	switch c.Format {
	case "logfmt", "json":
	default:
		return fmt.Errorf("format: %q: want logfmt or json", c.Format)
	}
	if c.BatchBytes < 1<<10 || c.BatchBytes > 64<<20 {
		return fmt.Errorf("batch_bytes: %d: want 1KiB to 64MiB", c.BatchBytes)
	}
	if c.BatchWait <= 0 || c.Timeout <= 0 || c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff || c.RetryFor < 0 {
		return errors.New("batch_wait, timeout, min_backoff: want more than 0; max_backoff at least min_backoff; retry_for 0 or more")
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 64 {
		return fmt.Errorf("max_in_flight: %d: want 1 to 64", c.MaxInFlight)
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	return nil
}

func (c Config) labelNames() []string {
	var names []string
	for k := range c.Labels {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ParseURL reads the shorthand loki+http://host:3100[/prefix][?tenant=…]
// (or loki+https://).
func ParseURL(s string) (Config, error) {
	c := DefaultConfig()
	rest, ok := strings.CutPrefix(s, "loki+")
	if !ok {
		return c, errors.New("want loki+http://host:3100[/prefix] or loki+https://…")
	}
	u, err := url.Parse(rest)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errors.New("want loki+http://host:3100[/prefix] or loki+https://…")
	}
	if u.User != nil {
		return c, errors.New("no credentials in the address (it shows in the process list): use a configuration file with ${ENV}")
	}
	for k, v := range u.Query() {
		switch k {
		case "tenant":
			c.Tenant = v[len(v)-1]
		case "job":
			c.Job = v[len(v)-1]
		case "format":
			c.Format = v[len(v)-1]
		default:
			return c, fmt.Errorf("option %q: unknown; known: tenant, job, format", k)
		}
	}
	u.RawQuery = ""
	c.URL = strings.TrimSuffix(u.String(), "/")
	return c, nil
}
