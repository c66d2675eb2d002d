package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/enrich"
	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
)

// httpRecorder serves h and shows each request, its body uncompressed,
// to see before h answers it. It returns the server's URL.
func httpRecorder(t *testing.T, h http.Handler, see func(*http.Request, []byte)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		b := raw
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err == nil {
				b, _ = io.ReadAll(zr)
			}
		}
		see(r, b)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// layoutDocs encodes the records of the parser's test objects (AWS
// versions 2 to 5, a custom header, Tencent, IONOS) and of an all-fields
// version 8 line.
func layoutDocs(t *testing.T, e enrich.Config) [][]byte {
	t.Helper()
	en, err := enrich.New(e)
	if err != nil {
		t.Fatal(err)
	}
	defer en.Close()
	fill := en.NewFiller()
	files, _ := filepath.Glob("../../../parser/testdata/*.log")
	files = append(files, "../../ecs/testdata/aws-v8.log")
	if len(files) < 5 {
		t.Fatalf("test objects: %v", files)
	}
	var docs [][]byte
	enc, err := ecs.New(ecs.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(f, "bad") {
			continue // lines the parser refuses
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj := &sink.Object{Bucket: "b", Key: filepath.Base(f), ETag: `"e"`}
		o := sinktest.Cut(t, obj, data, enc, fill, 100)
		for _, b := range o.Batches {
			for i := range b.Records {
				docs = append(docs, b.Doc(i))
			}
		}
	}
	return docs
}
