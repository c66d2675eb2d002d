// Package testserver starts real servers for integration tests on free
// loopback ports and stops them by process id.
package testserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flowlog/flowlog/internal/objstore"
)

// Require skips the test when a server binary is missing, or fails it when
// FLOWLOG_REQUIRE_TOOLS=1 (CI installs every server and sets it).
func Require(t testing.TB, what, path string) {
	t.Helper()
	if path != "" {
		return
	}
	if os.Getenv("FLOWLOG_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (FLOWLOG_REQUIRE_TOOLS=1) but was not found", what)
	}
	t.Skipf("%s not found; run 'make test-deps' or set FLOWLOG_REQUIRE_TOOLS=1 to make this a failure", what)
}

// FindBinary looks for a server binary: $ENV (the Makefile sets it to the
// binary test-deps built), then PATH, then ~/go/bin.
func FindBinary(env, name string) string {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, "go", "bin", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// MinIO is a real MinIO server on loopback.
type MinIO struct {
	t       testing.TB
	bin     string
	dataDir string
	port    int
	proc    *process

	AccessKey, SecretKey string
	env                  []string // more of MinIO's settings, NAME=value
}

// StartMinIO starts MinIO with an empty data folder; it stops when the test ends.
func StartMinIO(t testing.TB) *MinIO { return StartMinIOWith(t) }

// StartMinIOWith starts MinIO with more settings in its environment
// (MINIO_NOTIFY_NATS_…=…, say).
func StartMinIOWith(t testing.TB, env ...string) *MinIO {
	t.Helper()
	bin := FindBinary("MINIO_BIN", "minio")
	Require(t, "minio (go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c)", bin)
	m := &MinIO{t: t, bin: bin, dataDir: t.TempDir(), port: FreePort(t),
		AccessKey: "flowlogtest", SecretKey: "flowlogtest-secret", env: env}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// NATSTarget is the environment that makes MinIO publish bucket
// notifications to JetStream subject subject at addr, as target id
// (arn:minio:sqs::<id>:nats). The stream must exist before MinIO starts.
func NATSTarget(id, addr, subject string) []string {
	return []string{"MINIO_NOTIFY_NATS_ENABLE_" + id + "=on", "MINIO_NOTIFY_NATS_ADDRESS_" + id + "=" + addr,
		"MINIO_NOTIFY_NATS_SUBJECT_" + id + "=" + subject, "MINIO_NOTIFY_NATS_JETSTREAM_" + id + "=on"}
}

// Endpoint returns the server's http:// address.
func (m *MinIO) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(m.port) }

// S3Config returns the settings to reach the server.
func (m *MinIO) S3Config() objstore.S3Config {
	return objstore.S3Config{Endpoint: m.Endpoint(), Region: "us-east-1", PathStyle: true,
		AccessKeyID: m.AccessKey, SecretAccessKey: objstore.Secret(m.SecretKey), Timeout: 10 * time.Second}
}

// Start (re)starts the server on its port and data folder and waits until it answers.
func (m *MinIO) Start() {
	m.t.Helper()
	if m.proc != nil {
		return
	}
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", "127.0.0.1:"+strconv.Itoa(m.port),
		"--console-address", "127.0.0.1:"+strconv.Itoa(FreePort(m.t)), m.dataDir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Env = append(cmd.Env, m.env...)
	m.proc = startProcess(m.t, "minio", cmd)
	m.proc.waitHTTP(m.t, "minio", m.Endpoint()+"/minio/health/ready", 60*time.Second)
}

// Stop stops the server by its process id and waits for it to exit.
func (m *MinIO) Stop() { m.stop(syscall.SIGTERM) }

// Kill kills the server by its process id (SIGKILL), as a crash does:
// connections in progress are cut.
func (m *MinIO) Kill() { m.stop(syscall.SIGKILL) }

func (m *MinIO) stop(sig syscall.Signal) {
	if m.proc != nil {
		m.proc.stop(sig, 10*time.Second)
		m.proc = nil
	}
}

// Client returns an S3 client for the server.
func (m *MinIO) Client() *s3.Client {
	m.t.Helper()
	c, err := objstore.NewS3Client(context.Background(), m.S3Config())
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

// CreateBucket makes a bucket.
func (m *MinIO) CreateBucket(name string) {
	m.t.Helper()
	if _, err := m.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		m.t.Fatalf("create bucket %s: %v", name, err)
	}
}

// Put stores an object.
func (m *MinIO) Put(bucket, key string, body []byte) {
	m.t.Helper()
	_, err := m.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(body)})
	if err != nil {
		m.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// Objects returns the keys and contents of every object in bucket.
func (m *MinIO) Objects(bucket string) map[string][]byte {
	m.t.Helper()
	ctx := context.Background()
	c := m.Client()
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			m.t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				m.t.Fatalf("get %s: %v", *o.Key, err)
			}
			data, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				m.t.Fatalf("get %s: %v", *o.Key, err)
			}
			out[*o.Key] = data
		}
	}
	return out
}

func (m *MinIO) String() string {
	return fmt.Sprintf("minio %s pid %d", m.Endpoint(), m.proc.cmd.Process.Pid)
}
