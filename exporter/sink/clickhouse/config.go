package clickhouse

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/tlsconfig"
)

// Config is the ClickHouse sink's configuration.
type Config struct {
	Addresses   []string      `yaml:"addresses"`   // host:port of each server; default 127.0.0.1:9000 (native) or :8123 (http)
	Protocol    string        `yaml:"protocol"`    // native (default) or http
	Database    string        `yaml:"database"`    // created when missing; default flowlog
	User        string        `yaml:"user"`        // default "default"
	Password    config.Secret `yaml:"password"`    // use ${ENV}
	TLS         TLS           `yaml:"tls"`         // off unless enabled
	Compression string        `yaml:"compression"` // lz4 (default for native), zstd, gzip (http), none
	Cluster     string        `yaml:"cluster"`     // ON CLUSTER name: Replicated tables and Distributed ones in front
	Setup       bool          `yaml:"setup"`       // create and migrate the schema at start (default true)
	Retention   Retention     `yaml:"retention"`
	BatchRows   int           `yaml:"batch_rows"`     // rows of one insert (objects are gathered up to this)
	Flush       time.Duration `yaml:"flush_interval"` // the longest a record waits for its insert
	Timeout     time.Duration `yaml:"timeout"`        // one query or insert
	RetryFor    time.Duration `yaml:"retry_for"`      // how long an insert is retried before its objects fail (and are delivered again later)
}

// TLS is whether and how to reach the servers over TLS.
type TLS struct {
	Enabled          bool `yaml:"enabled"`
	tlsconfig.Config `yaml:",inline"`
}

// Retention is how long each table keeps rows; 0 keeps them forever.
type Retention struct {
	Flows  time.Duration `yaml:"flows"`  // default 30 days
	Minute time.Duration `yaml:"minute"` // default 7 days
	Hour   time.Duration `yaml:"hour"`   // default 365 days
}

const day = 24 * time.Hour

// DefaultConfig is a local server over the native protocol.
func DefaultConfig() Config {
	return Config{Protocol: "native", Database: "flowlog", User: "default", Setup: true,
		Retention: Retention{Flows: 30 * day, Minute: 7 * day, Hour: 365 * day},
		BatchRows: 50_000, Flush: 5 * time.Second, Timeout: time.Minute, RetryFor: time.Minute}
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate names the field that is wrong.
func (c Config) Validate() error {
	switch c.Protocol {
	case "native", "http":
	default:
		return fmt.Errorf("protocol: %q: want native or http", c.Protocol)
	}
	for i, a := range c.Addresses {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return fmt.Errorf("addresses[%d]: %q: want host:port", i, a)
		}
	}
	if !identRe.MatchString(c.Database) {
		return fmt.Errorf("database: %q: want a name of letters, digits and _", c.Database)
	}
	if c.Cluster != "" && !identRe.MatchString(c.Cluster) {
		return fmt.Errorf("cluster: %q: want a name of letters, digits and _", c.Cluster)
	}
	switch c.Compression {
	case "", "none", "lz4", "zstd":
	case "gzip":
		if c.Protocol != "http" {
			return errors.New("compression: gzip is for protocol http; native takes lz4 or zstd")
		}
	default:
		return fmt.Errorf("compression: %q: want lz4, zstd, gzip (http) or none", c.Compression)
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	for name, d := range map[string]time.Duration{"retention.flows": c.Retention.Flows, "retention.minute": c.Retention.Minute, "retention.hour": c.Retention.Hour} {
		if d < 0 || d%day != 0 {
			return fmt.Errorf("%s: %s: want whole days (720h = 30 days), or 0 to keep rows forever", name, d)
		}
	}
	if c.BatchRows < 1 || c.BatchRows > 10_000_000 {
		return fmt.Errorf("batch_rows: %d: want 1 to 10000000", c.BatchRows)
	}
	if c.Flush <= 0 {
		return fmt.Errorf("flush_interval: %s: want more than 0", c.Flush)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s: want more than 0", c.Timeout)
	}
	if c.RetryFor < 0 {
		return fmt.Errorf("retry_for: %s: want 0 or more", c.RetryFor)
	}
	return nil
}

func (c Config) addresses() []string {
	if len(c.Addresses) > 0 {
		return c.Addresses
	}
	if c.Protocol == "http" {
		return []string{"127.0.0.1:8123"}
	}
	return []string{"127.0.0.1:9000"}
}

// ParseURL reads the shorthand
//
//	clickhouse://[user[:password]@]host[:port][,host:port…][/database][?protocol=http&secure=true&compression=…&cluster=…]
//
// The port defaults to 9000 (native), 8123 (http), 9440 or 8443 with secure=true.
func ParseURL(s string) (Config, error) {
	c := DefaultConfig()
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "clickhouse" || u.Host == "" || u.Opaque != "" {
		return c, errors.New("want clickhouse://[user@]host[:port][/database][?protocol=http&secure=true]")
	}
	if u.User != nil {
		c.User = u.User.Username()
		if p, ok := u.User.Password(); ok {
			c.Password = config.Secret(p)
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		c.Database = db
	}
	q := u.Query()
	for k, v := range q {
		val := v[len(v)-1]
		switch k {
		case "protocol":
			c.Protocol = val
		case "secure":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return c, fmt.Errorf("secure=%q: want true or false", val)
			}
			c.TLS.Enabled = b
		case "compression":
			c.Compression = val
		case "cluster":
			c.Cluster = val
		case "ca_file":
			c.TLS.CAFile = val
		default:
			return c, fmt.Errorf("option %q: unknown; known: protocol, secure, compression, cluster, ca_file", k)
		}
	}
	port := "9000"
	switch {
	case c.Protocol == "http" && c.TLS.Enabled:
		port = "8443"
	case c.Protocol == "http":
		port = "8123"
	case c.TLS.Enabled:
		port = "9440"
	}
	for _, h := range strings.Split(u.Host, ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), port)
		}
		c.Addresses = append(c.Addresses, h)
	}
	return c, nil
}
