package elasticsearch

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/tlsconfig"
)

// Targets: where documents go and in what shape.
const (
	TargetFlowlog    = "flowlog"     // logs-flowlog.flows-<namespace>, flowlog's own template
	TargetElasticAWS = "elastic-aws" // logs-aws.vpcflow-<namespace>, Elastic's AWS integration's fields
)

// Config is the Elasticsearch sink's configuration.
type Config struct {
	URLs          []string      `yaml:"urls"`           // https://host:9200 of each node (or cloud_id)
	CloudID       string        `yaml:"cloud_id"`       // Elastic Cloud's deployment id, instead of urls
	APIKey        config.Secret `yaml:"api_key"`        // the encoded key (base64 of id:key), as Kibana shows it
	Username      string        `yaml:"username"`       // basic authentication
	Password      config.Secret `yaml:"password"`       // use ${ENV}
	BearerToken   config.Secret `yaml:"bearer_token"`   // a service account token or an OAuth2 token
	TLS           TLS           `yaml:"tls"`            // verified by default
	Namespace     string        `yaml:"namespace"`      // the data stream's namespace; default "default"
	Target        string        `yaml:"target"`         // flowlog (default) or elastic-aws
	Setup         bool          `yaml:"setup"`          // install templates and the ILM policy at start (default true)
	RetentionDays int           `yaml:"retention_days"` // ILM deletes indices this old; 0 keeps them; default 90
	FlushBytes    int           `yaml:"flush_bytes"`    // a bulk request's size before compression
	Flush         time.Duration `yaml:"flush_interval"` // the longest a document waits for its request
	Requests      int           `yaml:"requests"`       // bulk requests in flight
	Compression   int           `yaml:"compression"`    // gzip level of request bodies, 0 (off) to 9; default 1
	Timeout       time.Duration `yaml:"timeout"`        // one request
	RetryFor      time.Duration `yaml:"retry_for"`      // how long documents are retried before their objects fail (and are delivered again later)
}

// TLS is how the sink verifies Elasticsearch: the system's roots by
// default, a CA file, or the CA's SHA-256 fingerprint that Elasticsearch
// prints when it first starts.
type TLS struct {
	tlsconfig.Config `yaml:",inline"`
	CAFingerprint    string `yaml:"ca_fingerprint"` // hex, with or without colons
}

// DefaultConfig is a local node over HTTPS with flowlog's template.
func DefaultConfig() Config {
	return Config{Namespace: "default", Target: TargetFlowlog, Setup: true, RetentionDays: 90,
		FlushBytes: 5 << 20, Flush: time.Second, Requests: 2, Compression: 1,
		Timeout: time.Minute, RetryFor: 2 * time.Minute}
}

// namespaceRe is the data stream naming scheme's rule for namespaces.
var namespaceRe = regexp.MustCompile(`^[a-z0-9_.]{1,100}$`)

// Validate names the field that is wrong.
func (c Config) Validate() error {
	if len(c.URLs) == 0 && c.CloudID == "" {
		return errors.New("urls: at least one https://host:9200, or cloud_id")
	}
	if len(c.URLs) > 0 && c.CloudID != "" {
		return errors.New("urls and cloud_id: give one of them")
	}
	if c.CloudID != "" && !validCloudID(c.CloudID) {
		return errors.New("cloud_id: want the deployment's Cloud ID as its console shows it (name:base64…)")
	}
	for i, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("urls[%d]: want http(s)://host:port", i)
		}
		if p.User != nil {
			return fmt.Errorf("urls[%d]: put credentials in username/password or api_key, not in the URL", i)
		}
	}
	n := 0
	for _, s := range []string{string(c.APIKey), c.Username, string(c.BearerToken)} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("api_key, username and bearer_token: give one way to authenticate")
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("password: needs username")
	}
	if !namespaceRe.MatchString(c.Namespace) || strings.Contains(c.Namespace, "-") {
		return fmt.Errorf("namespace: %q: want 1 to 100 of a-z, 0-9, _ and . (no '-': it separates the data stream's parts)", c.Namespace)
	}
	switch c.Target {
	case TargetFlowlog, TargetElasticAWS:
	default:
		return fmt.Errorf("target: %q: want %s or %s", c.Target, TargetFlowlog, TargetElasticAWS)
	}
	if c.RetentionDays < 0 {
		return fmt.Errorf("retention_days: %d: want 0 (keep) or more", c.RetentionDays)
	}
	if c.FlushBytes < 1<<10 || c.FlushBytes > 100<<20 {
		return fmt.Errorf("flush_bytes: %d: want 1 KiB to 100 MiB (Elasticsearch refuses requests over http.max_content_length, 100 MiB by default)", c.FlushBytes)
	}
	if c.Flush <= 0 {
		return fmt.Errorf("flush_interval: %s: want more than 0", c.Flush)
	}
	if c.Requests < 1 || c.Requests > 64 {
		return fmt.Errorf("requests: %d: want 1 to 64", c.Requests)
	}
	if c.Compression < 0 || c.Compression > 9 {
		return fmt.Errorf("compression: %d: want 0 (off) to 9", c.Compression)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout: %s: want more than 0", c.Timeout)
	}
	if c.RetryFor < 0 {
		return fmt.Errorf("retry_for: %s: want 0 or more", c.RetryFor)
	}
	if c.TLS.CAFingerprint != "" {
		if _, err := c.TLS.fingerprint(); err != nil {
			return err
		}
		if c.TLS.CAFile != "" {
			return errors.New("tls: ca_file and ca_fingerprint: give one of them")
		}
	}
	return c.TLS.Validate()
}

// validCloudID checks the form of an Elastic Cloud ID: a name, a colon,
// and base64 of host$elasticsearch-id$kibana-id.
func validCloudID(id string) bool {
	_, enc, ok := strings.Cut(id, ":")
	if !ok || strings.Contains(enc, ":") {
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(enc)
	parts := strings.Split(string(dec), "$")
	return err == nil && len(parts) >= 2 && parts[0] != "" && parts[1] != ""
}

// DataStream is the data stream documents go to.
func (c Config) DataStream() string {
	if c.Target == TargetElasticAWS {
		return "logs-" + awsDataset + "-" + c.Namespace
	}
	return "logs-" + dataset + "-" + c.Namespace
}

func (t TLS) fingerprint() ([]byte, error) {
	h := strings.ToLower(strings.ReplaceAll(t.CAFingerprint, ":", ""))
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New("tls.ca_fingerprint: want the SHA-256 of the CA certificate in hex (64 digits, colons allowed)")
	}
	return b, nil
}

// build returns the client's TLS configuration. With a fingerprint, the
// chain is accepted when one of its certificates has that SHA-256 (as
// Elasticsearch's own clients do), and the server's name is still checked
// against the leaf.
func (t TLS) build() (*tls.Config, error) {
	c, err := t.Build()
	if err != nil || t.CAFingerprint == "" || t.InsecureSkipVerify {
		return c, err
	}
	want, err := t.fingerprint()
	if err != nil {
		return nil, err
	}
	c.InsecureSkipVerify = true // verified below, by fingerprint
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		for _, cert := range cs.PeerCertificates {
			sum := sha256.Sum256(cert.Raw)
			if string(sum[:]) != string(want) {
				continue
			}
			if cs.ServerName != "" { // the leaf must still be the server's
				if err := cs.PeerCertificates[0].VerifyHostname(cs.ServerName); err != nil {
					return fmt.Errorf("ca_fingerprint matched, but %w", err)
				}
			}
			return nil
		}
		return errors.New("no certificate of the server's chain has the SHA-256 in tls.ca_fingerprint")
	}
	return c, nil
}

// ParseURL reads the shorthand
//
//	es+https://[user[:password]@]host[:port][,host[:port]…][?namespace=…&target=elastic-aws&setup=false&ca_file=…]
//
// es+http:// is plain HTTP. The port defaults to 9200.
func ParseURL(s string) (Config, error) {
	c := DefaultConfig()
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || (scheme != "es+https" && scheme != "es+http") {
		return c, errors.New("want es+https://host:9200")
	}
	u, err := url.Parse("https://" + rest)
	if err != nil || u.Host == "" || u.Opaque != "" || strings.Trim(u.Path, "/") != "" {
		return c, errors.New("want es+https://[user[:password]@]host[:port][,host…][?namespace=…]")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			c.Password = config.Secret(p)
		}
	}
	for k, v := range u.Query() {
		val := v[len(v)-1]
		switch k {
		case "namespace":
			c.Namespace = val
		case "target":
			c.Target = val
		case "setup":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return c, fmt.Errorf("setup=%q: want true or false", val)
			}
			c.Setup = b
		case "ca_file":
			c.TLS.CAFile = val
		case "ca_fingerprint":
			c.TLS.CAFingerprint = val
		default:
			return c, fmt.Errorf("option %q: unknown; known: namespace, target, setup, ca_file, ca_fingerprint", k)
		}
	}
	for _, h := range strings.Split(u.Host, ",") {
		if h == "" {
			return c, errors.New("an empty host")
		}
		if !strings.Contains(h[strings.LastIndex(h, "]")+1:], ":") { // no port
			h += ":9200"
		}
		c.URLs = append(c.URLs, strings.TrimPrefix(scheme, "es+")+"://"+h)
	}
	return c, nil
}
