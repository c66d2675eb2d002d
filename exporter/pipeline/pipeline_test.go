package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowlog/flowlog/exporter/checkpoint"
	"github.com/flowlog/flowlog/exporter/deadletter"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/blackhole"
	"github.com/flowlog/flowlog/exporter/sink/file"
	"github.com/flowlog/flowlog/exporter/sink/stdout"
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
	settle(paths...)
	return paths
}

// settle dates files a minute back: the folder source reads them.
func settle(paths ...string) {
	old := time.Now().Add(-time.Minute)
	for _, p := range paths {
		os.Chtimes(p, old, old)
	}
}

func openCheckpoint(t testing.TB, path string) *checkpoint.Store {
	t.Helper()
	cp, err := checkpoint.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	return cp
}

func newPipeline(t testing.TB, in string, sinks []sink.Sink, cp *checkpoint.Store) *Pipeline {
	t.Helper()
	src, err := source.NewFolder(in)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Retries = 1
	p, err := New(cfg, Deps{Source: src, Sinks: sinks, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func backfill(t testing.TB, p *Pipeline, r source.Range) (Stats, error) {
	t.Helper()
	todo, done, err := p.Plan(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return p.Deliver(context.Background(), todo, done, nil)
}

// stdoutSink is the stdout sink writing to w.
func stdoutSink(w io.Writer) sink.Sink {
	s, _ := stdout.New(stdout.Config{}, sink.Deps{Stdout: w})
	return s
}

func fileSink(t testing.TB, dir string) *file.Sink {
	t.Helper()
	s, err := file.New(file.Config{Dir: dir}, sink.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
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
	paths := genObjects(t, in, 3, 2500)
	cp := openCheckpoint(t, state)
	p := newPipeline(t, in, []sink.Sink{fileSink(t, out)}, cp)
	var calls int
	todo, done, _ := p.Plan(context.Background(), source.Range{})
	st, err := p.Deliver(context.Background(), todo, done, func(Stats) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 3 || st.Records != 7500 || st.Failed != 0 || calls != 3 {
		t.Errorf("stats %+v after %d progress calls, want 3 objects, 7500 records", st, calls)
	}
	ids := readIDs(t, out)
	if len(ids) != 7500 {
		t.Errorf("%d distinct ids, want 7500", len(ids))
	}
	for id, n := range ids {
		if n != 1 || len(id) != 22 {
			t.Fatalf("id %q seen %d times", id, n)
		}
	}
	// A second run has nothing to do; a rewritten object is delivered again
	// and replaces its file.
	if todo, done, err := p.Plan(context.Background(), source.Range{}); err != nil || len(todo) != 0 || done != 3 {
		t.Errorf("plan after a full run: %d to do, %d done, %v", len(todo), done, err)
	}
	data, _ := os.ReadFile(paths[1])
	os.WriteFile(paths[1], data, 0o644)
	settle(paths[1])
	st, err = backfill(t, p, source.Range{})
	if err != nil || st.Objects != 1 || st.Skipped != 2 {
		t.Errorf("after a rewrite: %+v, %v; want 1 object, 2 skipped", st, err)
	}
	if ids := readIDs(t, out); len(ids) != 7500 {
		t.Errorf("after a rewrite: %d ids, want 7500 held once", len(ids))
	}
}

// lateSink acknowledges objects from its own goroutine, in reverse order of
// ending, only when told: a sink that buffers across objects.
type lateSink struct {
	sink.Sink
	mu      sync.Mutex
	held    []func()
	opened  atomic.Int64
	failFor string // key of an object it fails
}

func (s *lateSink) Open(ctx context.Context, o *sink.Object) (sink.Writer, error) {
	s.opened.Add(1)
	w, err := s.Sink.Open(ctx, o)
	return &lateWriter{Writer: w, s: s, key: o.Key}, err
}

// release acknowledges what is held, last first, from another goroutine.
func (s *lateSink) release() {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i]()
		}
		close(done)
	}()
	<-done
}

func (s *lateSink) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

type lateWriter struct {
	sink.Writer
	s   *lateSink
	key string
}

func (w *lateWriter) End(ack func(sink.Result)) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	fail := w.key == w.s.failFor
	w.s.held = append(w.s.held, func() {
		if fail {
			w.Writer.Abort()
			ack(sink.Result{Err: errors.New("far end down")})
			return
		}
		w.Writer.End(ack)
	})
}

// TestLateAcknowledgements: objects are marked done only when every sink
// acknowledged them, in whatever order; a failure at one sink makes the
// object fail even though the other delivered it.
func TestLateAcknowledgements(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 4, 300)
	cp := openCheckpoint(t, state)
	late := &lateSink{Sink: fileSink(t, filepath.Join(out, "late"))}
	p := newPipeline(t, in, []sink.Sink{fileSink(t, filepath.Join(out, "now")), late}, cp)
	todo, _, _ := p.Plan(context.Background(), source.Range{})
	late.failFor = todo[2].Key
	type result struct {
		st  Stats
		err error
	}
	res := make(chan result, 1)
	go func() {
		st, err := p.Deliver(context.Background(), todo, 0, nil)
		res <- result{st, err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for late.pending() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if late.pending() != 4 {
		t.Fatalf("%d objects ended at the late sink, want 4", late.pending())
	}
	for _, o := range todo {
		if cp.Done(p.deps.Source.Name(), o.Key, o.ETag) {
			t.Fatalf("%s marked done before the late sink acknowledged", o.Key)
		}
	}
	late.release()
	r := <-res
	if r.err == nil || r.st.Objects != 3 || r.st.Failed != 1 {
		t.Fatalf("%+v, %v: want 3 delivered, 1 failed", r.st, r.err)
	}
	for i, o := range todo {
		if done := cp.Done(p.deps.Source.Name(), o.Key, o.ETag); done != (i != 2) {
			t.Errorf("%s: done %v", o.Key, done)
		}
	}
	// The next run delivers the failed object again, to both sinks; each
	// record is held once by each.
	late.failFor = ""
	go func() {
		st, err := backfill(t, p, source.Range{})
		res <- result{st, err}
	}()
	for late.pending() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	late.release()
	if r := <-res; r.err != nil || r.st.Objects != 1 {
		t.Fatalf("second run: %+v, %v", r.st, r.err)
	}
	for _, dir := range []string{"now", "late"} {
		ids := readIDs(t, filepath.Join(out, dir))
		for id, n := range ids {
			if n != 1 {
				t.Fatalf("%s: %s held %d times", dir, id, n)
			}
		}
		if len(ids) != 1200 {
			t.Errorf("%s: %d records, want 1200", dir, len(ids))
		}
	}
}

// TestInFlightCap: at the cap, workers wait before the next object, so a
// sink that holds its acknowledgements is not handed more than the cap.
func TestInFlightCap(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 10, 500)
	cp := openCheckpoint(t, state)
	late := &lateSink{Sink: fileSink(t, out)}
	p := newPipeline(t, in, []sink.Sink{late}, cp)
	p.cfg.MaxRecordsInFlight = 1200 // room for three objects of 500 at most
	p.flight.init(p.cfg.MaxRecordsInFlight, p.cfg.MaxBytesInFlight)
	todo, _, _ := p.Plan(context.Background(), source.Range{})
	res := make(chan error, 1)
	go func() {
		_, err := p.Deliver(context.Background(), todo, 0, nil)
		res <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for delivered := 0; delivered < 10; {
		time.Sleep(100 * time.Millisecond)
		if _, recs, _ := p.flight.load(); recs > 1200+2*500 {
			t.Fatalf("%d records in flight, cap 1200 (+ an object for each of the 2 workers)", recs)
		}
		if n := late.pending(); n > 0 {
			if opened := late.opened.Load(); opened-int64(delivered) > 4 {
				t.Fatalf("%d objects opened with %d acknowledged: the cap did not hold", opened, delivered)
			}
			delivered += n
			late.release()
		}
		if time.Now().After(deadline) {
			t.Fatal("the backfill did not finish")
		}
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if n := len(readIDs(t, out)); n != 5000 {
		t.Errorf("%d records, want 5000", n)
	}
	if o, r, b := p.flight.load(); o != 0 || r != 0 || b != 0 {
		t.Errorf("in flight after the end: %d objects, %d records, %d bytes", o, r, b)
	}
}

// failingSource fails the reads of its objects' bodies after some bytes, as
// a connection cut mid-object does.
type failingSource struct {
	source.Source
	after int64
	fails atomic.Int64
}

func (f *failingSource) Open(ctx context.Context, o source.Object) (io.ReadCloser, error) {
	rc, err := f.Source.Open(ctx, o)
	if err != nil || f.fails.Load() == 0 {
		return rc, err
	}
	f.fails.Add(-1)
	return source.CheckSize(struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, f.after), rc}, o.Key, o.Size), nil
}

// TestCutDownloadIsRetried: a download cut short is a transport error: the
// object fails and is delivered whole later, never marked done as damaged.
func TestCutDownloadIsRetried(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 1, 20000)
	cp := openCheckpoint(t, state)
	p := newPipeline(t, in, []sink.Sink{fileSink(t, out)}, cp)
	fs := &failingSource{Source: p.deps.Source, after: 50_000}
	fs.fails.Store(1)
	p.deps.Source = fs
	st, err := backfill(t, p, source.Range{})
	if err == nil || st.Failed != 1 || st.Damaged != 0 || st.Objects != 0 {
		t.Fatalf("cut download: %+v, %v; want the object failed, not damaged", st, err)
	}
	if got := testutil.ToFloat64(p.m.damaged); got != 0 {
		t.Errorf("objects_damaged_total %v", got)
	}
	if n := countDocs(out); n != 0 {
		t.Errorf("%d records of the cut object are visible", n)
	}
	st, err = backfill(t, p, source.Range{})
	if err != nil || st.Objects != 1 || st.Records != 20000 {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	if n := len(readIDs(t, out)); n != 20000 {
		t.Errorf("%d records, want 20000", n)
	}
}

// TestRetriesWithinBackfill: an object that fails is tried again, with
// backoff, within the same backfill.
func TestRetriesWithinBackfill(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 2, 100)
	cp := openCheckpoint(t, state)
	p := newPipeline(t, in, []sink.Sink{fileSink(t, out)}, cp)
	p.cfg.Retries = 3
	fs := &failingSource{Source: p.deps.Source, after: 10}
	fs.fails.Store(2)
	p.deps.Source = fs
	st, err := backfill(t, p, source.Range{})
	if err != nil || st.Objects != 2 || st.Failed != 0 {
		t.Fatalf("%+v, %v; want both delivered after retries", st, err)
	}
	if got := testutil.ToFloat64(p.m.failed); got != 2 {
		t.Errorf("objects_failed_total %v, want 2 attempts", got)
	}
}

func TestDamagedObject(t *testing.T) {
	in, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	paths := genObjects(t, in, 1, 1000)
	data, _ := os.ReadFile(paths[0])
	os.WriteFile(paths[0], data[:len(data)/2], 0o644)
	empty := filepath.Join(in, "empty-1767226200.log.gz")
	os.WriteFile(empty, nil, 0o644)
	settle(paths[0], empty)
	var buf bytes.Buffer
	cp := openCheckpoint(t, state)
	p := newPipeline(t, in, []sink.Sink{stdoutSink(&buf)}, cp)
	dl, _ := deadletter.New(t.TempDir())
	p.deps.DeadLetter = dl
	st, err := backfill(t, p, source.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 2 || st.Damaged != 1 || st.Records == 0 || st.Records >= 1000 {
		t.Errorf("stats %+v: want both objects done, one damaged, the records before the cut delivered", st)
	}
	if n := int64(bytes.Count(buf.Bytes(), []byte("\n"))); n != st.Records {
		t.Errorf("%d documents written, %d records counted", n, st.Records)
	}
	if got := testutil.ToFloat64(p.m.damaged); got != 1 {
		t.Errorf("objects_damaged_total %v", got)
	}
	letters := deadLetters(t, dl, p, filepath.Base(paths[0]))
	if len(letters) != 1 || !strings.Contains(letters[0], `"line":0,"reason":"object `) || !strings.Contains(letters[0], "truncated") {
		t.Errorf("dead letters of the damaged object: %v", letters)
	}
}

func TestRange(t *testing.T) {
	in, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 6, 10) // windows ending 00:10 … 01:00 on 2026-01-01
	bh, _ := blackhole.New(blackhole.DefaultConfig(), sink.Deps{})
	p := newPipeline(t, in, []sink.Sink{bh}, openCheckpoint(t, state))
	r := source.Range{Since: time.Date(2026, 1, 1, 0, 20, 0, 0, time.UTC), Until: time.Date(2026, 1, 1, 0, 40, 0, 0, time.UTC)}
	st, err := backfill(t, p, r)
	if err != nil || st.Objects != 3 {
		t.Errorf("range 00:20–00:40: %+v, %v; want the 3 objects ending 00:20, 00:30, 00:40", st, err)
	}
	if docs, _ := bh.Counts(); docs != 30 {
		t.Errorf("blackhole got %d documents, want 30", docs)
	}
}

func TestRunPicksUpNewObjects(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	cp := openCheckpoint(t, state)
	p := newPipeline(t, in, []sink.Sink{fileSink(t, out)}, cp)
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
	if todo, done, _ := p.Plan(context.Background(), source.Range{}); len(todo) != 0 || done != 2 {
		t.Errorf("checkpoint: %d to do, %d done; want 2 done", len(todo), done)
	}
}

// slowSink takes its time over each batch, as a far end under load does,
// but returns when its context ends.
type slowSink struct{ sink.Sink }

func (s slowSink) Open(ctx context.Context, o *sink.Object) (sink.Writer, error) {
	w, err := s.Sink.Open(ctx, o)
	return slowWriter{w}, err
}

type slowWriter struct{ sink.Writer }

func (w slowWriter) Write(ctx context.Context, b *sink.Batch) error {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	return w.Writer.Write(ctx, b)
}

// TestStopIsPrompt: cancelling a backfill in the middle of a big object
// abandons it at once: nothing of it is visible or marked done.
func TestStopIsPrompt(t *testing.T) {
	in, out, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 1, 200_000)
	cp := openCheckpoint(t, state)
	p := newPipeline(t, in, []sink.Sink{slowSink{fileSink(t, out)}}, cp)
	ctx, cancel := context.WithCancel(context.Background())
	todo, _, _ := p.Plan(ctx, source.Range{})
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	st, err := p.Deliver(ctx, todo, 0, nil)
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) || st.Objects != 0 || st.Failed != 1 {
		t.Errorf("%+v, %v", st, err)
	}
	if took > 300*time.Millisecond+time.Second {
		t.Errorf("stopping took %s after the cancel", took-300*time.Millisecond)
	}
	if n := countDocs(out); n != 0 {
		t.Errorf("%d records of the abandoned object are visible", n)
	}
	if todo, _, _ := p.Plan(context.Background(), source.Range{}); len(todo) != 1 {
		t.Error("the abandoned object was marked done")
	}
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
	// Named like a v2 object: the content decides.
	os.WriteFile(filepath.Join(in, "ibm-1767226200.log"), data, 0o644)
	settle(key, filepath.Join(in, "ibm-1767226200.log"))
	var out bytes.Buffer
	p := newPipeline(t, in, []sink.Sink{stdoutSink(&out)}, openCheckpoint(t, state))
	st, err := backfill(t, p, source.Range{})
	if err != nil || st.Objects != 2 || st.Records != 10 || st.RejectedLines != 2 {
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

func deadLetters(t *testing.T, d *deadletter.Dir, p *Pipeline, key string) []string {
	t.Helper()
	o := &sink.Object{Source: p.deps.Source.Name(), Bucket: p.deps.Source.Name(), Key: key}
	letters, err := os.ReadFile(d.Path(o))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(letters)), "\n")
}

func TestDeadLetters(t *testing.T) {
	in, dl, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	obj := filepath.Join(in, "web-1-1767226200.log")
	os.WriteFile(obj, []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"+
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1767225600 1767225601 ACCEPT OK\n"+
		"2 1 eni-1 300.0.0.1 10.0.0.2 1 2 6 1 40 1767225600 1767225601 ACCEPT OK\n"+
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 70000 6 1 40 1767225600 1767225601 ACCEPT OK\n"), 0o644)
	settle(obj)
	d, err := deadletter.New(dl)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p := newPipeline(t, in, []sink.Sink{stdoutSink(&out)}, openCheckpoint(t, state))
	p.deps.DeadLetter = d
	st, err := backfill(t, p, source.Range{})
	if err != nil || st.Records != 1 || st.RejectedLines != 2 {
		t.Fatalf("%+v, %v", st, err)
	}
	lines := deadLetters(t, d, p, "web-1-1767226200.log")
	if len(lines) != 2 || !strings.Contains(lines[0], `"line":3,"reason":"field srcaddr: not an IPv4 or IPv6 address: \"300.0.0.1\""`) ||
		!strings.Contains(lines[1], `"line":4`) || !strings.Contains(lines[1], "dstport") {
		t.Errorf("dead letters:\n%s", strings.Join(lines, "\n"))
	}
}

// pickySink refuses records to TCP port 22 for good, as a far end with a
// mapping conflict would, and delivers the rest.
type pickySink struct{ sink.Sink }

func (p pickySink) Open(ctx context.Context, o *sink.Object) (sink.Writer, error) {
	w, err := p.Sink.Open(ctx, o)
	return &pickyWriter{Writer: w}, err
}

type pickyWriter struct {
	sink.Writer
	rejects []sink.Reject
}

func (w *pickyWriter) Write(ctx context.Context, b *sink.Batch) error {
	for i := range b.Records {
		if r := &b.Records[i]; r.DstPort == 22 {
			w.rejects = append(w.rejects, sink.Reject{Line: r.Line, Reason: "mapper_parsing_exception: port 22 is not welcome", Doc: bytes.Clone(b.Doc(i))})
		}
	}
	return w.Writer.Write(ctx, b)
}

func (w *pickyWriter) End(ack func(sink.Result)) {
	w.Writer.End(func(r sink.Result) {
		r.Rejects = w.rejects
		ack(r)
	})
}

func TestSinkRejectsGoToDeadLetters(t *testing.T) {
	in, dl, state := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	obj := filepath.Join(in, "web-1-1767226200.log")
	os.WriteFile(obj, []byte("2 1 eni-1 10.0.0.1 10.0.0.2 1000 443 6 1 40 1767225600 1767225601 ACCEPT OK\n"+
		"2 1 eni-1 10.0.0.1 10.0.0.2 1000 22 6 1 40 1767225600 1767225601 ACCEPT OK\n"+
		"2 1 eni-1 10.0.0.1 10.0.0.2 1000 80 6 1 40 1767225600 1767225601 ACCEPT OK\n"), 0o644)
	settle(obj)
	d, _ := deadletter.New(dl)
	var out bytes.Buffer
	p := newPipeline(t, in, []sink.Sink{pickySink{stdoutSink(&out)}}, openCheckpoint(t, state))
	p.deps.DeadLetter = d
	st, err := backfill(t, p, source.Range{})
	if err != nil || st.Objects != 1 || st.SinkRejected != 1 {
		t.Fatalf("%+v, %v: want the object done despite the rejected record", st, err)
	}
	lines := deadLetters(t, d, p, "web-1-1767226200.log")
	if len(lines) != 1 || !strings.Contains(lines[0], `"line":2,"sink":"stdout","reason":"mapper_parsing_exception: port 22 is not welcome","document":{"@timestamp"`) {
		t.Errorf("dead letters: %s", lines)
	}
	if got := testutil.ToFloat64(p.m.sinkRejected[0]); got != 1 {
		t.Errorf("records_sink_rejected_total = %v, want 1", got)
	}
}

// memSource is a source of objects held in memory, with any keys.
type memSource map[string][]byte

func (m memSource) Name() string { return "s3://mem" }

func (m memSource) List(context.Context, source.Range) (source.Listing, error) {
	var l source.Listing
	for k, v := range m {
		l.Objects = append(l.Objects, source.Object{Bucket: "mem", Key: k, ETag: `"1"`, Size: int64(len(v)), Modified: time.Now()})
	}
	return l, nil
}

func (m memSource) Open(_ context.Context, o source.Object) (io.ReadCloser, error) {
	return source.CheckSize(io.NopCloser(bytes.NewReader(m[o.Key])), o.Key, o.Size), nil
}

// TestHostileKeys: keys that climb out of their folder (AWS S3 accepts
// them) are delivered inside the sink's and the dead letters' folders.
func TestHostileKeys(t *testing.T) {
	body := []byte("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1714521600 1714521601 ACCEPT OK\nnot a record\n")
	src := memSource{}
	for _, k := range []string{"logs/../../../../x/pwned-1714521600.log.gz", "../../../etc/cron.d/x.log", "/abs/y.log", "..", ".", "a/./../../b.log"} {
		src[k] = body
	}
	// Deep inside a folder of its own, so that a climb of a few levels
	// lands where the test looks.
	top := t.TempDir()
	root := filepath.Join(top, "a", "b", "c")
	out, dl := filepath.Join(root, "out"), filepath.Join(root, "dl")
	letters, _ := deadletter.New(dl)
	p, err := New(DefaultConfig(), Deps{Source: src, Sinks: []sink.Sink{fileSink(t, out)}, Checkpoint: openCheckpoint(t, filepath.Join(t.TempDir(), "cp.json")), DeadLetter: letters})
	if err != nil {
		t.Fatal(err)
	}
	st, err := backfill(t, p, source.Range{})
	if err != nil || st.Objects != len(src) || st.RejectedLines != int64(len(src)) {
		t.Fatalf("%+v, %v", st, err)
	}
	var files []string
	filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	for _, f := range files {
		if rel, _ := filepath.Rel(root, f); !filepath.IsLocal(rel) || !(strings.HasPrefix(rel, "out/") || strings.HasPrefix(rel, "dl/")) {
			t.Errorf("written outside the folders: %s", f)
		}
	}
	if len(files) != 2*len(src) {
		t.Errorf("%d files, want an output and a dead-letter file for each of %d objects", len(files), len(src))
	}
}

// TestRunSaysWhyNothing: when a listing finds objects but none to deliver,
// export says why, once.
func TestRunSaysWhyNothing(t *testing.T) {
	in, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 3, 10) // dated 2026-01-01: older than a look-back of an hour
	young := filepath.Join(in, "young-1767226200.log")
	os.WriteFile(young, []byte("x\n"), 0o644) // changed just now: settling
	var logs syncBuffer
	src, _ := source.NewFolder(in)
	cfg := DefaultConfig()
	cfg.PollInterval, cfg.LookBack = 30*time.Millisecond, time.Hour
	p, err := New(cfg, Deps{Source: src, Sinks: []sink.Sink{stdoutSink(io.Discard)}, Checkpoint: openCheckpoint(t, state),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	p.Run(ctx)
	out := logs.String()
	want := "no new objects to deliver: 3 older than the look-back of 1h0m0s (--lookback), 1 changed in the last seconds, still settling"
	if strings.Count(out, want) != 1 {
		t.Errorf("logs:\n%s\nwant once: %s", out, want)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBackfillSavesAsItGoes: a backfill writes its checkpoint while it
// runs, so that a crash redoes at most SaveEvery of work.
func TestBackfillSavesAsItGoes(t *testing.T) {
	in, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	genObjects(t, in, 4, 100)
	late := &lateSink{Sink: stdoutSink(io.Discard)}
	p := newPipeline(t, in, []sink.Sink{late}, openCheckpoint(t, state))
	p.cfg.SaveEvery = 0
	todo, _, _ := p.Plan(context.Background(), source.Range{})
	res := make(chan error, 1)
	go func() {
		_, err := p.Deliver(context.Background(), todo, 0, nil)
		res <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for late.pending() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	late.mu.Lock()
	first := late.held[0]
	late.held = late.held[1:]
	late.mu.Unlock()
	first()
	data, err := os.ReadFile(state)
	saved := 0
	for _, o := range todo {
		if bytes.Contains(data, []byte(o.Key)) {
			saved++
		}
	}
	if err != nil || saved != 1 {
		t.Errorf("checkpoint while the backfill runs holds %d objects, want the 1 acknowledged: %v %s", saved, err, data)
	}
	late.release()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
}

// TestDecompressionBomb: an object that inflates past max_object_bytes is
// cut there: the records before the limit are delivered, the object is done
// as damaged, and reading stops (it does not inflate the rest).
func TestDecompressionBomb(t *testing.T) {
	in, state := t.TempDir(), filepath.Join(t.TempDir(), "state.json")
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	line := []byte("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1767225600 1767225601 ACCEPT OK\n")
	for range 200_000 { // 14 MB inflated
		zw.Write(line)
	}
	zw.Close()
	obj := filepath.Join(in, "bomb-1767226200.log.gz")
	os.WriteFile(obj, b.Bytes(), 0o644)
	settle(obj)
	var out bytes.Buffer
	p := newPipeline(t, in, []sink.Sink{stdoutSink(&out)}, openCheckpoint(t, state))
	p.cfg.Parser.MaxBytes = 1 << 20
	st, err := backfill(t, p, source.Range{})
	want := int64(1<<20) / int64(len(line))
	if err != nil || st.Damaged != 1 || st.Records != want {
		t.Errorf("%+v, %v; want one damaged object and the %d whole records of the first MiB", st, err, want)
	}
	if n := int64(bytes.Count(out.Bytes(), []byte("\n"))); n != want {
		t.Errorf("%d documents", n)
	}
}
