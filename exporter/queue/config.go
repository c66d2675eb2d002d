package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/tlsconfig"
)

// Config is the queue of bucket notifications many exporters share: a
// NATS JetStream durable pull consumer, or an SQS queue.
type Config struct {
	Type string `yaml:"type"` // nats or sqs
	// nats://host:4222[,nats://…], or the SQS queue URL
	// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME).
	URL string `yaml:"url"`
	// AckWait is how long a message handed to one exporter stays hidden
	// from the others: the engine delivers it again after it. Exporters
	// say "still working" at half of it. NATS: the consumer's ack wait
	// (default 2m); SQS: the visibility timeout (default: the queue's).
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxDeliver is how many deliveries a failing message gets before it
	// goes to the dead letters. SQS: a redrive policy on the queue wins
	// (its maxReceiveCount; the message is left to it).
	MaxDeliver int `yaml:"max_deliver"`

	// NATS JetStream.
	Stream   string           `yaml:"stream"`   // the stream the bucket notifications go to
	Consumer string           `yaml:"consumer"` // durable consumer name, shared by the exporters
	Subject  string           `yaml:"subject"`  // filter subject; empty: the stream's
	Creds    string           `yaml:"creds"`    // a .creds file (JWT and NKey)
	NKey     string           `yaml:"nkey"`     // an NKey seed file
	Token    config.Secret    `yaml:"token"`
	User     string           `yaml:"user"`
	Password config.Secret    `yaml:"password"`
	TLS      tlsconfig.Config `yaml:"tls"`

	// SQS. With no keys, the AWS default chain applies (environment,
	// shared files, web identity, instance role).
	Region          string        `yaml:"region"`   // default: from the queue URL
	Endpoint        string        `yaml:"endpoint"` // another SQS-speaking service
	AccessKeyID     string        `yaml:"access_key_id"`
	SecretAccessKey config.Secret `yaml:"secret_access_key"`
	SessionToken    config.Secret `yaml:"session_token"`
	RoleARN         string        `yaml:"role_arn"`
	ExternalID      string        `yaml:"external_id"`

	// Reconcile, when not zero, is how often the bucket is listed over the
	// look-back to deliver objects whose notification never came. It needs
	// a record of delivered objects all exporters share: a key-value
	// bucket in JetStream, or marker objects under LedgerPrefix (SQS).
	Reconcile time.Duration `yaml:"reconcile"`
	// ReconcileAfter: objects changed more recently are left to their
	// notification (default 10m).
	ReconcileAfter time.Duration `yaml:"reconcile_after"`
	// LedgerPrefix is where, in the source bucket, SQS exporters record
	// delivered objects (default .flowlog/delivered/).
	LedgerPrefix string `yaml:"ledger_prefix"`
}

// Defaults: a NATS consumer named flowlog with a 2-minute ack wait, 5
// deliveries, reconciled objects older than 10 minutes, SQS markers
// under .flowlog/delivered/.
const (
	DefaultConsumer       = "flowlog"
	DefaultNATSAckWait    = 2 * time.Minute
	DefaultMaxDeliver     = 5
	DefaultReconcileAfter = 10 * time.Minute
	DefaultLedgerPrefix   = ".flowlog/delivered/"
)

// SetDefaults fills what is not set.
func (c *Config) SetDefaults() {
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.ReconcileAfter == 0 {
		c.ReconcileAfter = DefaultReconcileAfter
	}
	switch c.Type {
	case "nats":
		if c.Consumer == "" {
			c.Consumer = DefaultConsumer
		}
		if c.AckWait == 0 {
			c.AckWait = DefaultNATSAckWait
		}
	case "sqs":
		if c.LedgerPrefix == "" {
			c.LedgerPrefix = DefaultLedgerPrefix
		}
	}
}

// Validate names the field that is wrong.
func (c Config) Validate() error {
	if c.MaxDeliver < 1 {
		return fmt.Errorf("max_deliver: %d: want at least 1", c.MaxDeliver)
	}
	if c.Reconcile != 0 && c.Reconcile < 10*time.Second {
		return fmt.Errorf("reconcile: %s: want at least 10s, or 0 for off", c.Reconcile)
	}
	if c.ReconcileAfter < 0 {
		return fmt.Errorf("reconcile_after: %s is negative", c.ReconcileAfter)
	}
	switch c.Type {
	case "nats":
		return c.validateNATS()
	case "sqs":
		return c.validateSQS()
	case "":
		return errors.New("type: nats or sqs is required")
	}
	return fmt.Errorf("type: %q: want nats or sqs", clip(c.Type))
}

func (c Config) validateNATS() error {
	switch {
	case c.URL == "":
		return errors.New("url: nats://host:4222 is required")
	case c.Stream == "":
		return errors.New("stream: the JetStream stream the bucket notifications go to is required")
	case c.Consumer == "" || strings.ContainsAny(c.Consumer, ". *>"):
		return fmt.Errorf("consumer: %q: want a durable name without '.', ' ', '*' or '>'", clip(c.Consumer))
	case c.AckWait < 10*time.Second:
		return fmt.Errorf("ack_wait: %s: want at least 10s", c.AckWait)
	case c.Region != "" || c.Endpoint != "" || c.AccessKeyID != "" || c.SecretAccessKey != "" || c.RoleARN != "" || c.LedgerPrefix != "":
		return errors.New("region, endpoint, access keys, role_arn and ledger_prefix are SQS settings (type: sqs)")
	}
	return c.TLS.Validate()
}

func (c Config) validateSQS() error {
	if c.Stream != "" || c.Consumer != "" || c.Subject != "" || c.Creds != "" || c.NKey != "" || c.Token != "" ||
		c.User != "" || c.Password != "" || c.TLS != (tlsconfig.Config{}) {
		return errors.New("stream, consumer, subject, creds, nkey, token, user, password and tls are NATS settings (type: nats)")
	}
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Count(strings.Trim(u.Path, "/"), "/") != 1 {
		return errors.New("url: the queue URL is required: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME")
	}
	if u.User != nil {
		return errors.New("url: a queue URL holds no credentials: use access_key_id/secret_access_key from ${NAME}, or the AWS environment")
	}
	if c.Endpoint != "" {
		if e, err := url.Parse(c.Endpoint); err != nil || (e.Scheme != "https" && e.Scheme != "http") || e.Host == "" || e.User != nil {
			return errors.New("endpoint: want http(s)://host[:port], without credentials")
		}
	}
	switch {
	case c.AckWait != 0 && (c.AckWait < 10*time.Second || c.AckWait > 12*time.Hour):
		return fmt.Errorf("ack_wait: %s: the visibility timeout must be 10s to 12h (or 0: the queue's)", c.AckWait)
	case (c.AccessKeyID == "") != (c.SecretAccessKey == ""):
		return errors.New("access_key_id and secret_access_key go together: set both or neither")
	case c.ExternalID != "" && c.RoleARN == "":
		return errors.New("external_id goes with role_arn")
	case c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:"):
		return fmt.Errorf("role_arn: %q is not an ARN (arn:aws:iam::123456789012:role/name)", clip(c.RoleARN))
	case strings.HasPrefix(c.LedgerPrefix, "/") || strings.Contains(c.LedgerPrefix, ".."):
		return fmt.Errorf("ledger_prefix: %q: want a key prefix such as .flowlog/delivered/", clip(c.LedgerPrefix))
	}
	return nil
}

// sqsRegion is the region the queue URL names (sqs.REGION.amazonaws.com,
// REGION.queue.amazonaws.com), or "".
func sqsRegion(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	switch {
	case len(parts) >= 4 && parts[0] == "sqs":
		return parts[1]
	case len(parts) >= 4 && parts[1] == "queue":
		return parts[0]
	}
	return ""
}

// ParseURL reads a queue from a command-line address:
//
//	sqs://sqs.eu-central-1.amazonaws.com/123456789012/flowlog[?region=…&endpoint=…]
//	nats://host:4222?stream=S[&consumer=C&subject=…]
//
// Credentials come from the environment, never from the address.
func ParseURL(s string) (Config, error) {
	base, query, _ := strings.Cut(s, "?")
	values, err := url.ParseQuery(query)
	if err != nil {
		return Config{}, errors.New("the options after ? do not parse")
	}
	var c Config
	if strings.Contains(base, "@") {
		return c, errors.New("a queue address holds no credentials: use -c with secrets from ${NAME}, or the environment")
	}
	scheme, rest, _ := strings.Cut(base, "://")
	var known map[string]*string
	switch scheme {
	case "sqs", "sqs+http":
		c.Type = "sqs"
		c.URL = "https://" + rest
		if scheme == "sqs+http" {
			c.URL = "http://" + rest
		}
		known = map[string]*string{"region": &c.Region, "endpoint": &c.Endpoint}
	case "nats", "tls":
		c.Type, c.URL = "nats", base
		known = map[string]*string{"stream": &c.Stream, "consumer": &c.Consumer, "subject": &c.Subject}
	default:
		return c, fmt.Errorf("want sqs://sqs.REGION.amazonaws.com/ACCOUNT/NAME or nats://host:4222?stream=NAME, not %s://…", clip(scheme))
	}
	for k, v := range values {
		switch {
		case known[k] != nil:
			*known[k] = v[len(v)-1]
		case k == "ack_wait":
			if c.AckWait, err = time.ParseDuration(v[len(v)-1]); err != nil {
				return c, fmt.Errorf("ack_wait=%q: want a duration such as 2m", clip(v[len(v)-1]))
			}
		case k == "max_deliver":
			if c.MaxDeliver, err = strconv.Atoi(v[len(v)-1]); err != nil {
				return c, fmt.Errorf("max_deliver=%q: want a number", clip(v[len(v)-1]))
			}
		default:
			return c, fmt.Errorf("unknown option %q for %s", clip(k), c.Type)
		}
	}
	return c, nil
}

// Open connects to the queue the configuration names; log hears what the
// queue decides on its own (a message left to SQS's redrive policy).
func Open(ctx context.Context, c Config, log *slog.Logger) (Queue, error) {
	switch c.Type {
	case "nats":
		return OpenNATS(ctx, c)
	case "sqs":
		q, err := OpenSQS(ctx, c)
		if err == nil && log != nil {
			q.(*sqsQueue).log = log
		}
		return q, err
	}
	return nil, c.Validate()
}
