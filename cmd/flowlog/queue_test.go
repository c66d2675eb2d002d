package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowlog/flowlog/exporter/queue"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/objstore"
	"github.com/flowlog/flowlog/internal/testserver"
)

// fleet is three exporters sharing one queue, each a child process with
// its own configuration, checkpoint and log, all writing to the same
// sinks.
type fleet struct {
	t     *testing.T
	dir   string
	procs []*exec.Cmd
	logs  []string
	files []string
}

func startFleet(t *testing.T, dir string, configs []string) *fleet {
	f := &fleet{t: t, dir: dir, files: configs, procs: make([]*exec.Cmd, len(configs)), logs: make([]string, len(configs))}
	for i := range configs {
		f.start(i)
	}
	t.Cleanup(f.stop)
	return f
}

func (f *fleet) start(i int) {
	f.logs[i] = filepath.Join(f.dir, fmt.Sprintf("exporter-%d-%d.log", i, time.Now().UnixNano()))
	logf, err := os.Create(f.logs[i])
	if err != nil {
		f.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLOWLOG_MAIN_ARGS="+strings.Join([]string{"export", "-c", f.files[i], "--log-level", "debug"}, "\n"))
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.procs[i] = cmd
}

// kill kills exporter i with SIGKILL, as a crash does, and starts it again.
func (f *fleet) kill(i int) {
	f.procs[i].Process.Kill()
	f.procs[i].Wait()
	f.start(i)
}

func (f *fleet) stop() {
	for i, p := range f.procs {
		p.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			p.Process.Signal(syscall.SIGQUIT)
			<-done
			b, _ := os.ReadFile(f.logs[i])
			f.t.Errorf("exporter %d did not stop within 15 s of SIGTERM:\n%s", i, b)
		}
	}
}

// reconciled adds up what the exporters' reconcilers said they delivered.
func (f *fleet) reconciled() int {
	n := 0
	re := regexp.MustCompile(`reconciler: objects no exporter delivered.* objects=(\d+)`)
	logs, _ := filepath.Glob(filepath.Join(f.dir, "exporter-*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		for _, m := range re.FindAllSubmatch(b, -1) {
			k, _ := strconv.Atoi(string(m[1]))
			n += k
		}
	}
	return n
}

// logText is every exporter log, for failures.
func (f *fleet) logText() string {
	var b strings.Builder
	logs, _ := filepath.Glob(filepath.Join(f.dir, "exporter-*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		fmt.Fprintf(&b, "== %s\n%s", filepath.Base(l), data)
	}
	return b.String()
}

// fleetConfigs writes the configurations of three exporters reading the
// bucket flows of m through queueYAML (a YAML block), each with its own
// checkpoint, sharing the dead letters and the sinks.
func fleetConfigs(t *testing.T, dir string, m *testserver.MinIO, queueYAML string, sinks *sinksUnderTest) []string {
	var files []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("exporter-%d.yaml", i))
		err := os.WriteFile(p, []byte(fmt.Sprintf(`listen: ""
checkpoint: %s/cp-%d.json
dead_letter: %s/dead
lookback: 24h
source:
  url: s3://flows
  endpoint: %s
  region: us-east-1
  path_style: true
  access_key_id: %s
  secret_access_key: %s
%s%s`, dir, i, dir, m.Endpoint(), m.AccessKey, m.SecretKey, queueYAML, sinks.yaml())), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	return files
}

// sinksUnderTest are the file sink, ClickHouse (the real engine) and Loki's
// push API (VictoriaLogs) that many exporters write to at once.
type sinksUnderTest struct {
	out string
	ch  *testserver.ClickHouse
	db  string
	vl  *testserver.VictoriaLogs
}

func startSinks(t *testing.T, dir string) *sinksUnderTest {
	s := &sinksUnderTest{out: filepath.Join(dir, "out"), ch: testserver.StartClickHouse(t), vl: testserver.StartVictoriaLogs(t),
		db: fmt.Sprintf("queue_%d", time.Now().UnixNano()%1e9)}
	t.Setenv("FLOWLOG_TEST_CH_PASSWORD", s.ch.Password)
	return s
}

func (s *sinksUnderTest) yaml() string {
	return fmt.Sprintf(`sinks:
  - type: file
    dir: %s
  - type: clickhouse
    protocol: http
    addresses: [%s]
    user: %s
    password: ${FLOWLOG_TEST_CH_PASSWORD}
    database: %s
    timeout: 30s
  - type: loki
    url: %s/insert
`, s.out, s.ch.Addr(), s.ch.User, s.db, s.vl.URL())
}

// wait waits until every sink holds want records, and checks each holds
// them once (Loki: at least once, every copy the same entry).
func (s *sinksUnderTest) wait(t *testing.T, want int, f *fleet) {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.ch.Addr()}, Protocol: clickhouse.HTTP,
		Auth: clickhouse.Auth{Username: s.ch.User, Password: s.ch.Password}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	chRows := func() (n, distinct uint64) {
		conn.QueryRow(context.Background(), "SELECT count(), uniqExact(event_id) FROM "+s.db+".flows").Scan(&n, &distinct)
		return n, distinct
	}
	lokiIDs := func() int {
		rows := s.vl.Query("* | stats count_uniq(event_id) as n")
		if len(rows) == 0 {
			return 0
		}
		n, _ := strconv.Atoi(rows[0]["n"])
		return n
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		_, d := chRows()
		if countLines(t, s.out) >= want && int(d) >= want && lokiIDs() >= want {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := countLines(t, s.out); got != want {
		t.Errorf("file sink: %d documents, want %d", got, want)
	}
	if n, d := chRows(); int(n) != want || int(d) != want {
		t.Errorf("ClickHouse: count() %d, uniqExact(event_id) %d; want %d each", n, d, want)
	}
	stats := s.vl.Query("* | stats count() as entries, count_uniq(event_id) as ids, count_uniq(event_id, _stream, _time, _msg) as forms")
	if len(stats) != 1 || stats[0]["ids"] != strconv.Itoa(want) || stats[0]["forms"] != stats[0]["ids"] {
		t.Errorf("Loki: %v; want %d distinct records, each in one form", stats, want)
	} else {
		t.Logf("Loki: %s entries of %s records", stats[0]["entries"], stats[0]["ids"])
	}
	if t.Failed() || os.Getenv("DUMPLOGS") != "" {
		t.Log(f.logText())
	}
}

// flowObjects generates objects of the last hours (ClickHouse's retention
// keeps them), the first dropped ones under a key prefix of their own.
func flowObjects(t *testing.T, n, records int) (*gen.Generator, gen.Config) {
	gc := gen.DefaultConfig()
	gc.Name, gc.Objects, gc.Records = "web-1", n, records
	gc.Start = time.Now().Add(-time.Duration(n+6) * gc.Interval).Truncate(gc.Interval)
	g, err := gen.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	return g, gc
}

// ledgerHasAll checks, as a reconciler would, that the ledger holds every
// flow-log object of the bucket: the ETags notifications give are those
// listings give.
func ledgerHasAll(t *testing.T, l queue.Ledger, m *testserver.MinIO, bucket string) {
	t.Helper()
	ctx := context.Background()
	out, err := m.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("flow")})
	if err != nil {
		t.Fatal(err)
	}
	var es []queue.Entry
	for _, o := range out.Contents {
		es = append(es, queue.Entry{Bucket: bucket, Key: aws.ToString(o.Key), ETag: aws.ToString(o.ETag), Time: time.Now()})
	}
	got, err := l.Delivered(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range got {
		if !ok {
			t.Errorf("the ledger does not hold %s %s", es[i].Key, es[i].ETag)
		}
	}
	if len(es) == 0 {
		t.Error("nothing listed")
	}
}

// TestExportNATSIntegration: MinIO publishes bucket notifications to
// JetStream; three exporters share one durable consumer and write to a
// file sink, ClickHouse and Loki; objects are put while they run and one
// exporter is killed with SIGKILL twice mid-way. Three objects' messages
// are purged from the stream before the exporters start: the reconciler
// finds them through the JetStream key-value ledger. Every record is in
// each sink once, every message is settled, a poison message lands in
// the dead letters.
func TestExportNATSIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server, MinIO, ClickHouse and VictoriaLogs")
	}
	n := testserver.StartNATS(t)
	m, stream := testserver.NotifyingMinIO(t, n, "flows", "FLOWLOG", "flowlog.objects")
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	sinks := startSinks(t, dir)
	const objects, dropped, records = 30, 3, 1000
	g, _ := flowObjects(t, objects+dropped, records)

	// Lost notifications: three objects whose messages are purged.
	for i := range dropped {
		m.Put("flows", "flowlogs/"+g.Key(i), g.Object(i))
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		info, err := stream.Info(ctx)
		if err == nil && info.State.Msgs == dropped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("MinIO did not publish the first objects: %+v, %v", info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stream.Purge(ctx); err != nil {
		t.Fatal(err)
	}

	f := startFleet(t, dir, fleetConfigs(t, dir, m, fmt.Sprintf(`queue:
  type: nats
  url: %s
  stream: FLOWLOG
  consumer: exporters
  ack_wait: 10s
  max_deliver: 3
  reconcile: 10s
  reconcile_after: 15s
`, n.URL()), sinks))
	for i := dropped; i < objects+dropped; i++ {
		m.Put("flows", "flowlogs/"+g.Key(i), g.Object(i))
		if i == 10 || i == 20 { // kill one exporter mid-way, twice
			time.Sleep(300 * time.Millisecond)
			f.kill(0)
		}
	}
	// A poison message: not a notification.
	if _, err := js.Publish(ctx, "flowlog.objects", []byte("this is not a notification")); err != nil {
		t.Fatal(err)
	}
	sinks.wait(t, (objects+dropped)*records, f)
	if files := outputFiles(t, sinks.out, false); len(files) != objects+dropped {
		t.Errorf("%d output files, want one per object (%d)", len(files), objects+dropped)
	}
	// Every message is settled: nothing pending, nothing awaiting an ack.
	for deadline := time.Now().Add(30 * time.Second); ; {
		info, err := stream.Info(ctx)
		if err == nil && info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages left in the work queue: %+v, %v", info.State, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkDeadLetters(t, dir, [2]string{"this is not a notification", "not an S3 bucket notification"})
	if r := f.reconciled(); r < dropped {
		t.Errorf("the reconcilers delivered %d objects, want at least the %d whose messages were purged", r, dropped)
	}
	q, err := queue.OpenNATS(ctx, queue.Config{Type: "nats", URL: n.URL(), Stream: "FLOWLOG", Consumer: "exporters", AckWait: 10 * time.Second, MaxDeliver: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	l, err := queue.NATSLedger(ctx, q, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ledgerHasAll(t, l, m, "flows")
}

// checkDeadLetters finds, in the dead letters, one message per want: each
// holding both strings of its want (a part of the body, the reason).
func checkDeadLetters(t *testing.T, dir string, want ...[2]string) {
	t.Helper()
	dead, _ := filepath.Glob(filepath.Join(dir, "dead", "messages", "*.json"))
	if len(dead) != len(want) {
		t.Fatalf("dead-letter messages %v, want %d", dead, len(want))
	}
	var all []string
	for _, p := range dead {
		b, _ := os.ReadFile(p)
		all = append(all, string(b))
	}
	for _, w := range want {
		found := false
		for _, b := range all {
			found = found || strings.Contains(b, w[0]) && strings.Contains(b, w[1])
		}
		if !found {
			t.Errorf("no dead letter with %q and %q in %q", w[0], w[1], all)
		}
	}
}

// s3Notification is the body AWS S3 sends for created objects, keys
// URL-encoded as AWS does (space as '+'); escapeSlash encodes '/' too
// (%2F), as some senders do.
func s3Notification(bucket string, objs []putObject, escapeSlash bool) string {
	type rec map[string]any
	var recs []rec
	for _, o := range objs {
		key := url.QueryEscape(o.key)
		if !escapeSlash {
			key = strings.ReplaceAll(key, "%2F", "/")
		}
		recs = append(recs, rec{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
			"eventTime": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), "eventName": "ObjectCreated:Put",
			"s3": rec{"s3SchemaVersion": "1.0", "configurationId": "flowlog",
				"bucket": rec{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
				"object": rec{"key": key, "size": o.size, "eTag": strings.Trim(o.etag, `"`), "sequencer": "0055AED6DCD90281E5"}}})
		if o.size == 0 {
			delete(recs[len(recs)-1]["s3"].(rec)["object"].(rec), "size")
		}
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return string(b)
}

type putObject struct {
	key, etag string
	size      int64
}

func putFlow(t *testing.T, m *testserver.MinIO, bucket, key string, body []byte) putObject {
	t.Helper()
	out, err := m.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return putObject{key: key, etag: aws.ToString(out.ETag), size: int64(len(body))}
}

// TestExportSQSIntegration: three exporters share one SQS queue (fauxqs)
// and write to a file sink, ClickHouse and Loki; the objects live in
// MinIO and their notifications, shaped as AWS S3 sends them, reach the
// queue directly or through an SNS topic, with keys URL-encoded ('+' for
// spaces, '%2F' for slashes), two objects in one message; test and removal
// events are acknowledged and ignored. One exporter is killed with SIGKILL
// twice mid-way. Three objects get no notification: the reconciler finds
// them through marker objects in the bucket. Every record is in each sink
// once; the queue ends empty; a poison message goes through the redrive
// policy to the dead-letter queue, and into the local dead letters.
func TestExportSQSIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fauxqs, MinIO, ClickHouse and VictoriaLogs")
	}
	fq := testserver.StartSQS(t)
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, dlqARN := fq.CreateQueue("flows-dlq", nil)
	dlqURL, _ := fq.CreateQueue("flows-dlq", nil)
	qURL, qARN := fq.CreateQueue("flows", map[string]string{"VisibilityTimeout": "10",
		"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"3"}`})
	topic := fq.SNSTopic("flows-events", qARN)
	sqsc := fq.Client()
	sendSQS := func(body string) {
		if _, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(qURL), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	sinks := startSinks(t, dir)
	const objects, dropped, records = 30, 3, 1000
	g, _ := flowObjects(t, objects+dropped, records)
	// Keys with a space and an '=' under the prefix: encoded in notifications.
	key := func(i int) string { return "flow logs/site=a b/" + g.Key(i) }
	for i := range dropped { // no notification for these
		putFlow(t, m, "flows", key(i), g.Object(i))
	}
	f := startFleet(t, dir, fleetConfigs(t, dir, m, fmt.Sprintf(`queue:
  type: sqs
  url: %s
  endpoint: %s
  access_key_id: test
  secret_access_key: test
  reconcile: 10s
  reconcile_after: 15s
`, qURL, fq.Endpoint()), sinks))
	sendSQS(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-30T00:00:00.000Z","Bucket":"flows","RequestId":"X","HostId":"Y"}`)
	for i := dropped; i < objects+dropped; i += 2 {
		batch := []putObject{putFlow(t, m, "flows", key(i), g.Object(i))}
		if i+1 < objects+dropped {
			batch = append(batch, putFlow(t, m, "flows", key(i+1), g.Object(i+1)))
		}
		if i == dropped {
			batch[0].size = 0 // a notification without the object's size
		}
		var parts [][]putObject
		if i%4 == 1 { // two objects in one message
			parts = [][]putObject{batch}
		} else {
			for _, o := range batch {
				parts = append(parts, []putObject{o})
			}
		}
		for j, p := range parts {
			body := s3Notification("flows", p, (i+j)%3 == 0)
			if (i+j)%2 == 0 {
				fq.Publish(topic, body) // wrapped by SNS
			} else {
				sendSQS(body)
			}
		}
		if i == 11 || i == 21 {
			time.Sleep(300 * time.Millisecond)
			f.kill(0)
		}
	}
	// A removal (acknowledged, ignored), a poison message, and a message
	// that keeps failing (its object is not there).
	sendSQS(strings.Replace(s3Notification("flows", []putObject{{key: key(5), etag: "x", size: 1}}, false), "ObjectCreated:Put", "ObjectRemoved:Delete", 1))
	sendSQS("this is not a notification")
	sendSQS(s3Notification("flows", []putObject{{key: "flow logs/gone-1796083200.log.gz", etag: "x", size: 10}}, false))

	sinks.wait(t, (objects+dropped)*records, f)
	for deadline := time.Now().Add(60 * time.Second); ; {
		v, h := sqsDepth(t, sqsc, qURL)
		d, _ := sqsDepth(t, sqsc, dlqURL)
		if v+h == 0 && d == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue: %d visible, %d in flight; dead-letter queue: %d; want 0, 0, 2 (the poison message, the failing one)\n%s", v, h, d, f.logText())
		}
		time.Sleep(300 * time.Millisecond)
	}
	checkDeadLetters(t, dir, [2]string{"this is not a notification", "not an S3 bucket notification"},
		[2]string{"gone-1796083200", "delivered 3 times without success: flow logs/gone-1796083200.log.gz"})
	if r := f.reconciled(); r < dropped {
		t.Errorf("the reconcilers delivered %d objects, want at least the %d without notification", r, dropped)
	}
	if !strings.Contains(f.logText(), "message left to the queue's redrive policy") {
		t.Error("no exporter logged leaving the poison message to the redrive policy")
	}
	client, err := objstore.NewS3Client(ctx, objstore.S3Config{Endpoint: m.Endpoint(), Region: "us-east-1", PathStyle: true,
		AccessKeyID: m.AccessKey, SecretAccessKey: objstore.Secret(m.SecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	ledgerHasAll(t, queue.S3Ledger(client, "flows", queue.DefaultLedgerPrefix), m, "flows")
}

func sqsDepth(t *testing.T, c *sqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqsAttrName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	h, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return v, h
}

type sqsAttrName = sqstypes.QueueAttributeName

// TestExportQueueCheckIntegration: --check reaches the queue given as
// --queue, and names a queue that does not exist.
func TestExportQueueCheckIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts fauxqs and MinIO")
	}
	fq := testserver.StartSQS(t)
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	qURL, _ := fq.CreateQueue("flows", map[string]string{"VisibilityTimeout": "60"})
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	src := "s3://flows?endpoint=" + m.Endpoint() + "&path_style=true&region=us-east-1"
	queueArg := "sqs+http://" + strings.TrimPrefix(qURL, "http://") + "?endpoint=" + fq.Endpoint()
	stdout, stderr, code := flowlog(t, "", "export", "--source", src, "--queue", queueArg, "--reconcile", "1m", "--sink", "stdout", "--check")
	if code != 0 || !strings.Contains(stdout, "queue OK: sqs://sqs.us-east-1.localhost") ||
		!strings.Contains(stdout, "reconciling every 1m0s through s3://flows/.flowlog/delivered/") {
		t.Errorf("check: exit %d\n%s%s", code, stdout, stderr)
	}
	_, stderr, code = flowlog(t, "", "export", "--source", src, "--queue", strings.Replace(queueArg, "/flows?", "/nope?", 1), "--sink", "stdout", "--check")
	if code == 0 || !strings.Contains(stderr, "/nope: reading the queue's attributes") {
		t.Errorf("missing queue: exit %d\n%s", code, stderr)
	}
}

// TestExportNATSTokenIntegration: the NATS token comes from ${ENV} in the
// file; a wrong one is refused and not shown.
func TestExportNATSTokenIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server and MinIO")
	}
	n := testserver.StartNATSConf(t, `authorization { token: "t0ken-from-env" }`)
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	nc, err := nats.Connect(n.URL(), nats.Token("t0ken-from-env"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "FLOWS", Subjects: []string{"flows"}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "e.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`checkpoint: %s/cp.json
source: {url: s3://flows, endpoint: %s, path_style: true, region: us-east-1, access_key_id: %s, secret_access_key: %s}
queue:
  type: nats
  url: %s
  stream: FLOWS
  token: ${FLOWLOG_TEST_NATS_TOKEN}
  reconcile: 5m
sinks: [stdout]
`, dir, m.Endpoint(), m.AccessKey, m.SecretKey, n.URL())), 0o600)
	t.Setenv("FLOWLOG_TEST_NATS_TOKEN", "t0ken-from-env")
	stdout, stderr, code := flowlog(t, "", "export", "-c", cfg, "--check")
	if code != 0 || !strings.Contains(stdout, "queue OK: nats://127.0.0.1:") || !strings.Contains(stdout, "through nats key-value flowlog_delivered_flowlog") {
		t.Errorf("check: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Setenv("FLOWLOG_TEST_NATS_TOKEN", "wr0ng-t0ken")
	stdout, stderr, code = flowlog(t, "", "export", "-c", cfg, "--check")
	if code == 0 || !strings.Contains(stderr, "Authorization Violation") || strings.Contains(stdout+stderr, "wr0ng-t0ken") {
		t.Errorf("wrong token: exit %d\n%s%s", code, stdout, stderr)
	}
}
