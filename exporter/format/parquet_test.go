package format

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/parser"
)

// awsRow is a row of AWS's Parquet flow-log output for the default format:
// the column names and types AWS documents, a missing value as null.
type awsRow struct {
	Version     *int32  `parquet:"version,optional"`
	AccountID   *string `parquet:"account_id,optional"`
	InterfaceID *string `parquet:"interface_id,optional"`
	SrcAddr     *string `parquet:"srcaddr,optional"`
	DstAddr     *string `parquet:"dstaddr,optional"`
	SrcPort     *int32  `parquet:"srcport,optional"`
	DstPort     *int32  `parquet:"dstport,optional"`
	Protocol    *int32  `parquet:"protocol,optional"`
	Packets     *int64  `parquet:"packets,optional"`
	Bytes       *int64  `parquet:"bytes,optional"`
	Start       *int64  `parquet:"start,optional"`
	End         *int64  `parquet:"end,optional"`
	Action      *string `parquet:"action,optional"`
	LogStatus   *string `parquet:"log_status,optional"`
}

// awsRowV5 adds version-3 to -5 columns of a custom format.
type awsRowV5 struct {
	awsRow
	VPCID      *string `parquet:"vpc_id,optional"`
	TCPFlags   *int32  `parquet:"tcp_flags,optional"`
	PktSrcAddr *string `parquet:"pkt_srcaddr,optional"`
	Region     *string `parquet:"region,optional"`
	AZID       *string `parquet:"az_id,optional"`
}

func str(b []byte, ok bool) *string {
	if !ok || string(b) == "-" {
		return nil
	}
	s := string(b)
	return &s
}

func i32(b []byte, ok bool) *int32 {
	n, err := strconv.ParseInt(string(b), 10, 32)
	if !ok || err != nil {
		return nil
	}
	v := int32(n)
	return &v
}

func i64(b []byte, ok bool) *int64 {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if !ok || err != nil {
		return nil
	}
	return &n
}

// rowOf is the Parquet row AWS writes for a text record.
func rowOf(r *parser.Record) awsRow {
	return awsRow{Version: i32(r.Text(parser.FieldVersion)), AccountID: str(r.Text(parser.FieldAccountID)),
		InterfaceID: str(r.Text(parser.FieldInterfaceID)), SrcAddr: str(r.Text(parser.FieldSrcAddr)),
		DstAddr: str(r.Text(parser.FieldDstAddr)), SrcPort: i32(r.Text(parser.FieldSrcPort)),
		DstPort: i32(r.Text(parser.FieldDstPort)), Protocol: i32(r.Text(parser.FieldProtocol)),
		Packets: i64(r.Text(parser.FieldPackets)), Bytes: i64(r.Text(parser.FieldBytes)),
		Start: i64(r.Text(parser.FieldStart)), End: i64(r.Text(parser.FieldEnd)),
		Action: str(r.Text(parser.FieldAction)), LogStatus: str(r.Text(parser.FieldLogStatus))}
}

func writeParquet[T any](t *testing.T, rows []T, perGroup int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := parquet.NewGenericWriter[T](&b, parquet.MaxRowsPerRowGroup(int64(perGroup)), parquet.Compression(&parquet.Gzip))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// records reads an object through the detector and returns each record as
// JSON, and the error that ended it (nil at a clean end).
func records(t *testing.T, d *Detector, data []byte, name string) ([]string, []error, error) {
	t.Helper()
	r := d.Reader(data)
	r.Reset(bytes.NewReader(data), name)
	var out []string
	var lineErrs []error
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, lineErrs, nil
		}
		var le *parser.LineError
		if errors.As(err, &le) {
			lineErrs = append(lineErrs, err)
			continue
		}
		if err != nil {
			return out, lineErrs, err
		}
		out = append(out, strconv.Itoa(r.Line())+" "+string(parser.AppendJSON(nil, rec)))
	}
}

// TestParquetTwins: Parquet objects with AWS's schema give, record by
// record and field by field, what their text twins give (NODATA and
// SKIPDATA rows with nulls included), over several row groups.
func TestParquetTwins(t *testing.T) {
	g, err := gen.New(gen.Config{Name: "pq", Objects: 1, Records: 3000, Seed: 5, Start: gen.DefaultStart,
		Interval: gen.DefaultConfig().Interval, Header: true, AccountID: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	text := g.Object(0)
	var rows []awsRow
	pr := parser.NewReader(bytes.NewReader(text), "twin", parser.Options{})
	for {
		rec, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, rowOf(rec))
	}
	pq := writeParquet(t, rows, 700)
	d := NewDetector(nil, parser.Options{})
	if got := d.formats[d.Detect(pq)].Name; got != "parquet" {
		t.Fatalf("detected as %s", got)
	}
	want, _, err := records(t, d, text, "twin.log.gz")
	if err != nil {
		t.Fatal(err)
	}
	got, lineErrs, err := records(t, d, pq, "twin.log.parquet")
	if err != nil || len(lineErrs) > 0 {
		t.Fatalf("%v %v", err, lineErrs)
	}
	nodata := 0
	for i := range want {
		if i >= len(got) || got[i][len(strconv.Itoa(i+1)):] != want[i][len(strconv.Itoa(i+2)):] {
			if i < len(got) {
				// Text lines count the header: compare the JSON only.
				gj := got[i][bytes.IndexByte([]byte(got[i]), ' ')+1:]
				wj := want[i][bytes.IndexByte([]byte(want[i]), ' ')+1:]
				if gj == wj {
					continue
				}
				t.Fatalf("record %d:\nparquet %s\ntext    %s", i, gj, wj)
			}
			t.Fatalf("%d records from Parquet, %d from text", len(got), len(want))
		}
	}
	for _, r := range rows {
		if r.SrcAddr == nil {
			nodata++
		}
	}
	if len(got) != 3000 || len(want) != 3000 || nodata == 0 {
		t.Errorf("%d and %d records, %d with nulls", len(got), len(want), nodata)
	}

	// A custom format with later versions' columns.
	v5 := []awsRowV5{{awsRow: rows[0]}}
	vpc, reg, az := "vpc-0abc", "eu-west-1", "euw1-az1"
	flags := int32(18)
	v5[0].VPCID, v5[0].Region, v5[0].AZID, v5[0].TCPFlags, v5[0].PktSrcAddr = &vpc, &reg, &az, &flags, rows[0].SrcAddr
	got, _, err = records(t, d, writeParquet(t, v5, 10), "v5.parquet")
	if err != nil || len(got) != 1 || !bytes.Contains([]byte(got[0]), []byte(`"vpc_id":"vpc-0abc"`)) ||
		!bytes.Contains([]byte(got[0]), []byte(`"tcp_flags":18`)) {
		t.Errorf("v5 columns: %v %v", got, err)
	}
}

// TestParquetDamaged: a cut or corrupt Parquet object ends with an object
// error of its kind; rows with values no record can hold are named.
func TestParquetDamaged(t *testing.T) {
	one := func(s string) *string { return &s }
	n := func(v int32) *int32 { return &v }
	rows := []awsRow{
		{Version: n(2), AccountID: one("1"), InterfaceID: one("eni-1"), SrcAddr: one("10.0.0.1"), DstAddr: one("10.0.0.2"),
			SrcPort: n(1), DstPort: n(2), Protocol: n(6), Action: one("ACCEPT"), LogStatus: one("OK")},
		{Version: n(2), AccountID: one("has space"), InterfaceID: one("eni-1"), LogStatus: one("NODATA")},
		{Version: n(2), AccountID: one("1"), InterfaceID: one("eni-1"), SrcAddr: one("999.0.0.1"), LogStatus: one("OK")},
	}
	pq := writeParquet(t, rows, 10)
	d := NewDetector(nil, parser.Options{})
	got, lineErrs, err := records(t, d, pq, "bad-rows.parquet")
	if err != nil || len(lineErrs) != 2 || len(got) != 1 {
		t.Fatalf("%d records, line errors %v, end %v", len(got), lineErrs, err)
	}
	if s := lineErrs[0].Error(); !bytes.Contains([]byte(s), []byte("bad-rows.parquet line 2")) || !bytes.Contains([]byte(s), []byte("account_id")) {
		t.Errorf("line error %q: want the object, row and column", s)
	}
	for name, data := range map[string][]byte{
		"cut":     pq[:len(pq)/2],
		"corrupt": append([]byte("PAR1"), bytes.Repeat([]byte{0xff}, 200)...),
		"no flow-log columns": writeParquet(t, []struct {
			Colour string `parquet:"colour"`
		}{{"blue"}}, 10),
	} {
		_, _, err := records(t, d, data, name+".parquet")
		if !errors.Is(err, parser.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	big := NewDetector(nil, parser.Options{MaxBytes: 100})
	if _, _, err := records(t, big, pq, "big.parquet"); !errors.Is(err, parser.ErrTooLarge) {
		t.Errorf("over MaxBytes: %v", err)
	}
}

// FuzzParquet: any bytes read as Parquet give records, named rows or an
// object error — never a panic.
func FuzzParquet(f *testing.F) {
	one := func(s string) *string { return &s }
	f.Add(writeParquetF(f, []awsRow{{AccountID: one("1"), LogStatus: one("NODATA")}}))
	f.Add([]byte("PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDetector([]Format{Parquet}, parser.Options{MaxBytes: 1 << 20})
		r := d.Reader(data)
		r.Reset(bytes.NewReader(data), "fuzz.parquet")
		for i := 0; i < 10000; i++ {
			_, err := r.Next()
			var le *parser.LineError
			if err != nil && !errors.As(err, &le) {
				return
			}
		}
	})
}

func writeParquetF(f *testing.F, rows []awsRow) []byte {
	var b bytes.Buffer
	w := parquet.NewGenericWriter[awsRow](&b)
	w.Write(rows)
	w.Close()
	return b.Bytes()
}

// BenchmarkParquetReader reads a 20,000-row AWS Parquet object (gzip
// pages, row groups of 5,000) through the reader.
func BenchmarkParquetReader(b *testing.B) {
	g, err := gen.New(gen.Config{Name: "pq", Objects: 1, Records: 20000, Seed: 5, Start: gen.DefaultStart,
		Interval: gen.DefaultConfig().Interval, Header: true, AccountID: "123456789012"})
	if err != nil {
		b.Fatal(err)
	}
	var rows []awsRow
	pr := parser.NewReader(bytes.NewReader(g.Object(0)), "x", parser.Options{})
	for {
		rec, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, rowOf(rec))
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[awsRow](&buf, parquet.MaxRowsPerRowGroup(5000), parquet.Compression(&parquet.Gzip))
	w.Write(rows)
	w.Close()
	data := buf.Bytes()
	d := NewDetector(nil, parser.Options{})
	r := d.Reader(data)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r.Reset(bytes.NewReader(data), "bench.parquet")
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != len(rows) {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/record")
}
