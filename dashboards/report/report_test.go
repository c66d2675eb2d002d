package report

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
	"github.com/flowlog/flowlog/parser"
)

func flow(src, dst string, port uint16, bytes uint64, rejected bool) *Flow {
	return &Flow{Start: 1767225600, End: 1767225660, Iface: "eni-1", Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		DstPort: port, Proto: 6, Packets: 1, Bytes: bytes, Rejected: rejected, Status: "OK"}
}

func TestSummary(t *testing.T) {
	s := New(Options{})
	s.Add(flow("10.0.0.1", "10.0.0.2", 443, 5000, false))
	s.Add(flow("10.0.0.1", "10.0.0.3", 443, 3000, false))
	s.Add(flow("10.0.0.9", "10.0.0.2", 22, 100, false))
	for p := uint16(1); p <= 12; p++ { // a port scan, 11 of 12 rejected
		s.Add(flow("198.51.100.7", "10.0.0.2", p, 60, p != 2))
	}
	s.Add(&Flow{Start: 1767225600, End: 1767226199, Iface: "eni-1", Status: "SKIPDATA"})
	s.Add(&Flow{Start: 1767225600, End: 1767226199, Iface: "eni-2", Status: "NODATA"})
	s.Add(&Flow{Start: 1767226200, End: 1767226799, Iface: "eni-2", Status: "NODATA"})

	if s.Records != 18 || s.OK.Flows != 15 || s.Rejected.Flows != 11 || s.OK.Bytes != 8100+12*60 {
		t.Errorf("totals: %d records, %+v OK, %+v rejected", s.Records, s.OK, s.Rejected)
	}
	top := s.sources.top(2, func(a, b netip.Addr) int { return a.Compare(b) })
	if len(top) != 2 || top[0].Key.String() != "10.0.0.1" || top[0].Bytes != 8000 || top[1].Key.String() != "198.51.100.7" {
		t.Errorf("top sources %+v", top)
	}
	scans := s.scanRows()
	if len(scans) != 1 || scans[0].Source != "198.51.100.7" || scans[0].Ports != 12 || scans[0].RejectedFlows != 11 {
		t.Errorf("scans %+v", scans)
	}
	q := s.qualityRows()
	if len(q) != 2 || q[0].Interface != "eni-1" || q[0].SkipWindows != 1 || q[1].NoWindows != 2 || len(q[0].Skipped) != 1 {
		t.Errorf("quality %+v", q)
	}

	// Past MaxKeys the smallest keys go, the largest stay, and the page says so.
	s = New(Options{MaxKeys: 100})
	s.Add(flow("10.9.9.9", "10.0.0.1", 443, 1<<30, false))
	for i := range 1000 {
		s.Add(flow(fmt.Sprintf("10.1.%d.%d", i/256, i%256), "10.0.0.1", 443, 10, false))
	}
	if len(s.sources.m) > 100 || !s.sources.approx || s.sources.top(1, func(a, b netip.Addr) int { return a.Compare(b) })[0].Key.String() != "10.9.9.9" {
		t.Errorf("bounded counter: %d keys, approx %v", len(s.sources.m), s.sources.approx)
	}
	var b bytes.Buffer
	if err := s.WriteHTML(&b, "t", nil, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "The top sources list is approximate") {
		t.Error("the page does not say the top sources are approximate")
	}
}

// generated writes a folder of generated objects and the same records as
// the exporter's NDJSON output, with countries from small GeoIP databases.
func generated(t *testing.T) (objects, ndjson string, e enrich.Config) {
	t.Helper()
	dir := t.TempDir()
	objects, ndjson = filepath.Join(dir, "bucket"), filepath.Join(dir, "out")
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 3, 3000
	if _, err := gen.WriteDir(objects, gc); err != nil {
		t.Fatal(err)
	}
	e = sinktest.FullEnrichment(t)
	enc, err := ecs.New(ecs.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(ndjson, 0o755)
	for i, o := range sinktest.Objects(t, e, gc, 1000) {
		var doc []byte
		for _, b := range o.Batches {
			for j := range b.Records {
				r := &b.Records[j]
				doc = enc.AppendECS(doc, &r.Record, r.ID[:], &r.Enrich)
				doc = append(doc, '\n')
			}
		}
		if err := os.WriteFile(filepath.Join(ndjson, fmt.Sprintf("obj-%d.ndjson", i)), doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return objects, ndjson, e
}

// TestObjectsAndNDJSON: the objects and the documents the exporter makes
// of them give the same page.
func TestObjectsAndNDJSON(t *testing.T) {
	objects, ndjson, e := generated(t)
	en, err := enrich.New(enrich.Config{GeoIP: e.GeoIP})
	if err != nil {
		t.Fatal(err)
	}
	defer en.Close()
	a := &Reader{S: New(Options{}), Fill: en.NewFiller()}
	b := &Reader{S: New(Options{})}
	if err := a.Read(objects); err != nil {
		t.Fatal(err)
	}
	if err := b.Read(ndjson); err != nil {
		t.Fatal(err)
	}
	if a.Files != 3 || b.Files != 3 || a.Rejected+b.Rejected != 0 || len(a.Errors)+len(b.Errors) != 0 {
		t.Fatalf("read %d and %d files, %v %v", a.Files, b.Files, a.Errors, b.Errors)
	}
	var pa, pb bytes.Buffer
	now := time.Now()
	a.S.WriteHTML(&pa, "t", nil, nil, now)
	b.S.WriteHTML(&pb, "t", nil, nil, now)
	if a.S.Records != 9000 || len(a.S.countries.m) < 3 || pa.String() != pb.String() {
		t.Errorf("objects: %d records, %d countries; the pages differ: %v", a.S.Records, len(a.S.countries.m), pa.String() != pb.String())
	}
}

// TestHostileDocuments: lines that are not documents are counted and
// named (file, line, field); the rest is read.
func TestHostileDocuments(t *testing.T) {
	dir := t.TempDir()
	good := `{"@timestamp":"2026-01-01T00:01:00Z","event":{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z","action":"reject"},"source":{"ip":"192.0.2.1","port":1},"destination":{"ip":"192.0.2.2","port":23},"network":{"bytes":60,"packets":1,"iana_number":"6"},"flowlog":{"interface_id":"eni-1","log_status":"OK"}}`
	lines := []string{
		good,
		`not json`,
		strings.Replace(good, `"192.0.2.1"`, `"999.1.1.1"`, 1),
		strings.Replace(good, `"reject"`, `"<script>alert(1)</script>"`, 1),
		strings.Replace(good, `"OK"`, `"MAYBE"`, 1),
		strings.Replace(good, `"eni-1"`, `"<img src=x onerror=alert(1)>"`, 1),
		good,
	}
	os.WriteFile(filepath.Join(dir, "x.ndjson"), []byte(strings.Join(lines, "\n")+"\n"+strings.Repeat("a", 2<<20)+"\n"+good+"\n"), 0o644)
	r := &Reader{S: New(Options{})}
	if err := r.Read(dir); err != nil {
		t.Fatal(err)
	}
	want := []string{"x.ndjson:2: not an ECS document", "x.ndjson:3: source.ip", "x.ndjson:4: event.action", "x.ndjson:5: log_status", "x.ndjson:8: longer than 1048576 bytes"}
	all := strings.Join(r.Errors, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no %q in:\n%s", w, all)
		}
	}
	if r.Rejected != 5 || r.S.Records != 4 || r.S.Rejected.Flows != 4 {
		t.Errorf("%d rejected, %d records, %d rejected flows; want 5, 4, 4", r.Rejected, r.S.Records, r.S.Rejected.Flows)
	}
	var b bytes.Buffer
	r.S.WriteHTML(&b, "<b>title</b>", nil, r.Errors, time.Now())
	if strings.Contains(b.String(), "<img src=x") || strings.Contains(b.String(), "<b>title") || strings.Contains(b.String(), "<script>alert") {
		t.Error("hostile text reached the page unescaped")
	}
}

// chromium renders a page headless; it returns the DOM after load and the
// console messages Chromium logged.
func chromium(t *testing.T, page, screenshot string) (dom string, console []string) {
	t.Helper()
	bin, _ := exec.LookPath("chromium")
	testserver.Require(t, "chromium (Debian package chromium)", bin)
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--enable-logging=stderr", "--v=0", "--user-data-dir=" + t.TempDir()}
	run := func(extra ...string) ([]byte, []byte) {
		cmd := exec.Command(bin, append(append(args, extra...), "file://"+page)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("chromium: %v\n%s", err, stderr.String())
			}
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatal("chromium did not finish in 90 s")
		}
		return stdout.Bytes(), stderr.Bytes()
	}
	out, errOut := run("--dump-dom")
	_, shotErr := run("--hide-scrollbars", "--window-size=1400,3400", "--screenshot="+screenshot)
	for _, l := range strings.Split(string(errOut)+string(shotErr), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			console = append(console, l)
		}
	}
	return string(out), console
}

// TestChromiumIntegration renders a report in headless Chromium: no
// console errors (the page's policy forbids loading anything; a page that
// tries is caught), and the figures computed independently are in the DOM.
func TestChromiumIntegration(t *testing.T) {
	objects, _, _ := generated(t)
	r := &Reader{S: New(Options{})}
	if err := r.Read(objects); err != nil {
		t.Fatal(err)
	}
	// The figures, counted directly from the records.
	var records, flows, rejected, port23 uint64
	bySrc := map[string]uint64{}
	for _, p := range mustGlob(t, objects+"/*.log.gz") {
		data, _ := os.ReadFile(p)
		for _, rec := range readRecords(t, data) {
			records++
			if rec.status != "OK" {
				continue
			}
			flows++
			bySrc[rec.src] += rec.bytes
			if rec.rejected {
				rejected++
				if rec.port == 23 {
					port23++
				}
			}
		}
	}
	var topSrc string
	for src, b := range bySrc {
		if b > bySrc[topSrc] {
			topSrc = src
		}
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, _ := os.Create(page)
	if err := r.S.WriteHTML(f, "Test report", []string{objects}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dom, console := chromium(t, page, filepath.Join(dir, "report.png"))
	if len(console) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(console, "\n"))
	}
	for what, re := range map[string]string{
		"records":          `id="records">` + num(records) + `<`,
		"flows":            `id="flows">` + num(flows) + `<`,
		"rejected":         `id="rejected">` + num(rejected) + `<`,
		"top source":       `(?s)id="top-sources".*?<td class="addr">` + regexp.QuoteMeta(topSrc) + `<`,
		"port 23 rejected": `(?s)id="rejected-ports".*?<td>23</td><td>tcp</td><td class="n">` + num(port23) + `<`,
		"two charts":       `(?s)<svg.*</svg>.*<svg.*</svg>`,
	} {
		if !regexp.MustCompile(re).MatchString(dom) {
			t.Errorf("%s: %s not in the DOM", what, re)
		}
	}
	if info, err := os.Stat(filepath.Join(dir, "report.png")); err != nil || info.Size() < 20000 {
		t.Errorf("screenshot: %v", err)
	}

	// The console check itself: a page loading an image is caught.
	b, _ := os.ReadFile(page)
	bad := filepath.Join(dir, "bad.html")
	os.WriteFile(bad, bytes.Replace(b, []byte("</main>"), []byte(`<img src="http://127.0.0.1:9/x.png"></main>`), 1), 0o644)
	if _, console := chromium(t, bad, filepath.Join(dir, "bad.png")); len(console) == 0 {
		t.Error("a page loading an external image logged nothing: the console check cannot fail")
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("%s: %v", pattern, err)
	}
	return m
}

type rec struct {
	status, src string
	bytes       uint64
	rejected    bool
	port        uint16
}

// readRecords parses an object with the parser alone, for figures
// computed without the report's reader.
func readRecords(t *testing.T, data []byte) []rec {
	t.Helper()
	r := parser.NewReader(bytes.NewReader(data), "x", parser.Options{})
	var out []rec
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec{status: p.LogStatus.String(), src: p.SrcAddr.Unmap().String(), bytes: p.Bytes,
			rejected: p.Action == parser.ActionReject, port: p.DstPort})
	}
}

// TestGzipBomb: a compressed NDJSON file is read up to the limit, and the
// page says where it stopped.
func TestGzipBomb(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"flowlog":{"log_status":"NODATA","interface_id":"eni-1"}}` + "\n"))
	zw.Write(bytes.Repeat([]byte("\n"), 50<<20))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "bomb.ndjson.gz"), b.Bytes(), 0o644)
	r := &Reader{S: New(Options{}), Limits: parser.Options{MaxBytes: 1 << 20, MaxLineBytes: 1 << 16}}
	if err := r.Read(dir); err != nil {
		t.Fatal(err)
	}
	if r.S.Records != 1 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "bomb.ndjson.gz: stopped after 1048576 decompressed bytes") {
		t.Errorf("%d records, %v", r.S.Records, r.Errors)
	}
}
