package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
)

// TestZstdObjects: zstd-compressed text objects are parsed and exported
// like their gzip twins.
func TestZstdObjects(t *testing.T) {
	dir := t.TempDir()
	bucket := genSettled(t, dir, 1, 300)
	objs, _ := filepath.Glob(filepath.Join(bucket, "*.log.gz"))
	if len(objs) != 1 {
		t.Fatalf("objects: %v", objs)
	}
	gzData, _ := os.ReadFile(objs[0])
	zr, err := gzip.NewReader(bytes.NewReader(gzData))
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	text.ReadFrom(zr)
	var z bytes.Buffer
	zw, _ := zstd.NewWriter(&z)
	zw.Write(text.Bytes())
	zw.Close()
	// Another flow log name, the same window end: its key's time is in range.
	zstdPath := filepath.Join(bucket, "z"+strings.TrimSuffix(filepath.Base(objs[0]), ".log.gz")+".log.zst")
	zstdKey := filepath.Base(zstdPath)
	if err := os.WriteFile(zstdPath, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	os.Chtimes(zstdPath, old, old)

	fromGzip, _, code1 := flowlog(t, "", "parse", objs[0])
	fromZstd, stderr, code2 := flowlog(t, "", "parse", zstdPath)
	if code1 != 0 || code2 != 0 || fromGzip != fromZstd || strings.Count(fromZstd, "\n") < 300 {
		t.Fatalf("parse: exit %d/%d, outputs equal %v\n%s", code1, code2, fromGzip == fromZstd, stderr)
	}
	out := filepath.Join(dir, "out")
	_, stderr, code := flowlog(t, "", "backfill", "--source", bucket, "--since", "2026-01-01", "--until", "2026-01-02",
		"--sink", "file://"+out, "--checkpoint", filepath.Join(dir, "cp.json"))
	files := outputFiles(t, out, true)
	if code != 0 || len(files) != 2 {
		t.Fatalf("backfill: exit %d, files %v\n%s", code, files, stderr)
	}
	var sizes []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sizes = append(sizes, bytes.Count(b, []byte("\n")))
		if strings.Contains(f, zstdKey) && !bytes.Contains(b, []byte(`"flowlog.flows"`)) {
			t.Errorf("%s: not ECS documents", f)
		}
	}
	if sizes[0] != sizes[1] {
		t.Errorf("documents per object %v, want the twins equal", sizes)
	}
}

// TestParquetObjects: an AWS Parquet object is parsed like its text twin.
func TestParquetObjects(t *testing.T) {
	type row struct {
		Version     int32   `parquet:"version"`
		AccountID   string  `parquet:"account_id"`
		InterfaceID string  `parquet:"interface_id"`
		SrcAddr     *string `parquet:"srcaddr,optional"`
		DstAddr     *string `parquet:"dstaddr,optional"`
		SrcPort     *int32  `parquet:"srcport,optional"`
		DstPort     *int32  `parquet:"dstport,optional"`
		Protocol    *int32  `parquet:"protocol,optional"`
		Packets     *int64  `parquet:"packets,optional"`
		Bytes       *int64  `parquet:"bytes,optional"`
		Start       int64   `parquet:"start"`
		End         int64   `parquet:"end"`
		Action      *string `parquet:"action,optional"`
		LogStatus   string  `parquet:"log_status"`
	}
	s := func(v string) *string { return &v }
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	rows := []row{
		{2, "123456789010", "eni-1235b8ca123456789", s("172.31.16.139"), s("172.31.16.21"), i32(20641), i32(22), i32(6), i64(20), i64(4249), 1418530010, 1418530070, s("ACCEPT"), "OK"},
		{2, "123456789010", "eni-1235b8ca123456789", nil, nil, nil, nil, nil, nil, nil, 1431280876, 1431280934, nil, "NODATA"},
	}
	// Written with '|' for spaces: a record line in the test binary would
	// parse (TestParseOfABinary reads the binary).
	text := strings.ReplaceAll("version|account-id|interface-id|srcaddr|dstaddr|srcport|dstport|protocol|packets|bytes|start|end|action|log-status\n"+
		"2|123456789010|eni-1235b8ca123456789|172.31.16.139|172.31.16.21|20641|22|6|20|4249|1418530010|1418530070|ACCEPT|OK\n"+
		"2|123456789010|eni-1235b8ca123456789|-|-|-|-|-|-|-|1431280876|1431280934|-|NODATA\n", "|", " ")
	dir := t.TempDir()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[row](&b, parquet.Compression(&parquet.Gzip))
	w.Write(rows)
	w.Close()
	pq, tx := filepath.Join(dir, "a.log.parquet"), filepath.Join(dir, "a.log")
	os.WriteFile(pq, b.Bytes(), 0o644)
	os.WriteFile(tx, []byte(text), 0o644)
	fromPq, stderr, code1 := flowlog(t, "", "parse", "--output", "ecs", pq)
	fromTx, _, code2 := flowlog(t, "", "parse", "--output", "ecs", tx)
	// event.id differs by key and line; the rest is the same.
	strip := func(s string) string { return regexp.MustCompile(`"id":"[^"]*"`).ReplaceAllString(s, "") }
	if code1 != 0 || code2 != 0 || strip(fromPq) != strip(fromTx) || strings.Count(fromPq, "\n") != 2 {
		t.Fatalf("exit %d/%d\nparquet: %s\ntext:    %s\n%s", code1, code2, fromPq, fromTx, stderr)
	}
	os.WriteFile(pq, b.Bytes()[:b.Len()/2], 0o644)
	if _, stderr, code := flowlog(t, "", "parse", pq); code != 2 || !strings.Contains(stderr, "object is corrupt") {
		t.Errorf("cut Parquet: exit %d, %s", code, stderr)
	}
}
