package queue

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	nats := Config{Type: "nats", URL: "nats://127.0.0.1:4222", Stream: "FLOWS"}
	sqs := Config{Type: "sqs", URL: "https://sqs.eu-central-1.amazonaws.com/123456789012/flowlog"}
	for name, c := range map[string]struct {
		cfg  Config
		edit func(*Config)
		err  string
	}{
		"nats":              {nats, func(*Config) {}, ""},
		"sqs":               {sqs, func(*Config) {}, ""},
		"no type":           {nats, func(c *Config) { c.Type = "" }, "type: nats or sqs is required"},
		"bad type":          {nats, func(c *Config) { c.Type = "kafka" }, `type: "kafka"`},
		"nats no stream":    {nats, func(c *Config) { c.Stream = "" }, "stream:"},
		"nats consumer dot": {nats, func(c *Config) { c.Consumer = "a.b" }, "consumer:"},
		"nats short wait":   {nats, func(c *Config) { c.AckWait = time.Second }, "ack_wait:"},
		"nats with region":  {nats, func(c *Config) { c.Region = "eu-west-1" }, "SQS settings"},
		"sqs with stream":   {sqs, func(c *Config) { c.Stream = "S" }, "NATS settings"},
		"sqs no url":        {sqs, func(c *Config) { c.URL = "" }, "url: the queue URL is required"},
		"sqs url no path":   {sqs, func(c *Config) { c.URL = "https://sqs.eu-central-1.amazonaws.com/" }, "url:"},
		"sqs url creds":     {sqs, func(c *Config) { c.URL = "https://AKIA:hunter2@sqs.x.amazonaws.com/1/q" }, "holds no credentials"},
		"sqs long wait":     {sqs, func(c *Config) { c.AckWait = 13 * time.Hour }, "ack_wait:"},
		"sqs half keys":     {sqs, func(c *Config) { c.AccessKeyID = "AKIA" }, "go together"},
		"sqs bad endpoint":  {sqs, func(c *Config) { c.Endpoint = "ftp://x" }, "endpoint:"},
		"sqs bad ledger":    {sqs, func(c *Config) { c.LedgerPrefix = "../x/" }, "ledger_prefix:"},
		"short reconcile":   {sqs, func(c *Config) { c.Reconcile = time.Second }, "reconcile:"},
		"no deliveries":     {sqs, func(c *Config) { c.MaxDeliver = -1 }, "max_deliver:"},
	} {
		cfg := c.cfg
		c.edit(&cfg)
		cfg.SetDefaults()
		err := cfg.Validate()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want %q", name, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error repeats a secret: %v", name, err)
		}
	}
}

func TestParseURL(t *testing.T) {
	c, err := ParseURL("sqs://sqs.eu-central-1.amazonaws.com/123456789012/flowlog?ack_wait=5m&max_deliver=7")
	if err != nil || c.Type != "sqs" || c.URL != "https://sqs.eu-central-1.amazonaws.com/123456789012/flowlog" || c.AckWait != 5*time.Minute || c.MaxDeliver != 7 {
		t.Fatalf("%+v, %v", c, err)
	}
	if sqsRegion(c.URL) != "eu-central-1" || sqsRegion("https://eu-west-1.queue.amazonaws.com/1/q") != "eu-west-1" || sqsRegion("http://127.0.0.1:4566/1/q") != "" {
		t.Error("region from the queue URL")
	}
	c, err = ParseURL("sqs+http://sqs.us-east-1.localhost:4566/000000000000/flows?endpoint=http://127.0.0.1:4566&region=us-east-1")
	if err != nil || c.URL != "http://sqs.us-east-1.localhost:4566/000000000000/flows" || c.Endpoint != "http://127.0.0.1:4566" || c.Region != "us-east-1" {
		t.Fatalf("%+v, %v", c, err)
	}
	c, err = ParseURL("nats://127.0.0.1:4222?stream=FLOWS&consumer=x")
	if err != nil || c.Type != "nats" || c.URL != "nats://127.0.0.1:4222" || c.Stream != "FLOWS" || c.Consumer != "x" {
		t.Fatalf("%+v, %v", c, err)
	}
	for s, want := range map[string]string{
		"kafka://x":                          "want sqs://",
		"nats://u:hunter2@x:4222?stream=S":   "no credentials",
		"sqs://x/1/q?secret_access_key=abc":  "unknown option",
		"nats://x?stream=S&ack_wait=forever": "ack_wait=",
		"nats://x?stream=S&region=eu":        "unknown option",
	} {
		_, err := ParseURL(s)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want %q", s, err, want)
		}
	}
}

// TestSQSAttributes reads the queue's attributes as SQS gives them, and
// refuses what no queue has.
func TestSQSAttributes(t *testing.T) {
	q := &sqsQueue{maxDeliver: 5}
	if err := q.attributes(map[string]string{"VisibilityTimeout": "30", "RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:1:dlq","maxReceiveCount":4}`}, 0); err != nil {
		t.Fatal(err)
	}
	if q.visibility != 30*time.Second || q.MaxAttempts() != 4 || q.HeartbeatEvery() != 15*time.Second {
		t.Errorf("%+v", q)
	}
	q = &sqsQueue{maxDeliver: 5}
	if err := q.attributes(map[string]string{"VisibilityTimeout": "30"}, time.Minute); err != nil || q.visibility != time.Minute || q.MaxAttempts() != 5 {
		t.Errorf("%+v, %v", q, err)
	}
	for _, attrs := range []map[string]string{
		{"VisibilityTimeout": "0"},
		{"VisibilityTimeout": "x"},
		{"VisibilityTimeout": "30", "RedrivePolicy": "{"},
		{"VisibilityTimeout": "30", "RedrivePolicy": `{"maxReceiveCount":"many"}`},
	} {
		if err := (&sqsQueue{}).attributes(attrs, 0); err == nil {
			t.Errorf("%v accepted", attrs)
		}
	}
}
