package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowlog/flowlog/exporter/checkpoint"
	"github.com/flowlog/flowlog/exporter/deadletter"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/source"
	"github.com/flowlog/flowlog/internal/gen"
)

func genObjects(t testing.TB, dir string, objects, records int) []string {
	t.Helper()
	cfg := gen.DefaultConfig()
	cfg.Objects, cfg.Records, cfg.Name = objects, records, "web-1"
	paths, err := gen.WriteDir(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute) // settled
	for _, p := range paths {
		os.Chtimes(p, old, old)
	}
	return paths
}

func newPipeline(t testing.TB, in string, sinks []sink.Sink, state string) *Pipeline {
	t.Helper()
	cp, err := checkpoint.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Retries = 1
	p, err := New(cfg, Deps{Source: source.NewFolder(in), Sinks: sinks, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// readIDs returns the event.id of every document in the NDJSON files under dir.
func readIDs(t testing.TB, dir string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		if strings.HasPrefix(fi.Name(), ".") {
			t.Errorf("temporary file left: %s", path)
			return nil
		}
		f, _ := os.Open(path)
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var doc struct {
				Event struct{ ID string } `json:"event"`
			}
			if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			ids[doc.Event.ID]++
		}
		return nil
	})
	return ids
}

// countDocs counts the lines of the finished output files under dir.
func countDocs(dir string) int {
	n := 0
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasPrefix(fi.Name(), ".") {
			b, _ := os.ReadFile(path)
			n += bytes.Count(b, []byte("\n"))
		}
		return nil
	})
	return n
}

func TestBackfillFolderToFiles(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	paths := genObjects(t, in, 3, 500)
	files, _ := sink.NewFiles(out)
	p := newPipeline(t, in, []sink.Sink{files}, state)
	var calls int
	st, err := p.Backfill(context.Background(), source.Range{}, func(Stats) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 3 || st.Records != 1500 || st.Failed != 0 || calls != 3 {
		t.Errorf("stats %+v after %d progress calls, want 3 objects, 1500 records", st, calls)
	}
	ids := readIDs(t, out)
	if len(ids) != 1500 {
		t.Errorf("%d distinct ids, want 1500", len(ids))
	}
	for id, n := range ids {
		if n != 1 || len(id) != 22 {
			t.Fatalf("id %q seen %d times", id, n)
		}
	}
	// A second run has nothing to do; a rewritten object is delivered again
	// and replaces its file.
	p = newPipeline(t, in, []sink.Sink{files}, state)
	if todo, done, err := p.Plan(context.Background(), source.Range{}); err != nil || len(todo) != 0 || done != 3 {
		t.Errorf("plan after a full run: %d to do, %d done, %v", len(todo), done, err)
	}
	later := time.Now().Add(-30 * time.Second)
	os.Chtimes(paths[1], later, later)
	st, err = p.Backfill(context.Background(), source.Range{}, nil)
	if err != nil || st.Objects != 1 || st.Skipped != 2 {
		t.Errorf("after a rewrite: %+v, %v; want 1 object, 2 skipped", st, err)
	}
	if ids := readIDs(t, out); len(ids) != 1500 {
		t.Errorf("after a rewrite: %d ids, want 1500 held once", len(ids))
	}
}

// failingSink fails its Commit n times.
type failingSink struct {
	sink.Sink
	fails int
}

func (f *failingSink) Open(ctx context.Context, o sink.Object) (sink.Writer, error) {
	w, err := f.Sink.Open(ctx, o)
	return &failingWriter{Writer: w, s: f}, err
}

type failingWriter struct {
	sink.Writer
	s *failingSink
}

func (w *failingWriter) Commit(ctx context.Context) error {
	if w.s.fails > 0 {
		w.s.fails--
		return errors.New("sink down")
	}
	return w.Writer.Commit(ctx)
}

func TestSinkFailureLosesNothing(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 2, 100)
	files, _ := sink.NewFiles(out)
	bad := &failingSink{Sink: files, fails: 1}
	p := newPipeline(t, in, []sink.Sink{bad}, state)
	p.cfg.Workers = 1
	st, err := p.Backfill(context.Background(), source.Range{}, nil)
	if err == nil || st.Failed != 1 || st.Objects != 1 {
		t.Fatalf("first run: %+v, %v; want one object failed", st, err)
	}
	if ids := readIDs(t, out); len(ids) != 100 {
		t.Fatalf("after the failure: %d records out, want the 100 of the committed object", len(ids))
	}
	p = newPipeline(t, in, []sink.Sink{bad}, state)
	if st, err := p.Backfill(context.Background(), source.Range{}, nil); err != nil || st.Objects != 1 {
		t.Fatalf("second run: %+v, %v", st, err)
	}
	if ids := readIDs(t, out); len(ids) != 200 {
		t.Errorf("%d records out, want 200", len(ids))
	}
}

func TestDamagedObject(t *testing.T) {
	in, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	paths := genObjects(t, in, 1, 1000)
	data, _ := os.ReadFile(paths[0])
	os.WriteFile(paths[0], data[:len(data)/2], 0o644)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(paths[0], old, old)
	os.WriteFile(filepath.Join(in, "empty-1767226200.log.gz"), nil, 0o644)
	os.Chtimes(filepath.Join(in, "empty-1767226200.log.gz"), old, old)
	var buf bytes.Buffer
	p := newPipeline(t, in, []sink.Sink{sink.NewStdout(&buf)}, state)
	st, err := p.Backfill(context.Background(), source.Range{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 2 || st.Records == 0 || st.Records >= 1000 {
		t.Errorf("stats %+v: want both objects done, the records before the cut delivered", st)
	}
	if n := int64(bytes.Count(buf.Bytes(), []byte("\n"))); n != st.Records {
		t.Errorf("%d documents written, %d records counted", n, st.Records)
	}
}

func TestRange(t *testing.T) {
	in, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 6, 10) // windows ending 00:10 … 01:00 on 2026-01-01
	bh := &sink.Blackhole{}
	p := newPipeline(t, in, []sink.Sink{bh}, state)
	r := source.Range{Since: time.Date(2026, 1, 1, 0, 20, 0, 0, time.UTC), Until: time.Date(2026, 1, 1, 0, 40, 0, 0, time.UTC)}
	st, err := p.Backfill(context.Background(), r, nil)
	if err != nil || st.Objects != 3 {
		t.Errorf("range 00:20–00:40: %+v, %v; want the 3 objects ending 00:20, 00:30, 00:40", st, err)
	}
	if docs, _ := bh.Counts(); docs != 30 {
		t.Errorf("blackhole got %d documents, want 30", docs)
	}
}

func TestRunPicksUpNewObjects(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	files, _ := sink.NewFiles(out)
	p := newPipeline(t, in, []sink.Sink{files}, state)
	p.cfg.PollInterval = 50 * time.Millisecond
	p.cfg.LookBack = 100 * 365 * 24 * time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	genObjects(t, in, 2, 50)
	deadline := time.Now().Add(10 * time.Second)
	for countDocs(out) < 100 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(readIDs(t, out)); n != 100 {
		t.Errorf("%d records delivered, want 100", n)
	}
	cp, _ := checkpoint.Open(state)
	if cp.Count(in) != 2 {
		t.Errorf("checkpoint holds %d objects, want 2", cp.Count(in))
	}
}

func statSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func TestIBMObjects(t *testing.T) {
	in, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	data, err := os.ReadFile(filepath.Join("..", "ibm", "testdata", "vnic.json"))
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(in, "ibm_vpc_flowlogs_v1", "account=4f2c", "region=eu-de", "vnic-id=02b7", "stream-id=20260302T100000Z", "00000000.gz")
	os.MkdirAll(filepath.Dir(key), 0o755)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	os.WriteFile(key, gz.Bytes(), 0o644)
	os.WriteFile(filepath.Join(in, "plain.json"), data, 0o644)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(key, old, old)
	os.Chtimes(filepath.Join(in, "plain.json"), old, old)
	var out bytes.Buffer
	p := newPipeline(t, in, []sink.Sink{sink.NewStdout(&out)}, state)
	st, err := p.Backfill(context.Background(), source.Range{}, nil)
	if err != nil || st.Objects != 2 || st.Records != 10 || st.Rejected != 2 {
		t.Fatalf("%+v, %v; want 2 objects, 10 records, 2 rejected flow logs", st, err)
	}
	var doc struct {
		Network struct{ Direction string } `json:"network"`
		Source  struct {
			IP    string
			Bytes int
		} `json:"source"`
		Event struct{ Action string } `json:"event"`
	}
	first := out.Bytes()[:bytes.IndexByte(out.Bytes(), '\n')]
	if err := json.Unmarshal(first, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Network.Direction != "ingress" || doc.Source.IP != "203.0.113.50" || doc.Source.Bytes != 4810 || doc.Event.Action != "accept" {
		t.Errorf("first document: %+v\n%s", doc, first)
	}
}

func TestDeadLetters(t *testing.T) {
	in, dl, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	obj := filepath.Join(in, "web-1-1767226200.log")
	os.WriteFile(obj, []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"+
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1767225600 1767225601 ACCEPT OK\n"+
		"2 1 eni-1 300.0.0.1 10.0.0.2 1 2 6 1 40 1767225600 1767225601 ACCEPT OK\n"+
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 70000 6 1 40 1767225600 1767225601 ACCEPT OK\n"), 0o644)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(obj, old, old)
	d, err := deadletter.New(dl)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p := newPipeline(t, in, []sink.Sink{sink.NewStdout(&out)}, state)
	p.deps.DeadLetter = d
	st, err := p.Backfill(context.Background(), source.Range{}, nil)
	if err != nil || st.Records != 1 || st.Rejected != 2 {
		t.Fatalf("%+v, %v", st, err)
	}
	letters, err := os.ReadFile(d.Path("", "web-1-1767226200.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(letters)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"line":3,"reason":"object web-1-1767226200.log line 3: field srcaddr`) ||
		!strings.Contains(lines[1], `"line":4`) || !strings.Contains(lines[1], "dstport") {
		t.Errorf("dead letters:\n%s", letters)
	}
}

// pickySink refuses documents of TCP port 22 for good.
type pickySink struct{ sink.Sink }

func (p pickySink) Open(ctx context.Context, o sink.Object) (sink.Writer, error) {
	w, err := p.Sink.Open(ctx, o)
	return pickyWriter{w}, err
}

type pickyWriter struct{ sink.Writer }

func (w pickyWriter) Write(ctx context.Context, b *sink.Batch) error {
	var keep sink.Batch
	var re sink.RejectError
	for i := range b.Len() {
		doc := b.Doc(i)
		if bytes.Contains(doc, []byte(`"destination":{"ip":"10.0.0.2","address":"10.0.0.2","port":22}`)) {
			re.Rejects = append(re.Rejects, sink.Reject{Doc: i, Reason: "mapper_parsing_exception: port 22 is not welcome"})
			continue
		}
		keep.Docs = append(keep.Docs, doc...)
		keep.Ends = append(keep.Ends, len(keep.Docs))
	}
	if err := w.Writer.Write(ctx, &keep); err != nil {
		return err
	}
	if len(re.Rejects) > 0 {
		return &re
	}
	return nil
}

func TestSinkRejectsGoToDeadLetters(t *testing.T) {
	in, dl, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	obj := filepath.Join(in, "web-1-1767226200.log")
	os.WriteFile(obj, []byte("2 1 eni-1 10.0.0.1 10.0.0.2 1000 443 6 1 40 1767225600 1767225601 ACCEPT OK\n"+
		"2 1 eni-1 10.0.0.1 10.0.0.2 1000 22 6 1 40 1767225600 1767225601 ACCEPT OK\n"+
		"2 1 eni-1 10.0.0.1 10.0.0.2 1000 80 6 1 40 1767225600 1767225601 ACCEPT OK\n"), 0o644)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(obj, old, old)
	d, _ := deadletter.New(dl)
	var out bytes.Buffer
	p := newPipeline(t, in, []sink.Sink{pickySink{sink.NewStdout(&out)}}, state)
	p.deps.DeadLetter = d
	st, err := p.Backfill(context.Background(), source.Range{}, nil)
	if err != nil || st.Objects != 1 {
		t.Fatalf("%+v, %v: want the object done despite the rejected record", st, err)
	}
	if n := bytes.Count(out.Bytes(), []byte("\n")); n != 2 {
		t.Errorf("%d documents delivered, want 2", n)
	}
	letters, _ := os.ReadFile(d.Path("", "web-1-1767226200.log"))
	if !bytes.Contains(letters, []byte(`"line":2,"reason":"sink stdout: mapper_parsing_exception: port 22 is not welcome"`)) {
		t.Errorf("dead letters: %s", letters)
	}
	if got := testutil.ToFloat64(p.m.sinkRejected[0]); got != 1 {
		t.Errorf("records_sink_rejected_total = %v, want 1", got)
	}
}
