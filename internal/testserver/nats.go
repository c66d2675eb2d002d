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
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is a real nats-server with JetStream on loopback.
type NATS struct {
	t       testing.TB
	bin     string
	dataDir string
	port    int
	monitor int
	conf    string // a configuration file, when given
	proc    *process
}

// StartNATS starts nats-server with JetStream and an empty store folder;
// it stops when the test ends.
func StartNATS(t testing.TB) *NATS { return StartNATSConf(t, "") }

// StartNATSConf starts nats-server with JetStream and conf, a server
// configuration (authorization, tls, operator…; none when empty); address,
// ports and store folder come from the command line.
func StartNATSConf(t testing.TB, conf string) *NATS {
	t.Helper()
	bin := FindBinary("NATS_SERVER_BIN", "nats-server")
	Require(t, "nats-server (go install github.com/nats-io/nats-server/v2@v2.15.2)", bin)
	n := &NATS{t: t, bin: bin, dataDir: t.TempDir(), port: FreePort(t), monitor: FreePort(t)}
	if conf != "" {
		n.conf = filepath.Join(n.dataDir, "nats.conf")
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// Addr is the client address, host:port.
func (n *NATS) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// URL is the client URL, nats://host:port.
func (n *NATS) URL() string { return "nats://" + n.Addr() }

// Start (re)starts the server on its port and store folder and waits until
// JetStream answers.
func (n *NATS) Start() {
	n.t.Helper()
	if n.proc != nil {
		return
	}
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-m", strconv.Itoa(n.monitor), "-js", "-sd", n.dataDir}
	if n.conf != "" {
		args = append(args, "-c", n.conf)
	}
	cmd := exec.Command(n.bin, args...)
	n.proc = startProcess(n.t, "nats-server", cmd)
	n.proc.waitHTTP(n.t, "nats-server", "http://127.0.0.1:"+strconv.Itoa(n.monitor)+"/healthz?js-enabled-only=true", 30*time.Second)
}

// Stop stops the server by its process id and waits for it to exit.
func (n *NATS) Stop() { n.stop(syscall.SIGTERM) }

// Kill kills the server by its process id, as a crash does.
func (n *NATS) Kill() { n.stop(syscall.SIGKILL) }

func (n *NATS) stop(sig syscall.Signal) {
	if n.proc != nil {
		n.proc.stop(sig, 10*time.Second)
		n.proc = nil
	}
}

// NotifyingMinIO starts MinIO publishing the objects created in bucket to
// JetStream: stream (created first, a work queue on subject) on n. It
// returns MinIO and a connection's view of the stream; both end with the
// test.
func NotifyingMinIO(t testing.TB, n *NATS, bucket, stream, subject string) (*MinIO, jetstream.Stream) {
	t.Helper()
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	m := StartMinIOWith(t, NATSTarget(stream, n.Addr(), subject)...)
	m.CreateBucket(bucket)
	_, err = m.Client().PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			QueueArn: aws.String("arn:minio:sqs::" + stream + ":nats"), Events: []types.Event{"s3:ObjectCreated:*"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}
