package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowlog/flowlog/exporter/deadletter"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/blackhole"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

// TestS3Integration polls a real MinIO bucket: new objects, a late one
// (a key older than those seen) and a rewritten one (same key, new ETag) are
// all delivered; a backfill of a time range reads exactly its objects.
func TestS3Integration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	client := m.Client()
	cfg := gen.DefaultConfig()
	cfg.Name, cfg.Objects, cfg.Records = "web-1", 8, 200
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	put := func(i int, body []byte) { m.Put("flows", "flowlogs/"+g.Key(i), body) }
	for _, i := range []int{0, 1, 2, 5} {
		put(i, g.Object(i))
	}
	// Not flow logs: ignored.
	m.Put("flows", "flowlogs/README.txt", []byte("x"))

	out, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	files := fileSink(t, out)
	cp := openCheckpoint(t, state)
	pc := DefaultConfig()
	pc.PollInterval, pc.LookBack = 100*time.Millisecond, 100*365*24*time.Hour
	src := source.NewBucket(client, "flows", "flowlogs")
	p, err := New(pc, Deps{Source: src, Sinks: []sink.Sink{files}, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor := func(what string, want int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for countDocs(out) != want {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("%s: %d documents delivered, want %d", what, countDocs(out), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("first objects", 4*200)
	put(6, g.Object(6)) // new
	waitFor("new object", 5*200)
	put(3, g.Object(3)) // late: older than keys already seen
	waitFor("late object", 6*200)
	before := readIDs(t, out)
	put(1, append(g.Object(1), g.Object(1)...)) // rewritten: two gzip members, twice the records
	waitFor("rewritten object", 7*200)
	// MinIO down for a while: listings fail, nothing is lost; after it
	// returns, a new object arrives.
	m.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for testutil.ToFloat64(p.m.listErrors) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if testutil.ToFloat64(p.m.listErrors) == 0 {
		t.Error("no failed listing counted while MinIO was down")
	}
	m.Start()
	put(7, g.Object(7))
	waitFor("object after an outage", 8*200)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	after := readIDs(t, out)
	if len(after) != 8*200 {
		t.Errorf("%d distinct ids, want %d", len(after), 8*200)
	}
	gone := 0
	for id := range before {
		if _, ok := after[id]; !ok {
			gone++
		}
	}
	if gone != 200 {
		t.Errorf("%d ids of the rewritten object's old version are gone, want all 200 replaced", gone)
	}
	if todo, done, _ := p.Plan(context.Background(), source.Range{}); len(todo) != 0 || done != 7 {
		t.Errorf("checkpoint: %d to do, %d done; want the 7 objects done", len(todo), done)
	}

	// Backfill of 00:20 to 00:40 reads the objects of windows 1, 2, 3 (ends 00:20, 00:30, 00:40).
	cp2 := openCheckpoint(t, filepath.Join(t.TempDir(), "bf.json"))
	bh, _ := blackhole.New(blackhole.DefaultConfig(), sink.Deps{})
	bf, err := New(DefaultConfig(), Deps{Source: src, Sinks: []sink.Sink{bh}, Checkpoint: cp2})
	if err != nil {
		t.Fatal(err)
	}
	r := source.Range{Since: time.Date(2026, 1, 1, 0, 20, 0, 0, time.UTC), Until: time.Date(2026, 1, 1, 0, 40, 0, 0, time.UTC)}
	todo, _, err := bf.Plan(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range todo {
		keys = append(keys, o.Key)
	}
	want := []string{"flowlogs/" + g.Key(1), "flowlogs/" + g.Key(2), "flowlogs/" + g.Key(3)}
	if len(keys) != 3 || keys[0] != want[0] || keys[1] != want[1] || keys[2] != want[2] {
		t.Errorf("backfill plan %v, want %v", keys, want)
	}
	st, err := bf.Deliver(context.Background(), todo, 0, nil)
	if docs, _ := bh.Counts(); err != nil || st.Objects != 3 || docs != 4*200 {
		t.Errorf("backfill: %+v, %d documents, %v; want 3 objects, 800 documents", st, docs, err)
	}
}

// TestS3SamplesIntegration delivers AWS-, IONOS- and IBM-style objects from
// MinIO in one backfill: every record of each arrives, with its format's fields.
func TestS3SamplesIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("samples")
	client := m.Client()
	gz := func(data []byte) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		return b.Bytes()
	}
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	objects := map[string][]byte{
		"AWSLogs/123456789012/vpcflowlogs/eu-central-1/2024/05/01/123456789012_vpcflowlogs_eu-central-1_fl-1_20240501T1200Z_ab.log.gz": gz(read("../../parser/testdata/aws-custom-header.log")),
		"ionos/webserver01-1629810635.log.gz": read("../../parser/testdata/ionos-webserver01-1629810635.log.gz"),
		"ibm_vpc_flowlogs_v1/account=4f2c/region=eu-de/vnic-id=02b7/stream-id=20260302T100000Z/00000000.gz": gz(read("../ibm/testdata/vnic.json")),
	}
	for k, body := range objects {
		m.Put("samples", k, body)
	}
	out := t.TempDir()
	cp := openCheckpoint(t, filepath.Join(t.TempDir(), "cp.json"))
	p, err := New(DefaultConfig(), Deps{Source: source.NewBucket(client, "samples"), Sinks: []sink.Sink{fileSink(t, out)}, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	st, err := backfill(t, p, source.Range{Since: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || st.Objects != 3 {
		t.Fatalf("%+v, %v", st, err)
	}
	for _, c := range []struct {
		file, contains string
		docs           int
	}{
		{"AWSLogs/123456789012/vpcflowlogs/eu-central-1/2024/05/01/123456789012_vpcflowlogs_eu-central-1_fl-1_20240501T1200Z_ab.log.gz.ndjson", `"cloud":{"instance":{"id":"i-01234567890123456"}`, -1},
		{"ionos/webserver01-1629810635.log.gz.ndjson", `"flowlog":{"version":2`, -1},
		{"ibm_vpc_flowlogs_v1/account=4f2c/region=eu-de/vnic-id=02b7/stream-id=20260302T100000Z/00000000.gz.ndjson", `"direction":"ingress"`, 5},
	} {
		data, err := os.ReadFile(filepath.Join(out, "s3", "samples", filepath.FromSlash(c.file)))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		n := bytes.Count(data, []byte("\n"))
		if n == 0 || (c.docs >= 0 && n != c.docs) || !bytes.Contains(data, []byte(c.contains)) {
			t.Errorf("%s: %d documents, contains %q: %v", c.file, n, c.contains, bytes.Contains(data, []byte(c.contains)))
		}
	}
}

// TestCutDownloadS3Integration kills MinIO while a big object is being
// downloaded: the object fails (a transport error is not the object's
// fault), nothing of it is marked done, and once MinIO is back every record
// arrives, once. (Before the listed size was checked, 518,530 of 600,010
// records of such an object were lost for good.)
func TestCutDownloadS3Integration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	cfg := gen.DefaultConfig()
	// Stored without compression, about 14 MB: more than the kernel's
	// socket buffers hold on loopback (about 8 MB arrive after the server
	// is killed), so the download is still running when MinIO dies.
	cfg.Name, cfg.Objects, cfg.Records = "big", 1, 140_000
	g, err := gen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	zr, _ := gzip.NewReader(bytes.NewReader(g.Object(0)))
	plain, _ := io.ReadAll(zr)
	var stored bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&stored, gzip.NoCompression)
	zw.Write(plain)
	zw.Close()
	m.Put("flows", "logs/"+g.Key(0), stored.Bytes())
	out := t.TempDir()
	cp := openCheckpoint(t, filepath.Join(t.TempDir(), "cp.json"))
	src := source.NewBucket(m.Client(), "flows", "logs")
	pc := DefaultConfig()
	pc.Retries = 1
	gate := make(chan struct{})
	p, err := New(pc, Deps{Source: src, Sinks: []sink.Sink{gateSink{fileSink(t, out), gate}}, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(500*time.Millisecond, func() { m.Kill(); close(gate) })
	st, err := backfill(t, p, source.Range{})
	if err == nil || st.Failed != 1 || st.Damaged != 0 || st.Objects != 0 {
		t.Fatalf("MinIO killed mid-object: %+v, %v; want the object failed, not damaged", st, err)
	}
	if n := countDocs(out); n != 0 {
		t.Errorf("%d records of the cut object are visible", n)
	}
	m.Start()
	p, err = New(pc, Deps{Source: src, Sinks: []sink.Sink{fileSink(t, out)}, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	st, err = backfill(t, p, source.Range{})
	if err != nil || st.Objects != 1 || st.Records != 140_000 {
		t.Fatalf("after MinIO returned: %+v, %v", st, err)
	}
	if ids := readIDs(t, out); len(ids) != 140_000 {
		t.Errorf("%d records delivered, want 140000", len(ids))
	}
}

// gateSink holds every Write until its gate opens.
type gateSink struct {
	sink.Sink
	gate chan struct{}
}

func (s gateSink) Open(ctx context.Context, o *sink.Object) (sink.Writer, error) {
	w, err := s.Sink.Open(ctx, o)
	return gateWriter{w, s.gate}, err
}

type gateWriter struct {
	sink.Writer
	gate chan struct{}
}

func (w gateWriter) Write(ctx context.Context, b *sink.Batch) error {
	<-w.gate
	return w.Writer.Write(ctx, b)
}

// TestOddKeysS3Integration: keys that differ by an extension, or hold an
// encoded slash, spaces or accents, each get their own output inside the
// sink's and the dead letters' folders. (MinIO refuses ".." in keys; AWS
// accepts them: TestHostileKeys covers those with a source of our own.)
func TestOddKeysS3Integration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	body := []byte("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1714521600 1714521601 ACCEPT OK\nnot a record\n")
	keys := []string{"logs/a%2F..%2F..%2Fy-1714521600.log", "logs/k-1714521600.log", "logs/k-1714521600.log.gz", "logs/sp ace ü-1714521600.log"}
	for _, k := range keys {
		if k == "logs/k-1714521600.log.gz" {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(body)
			w.Close()
			m.Put("flows", k, b.Bytes())
			continue
		}
		m.Put("flows", k, body)
	}
	root := t.TempDir()
	out, dl := filepath.Join(root, "out"), filepath.Join(root, "dl")
	letters, _ := deadletter.New(dl)
	cp := openCheckpoint(t, filepath.Join(t.TempDir(), "cp.json"))
	p, err := New(DefaultConfig(), Deps{Source: source.NewBucket(m.Client(), "flows"), Sinks: []sink.Sink{fileSink(t, out)}, Checkpoint: cp, DeadLetter: letters})
	if err != nil {
		t.Fatal(err)
	}
	st, err := backfill(t, p, source.Range{})
	if st.Objects != len(keys) || st.RejectedLines != int64(len(keys)) {
		t.Fatalf("%+v, %v", st, err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 {
		t.Errorf("something was written beside the sink and dead-letter folders: %v", entries)
	}
	if n := len(readIDs(t, out)); n != len(keys) {
		t.Errorf("%d records, want one per object (k.log and k.log.gz apart)", n)
	}
}
