package parser

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// result is what reading an object gives: records as flat JSON, line errors
// as "LINE: detail", and the error that ended the object (nil at io.EOF).
type result struct {
	records []string
	lines   []int // line number of each record
	errs    []string
	end     error
}

func read(t testing.TB, r *Reader) result {
	t.Helper()
	var res result
	for range 1_000_000 { // bounded: a reader that never ends fails the test
		rec, err := r.Next()
		var le *LineError
		switch {
		case err == nil:
			res.records = append(res.records, string(AppendJSON(nil, rec)))
			res.lines = append(res.lines, r.Line())
		case errors.As(err, &le):
			res.errs = append(res.errs, fmt.Sprintf("%d: %s", le.Line, le.Detail()))
		case errors.Is(err, io.EOF):
			return res
		default:
			res.end = err
			if _, again := r.Next(); again != err {
				t.Errorf("Next after object error returned %v, want the same error", again)
			}
			return res
		}
	}
	t.Fatal("reader did not end")
	return res
}

func readBytes(t testing.TB, name string, data []byte, opts Options) result {
	t.Helper()
	return read(t, NewReader(bytes.NewReader(data), name, opts))
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const (
	header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	line1  = "2 123 eni-1 10.0.0.1 10.0.0.2 443 80 6 10 840 1600000000 1600000060 ACCEPT OK\n"
	line2  = "2 123 eni-1 10.0.0.2 10.0.0.1 80 443 6 8 640 1600000000 1600000060 ACCEPT OK\n"
	line3  = "2 123 eni-1 192.0.2.7 10.0.0.1 5555 22 6 1 60 1600000010 1600000010 REJECT OK\n"
)

func TestReaderPlainAndGzip(t *testing.T) {
	text := header + line1 + "\n\r\n" + line2 + line3
	plain := readBytes(t, "a.log", []byte(text), Options{})
	if len(plain.records) != 3 || len(plain.errs) != 0 || plain.end != nil {
		t.Fatalf("plain: %d records, errors %v, end %v", len(plain.records), plain.errs, plain.end)
	}
	if want := []int{2, 5, 6}; fmt.Sprint(plain.lines) != fmt.Sprint(want) {
		t.Errorf("line numbers %v, want %v (blank lines count)", plain.lines, want)
	}
	for name, data := range map[string][]byte{
		"gzip named .log.gz":      gz(t, text),
		"gzip named .log":         gz(t, text),
		"plain named .gz":         []byte(text),
		"multi-member gzip":       append(gz(t, header+line1+"\n\r\n"), gz(t, line2+line3)...),
		"concatenated with heads": append(gz(t, header+line1+"\n\r\n"), gz(t, header[:len(header)-1]+"\r\n"+line3)...),
		"bom":                     []byte("\xef\xbb\xbf" + text),
	} {
		r := NewReader(bytes.NewReader(data), name, Options{})
		got := read(t, r)
		if got.end != nil || len(got.errs) != 0 {
			t.Errorf("%s: errors %v, end %v", name, got.errs, got.end)
			continue
		}
		want := plain.records
		if name == "concatenated with heads" {
			want = []string{plain.records[0], plain.records[2]}
		}
		if fmt.Sprint(got.records) != fmt.Sprint(want) {
			t.Errorf("%s: records differ from the plain object:\n%v", name, got.records)
		}
		if gzipped := data[0] == 0x1f; r.Compressed() != gzipped {
			t.Errorf("%s: Compressed() = %v, want %v", name, r.Compressed(), gzipped)
		}
	}
}

func TestReaderEmpty(t *testing.T) {
	for name, data := range map[string][]byte{"zero bytes": nil, "empty gzip": gz(t, ""), "blank lines": []byte("\n\n\r\n")} {
		got := readBytes(t, name, data, Options{})
		if len(got.records)+len(got.errs) != 0 || got.end != nil {
			t.Errorf("%s: got %v", name, got)
		}
	}
	// Half a gzip magic is a one-byte text line, and not a record.
	if got := readBytes(t, "one byte", []byte{0x1f}, Options{}); len(got.records) != 0 || len(got.errs) != 1 {
		t.Errorf("one byte: got %v", got)
	}
}

func TestReaderTruncatedGzip(t *testing.T) {
	var text strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&text, "2 123 eni-1 10.0.0.1 10.0.0.2 %d 80 6 10 840 1600000000 1600000060 ACCEPT OK\n", 1000+i)
	}
	full := gz(t, text.String())
	got := readBytes(t, "flowlogs/x-1629810635.log.gz", full[:len(full)*6/10], Options{})
	if !errors.Is(got.end, ErrTruncated) {
		t.Fatalf("end = %v, want ErrTruncated", got.end)
	}
	var oe *ObjectError
	if !errors.As(got.end, &oe) || oe.Line != len(got.records) || oe.Line == 0 {
		t.Fatalf("object error %+v after %d records", oe, len(got.records))
	}
	wantMsg := fmt.Sprintf("object flowlogs/x-1629810635.log.gz after line %d: object is truncated (gzip stream ends early): unexpected EOF", oe.Line)
	if got.end.Error() != wantMsg {
		t.Errorf("message\n got %s\nwant %s", got.end, wantMsg)
	}
	// Every delivered record is whole: none was cut at the truncation point.
	all := readBytes(t, "full", full, Options{})
	if fmt.Sprint(got.records) != fmt.Sprint(all.records[:len(got.records)]) {
		t.Error("records before the truncation differ from the full object's")
	}
}

func TestReaderCorruptGzip(t *testing.T) {
	data := gz(t, header+line1+line2)
	data[len(data)-6] ^= 0xff // the CRC
	got := readBytes(t, "crc", data, Options{})
	if !errors.Is(got.end, ErrCorrupt) || len(got.records) != 2 {
		t.Errorf("bad crc: %d records, end %v", len(got.records), got.end)
	}
	got = readBytes(t, "magic only", []byte{0x1f, 0x8b, 0, 0}, Options{})
	if got.end == nil || len(got.records) != 0 {
		t.Errorf("gzip magic without stream: %v", got)
	}
}

func TestReaderBomb(t *testing.T) {
	// 64 MiB of records compresses to a few hundred KiB; the cap stops it.
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	chunk := bytes.Repeat([]byte(line1), 1<<14)
	for range (64 << 20) / len(chunk) {
		w.Write(chunk)
	}
	w.Close()
	const capBytes = 1 << 20
	got := readBytes(t, "bomb", b.Bytes(), Options{MaxBytes: capBytes})
	if !errors.Is(got.end, ErrTooLarge) {
		t.Fatalf("end = %v, want ErrTooLarge", got.end)
	}
	if want := capBytes / len(line1); len(got.records) != want {
		t.Errorf("%d records before the cap, want %d", len(got.records), want)
	}
	if !strings.Contains(got.end.Error(), "object bomb after line") || !strings.Contains(got.end.Error(), "1048576 bytes") {
		t.Errorf("message %q lacks object, line or limit", got.end)
	}
	// Exactly at the limit is not too large.
	exact := readBytes(t, "exact", []byte(line1+line2), Options{MaxBytes: int64(len(line1 + line2))})
	if exact.end != nil || len(exact.records) != 2 {
		t.Errorf("object of exactly MaxBytes: %v", exact)
	}
	// A limit near the top of int64 does not overflow.
	huge := readBytes(t, "huge limit", []byte(line1), Options{MaxBytes: 1<<63 - 1})
	if huge.end != nil || len(huge.records) != 1 {
		t.Errorf("MaxBytes = MaxInt64: %v", huge)
	}
	if DefaultOptions().MaxBytes != 1<<30 || DefaultOptions().MaxLineBytes != 64<<10 {
		t.Errorf("defaults %+v", DefaultOptions())
	}
}

func TestReaderLongLine(t *testing.T) {
	long := "2 123 " + strings.Repeat("x", 70<<10) + " 10.0.0.1 10.0.0.2 443 80 6 10 840 1600000000 1600000060 ACCEPT OK\n"
	for name, data := range map[string][]byte{
		"plain":               []byte(line1 + long + line2),
		"gzip":                gz(t, line1+long+line2),
		"last, no line end":   []byte(line1 + line2 + strings.TrimSuffix(long, "\n")),
		"just over with crlf": []byte(line1 + strings.Repeat("y", 1025) + "\r\n" + line2),
	} {
		got := readBytes(t, name, data, Options{MaxLineBytes: 1024})
		if got.end != nil || len(got.records) != 2 || len(got.errs) != 1 {
			t.Errorf("%s: %d records, errors %v, end %v", name, len(got.records), got.errs, got.end)
			continue
		}
		if !strings.HasSuffix(got.errs[0], ": longer than 1024 bytes; skipped") {
			t.Errorf("%s: error %q", name, got.errs[0])
		}
	}
	// A line of exactly the limit is accepted.
	exact := strings.TrimSuffix(line1, "\n")
	got := readBytes(t, "exact", []byte(exact+"\r\n"+line2), Options{MaxLineBytes: len(exact)})
	if len(got.records) != 2 || len(got.errs) != 0 {
		t.Errorf("line of exactly MaxLineBytes: %v", got)
	}
}

// TestReaderBadLines: every bad line is reported with its number and reason;
// the good lines around it all arrive.
func TestReaderBadLines(t *testing.T) {
	text := header +
		line1 +
		"2 123 eni-1 300.1.1.1 10.0.0.2 443 80 6 10 840 1600000000 1600000060 ACCEPT OK\n" +
		"2 123 eni-1 10.0.0.1 10.0.0.2 70000 80 6 10 840 1600000000 1600000060 ACCEPT OK\n" +
		"2 123 eni-1 10.0.0.1 10.0.0.2 443 80 6 -3 840 1600000000 1600000060 ACCEPT OK\n" +
		"2 123 eni-1 10.0.0.1 10.0.0.2 443 80 6 10 99999999999999999999 1600000000 1600000060 ACCEPT OK\n" +
		"2 123 eni-1 10.0.0.1\n" +
		line2
	got := readBytes(t, "bad.log", gz(t, text), Options{})
	want := []string{
		`3: field srcaddr: not an IPv4 or IPv6 address: "300.1.1.1"`,
		`4: field srcport: value out of range 0-65535: "70000"`,
		`5: field packets: negative value "-3"`,
		`6: field bytes: value out of range 0-18446744073709551615: "99999999999999999999"`,
		`7: has 4 fields, want 14 as the header names`,
	}
	if fmt.Sprint(got.errs) != fmt.Sprint(want) || len(got.records) != 2 || got.end != nil {
		t.Errorf("got errors\n%s\nrecords %d, end %v", strings.Join(got.errs, "\n"), len(got.records), got.end)
	}
	// The error itself names object, line and field.
	r := NewReader(strings.NewReader(line1+"2 123 eni-1 300.1.1.1 10.0.0.2 443 80 6 10 840 1 2 ACCEPT OK\n"), "flowlogs/x.log.gz", Options{})
	r.Next()
	_, err := r.Next()
	if want := `object flowlogs/x.log.gz line 2: field srcaddr: not an IPv4 or IPv6 address: "300.1.1.1"`; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestReaderNotAFlowLog(t *testing.T) {
	for name, text := range map[string]string{
		"json":   `{"flow_logs": [{"start_time": "2021-01-01T00:00:00Z"}]}` + "\n" + `{"a": 1}` + "\n",
		"csv":    "version,account-id\n2,123\n",
		"syslog": "Nov 23 02:22:01 host sshd[1]: Accepted publickey for root\n",
	} {
		got := readBytes(t, name, []byte(text), Options{})
		if len(got.records) != 0 || len(got.errs) == 0 || got.end != nil {
			t.Errorf("%s: %d records, errors %v, end %v", name, len(got.records), got.errs, got.end)
		}
	}
}

func TestReaderBinaryGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	got := readBytes(t, "garbage.bin", data, Options{MaxLineBytes: 4096})
	if len(got.records) != 0 || len(got.errs) == 0 || got.end != nil {
		t.Errorf("garbage: %d records, %d errors, end %v", len(got.records), len(got.errs), got.end)
	}
	// Garbage that starts like gzip is a corrupt object, not a panic.
	data[0], data[1] = 0x1f, 0x8b
	got = readBytes(t, "garbage.gz", data, Options{})
	if !errors.Is(got.end, ErrCorrupt) || len(got.records) != 0 {
		t.Errorf("garbage with gzip magic: %d records, end %v", len(got.records), got.end)
	}
}

func TestReaderHeaderMismatch(t *testing.T) {
	text := "srcaddr dstaddr bytes action\n" + line1 + "10.0.0.1 10.0.0.2 99 ACCEPT\n"
	got := readBytes(t, "custom", []byte(text), Options{})
	if len(got.records) != 1 || fmt.Sprint(got.errs) != "[2: has 14 fields, want 4 as the header names]" {
		t.Errorf("got %d records, errors %v", len(got.records), got.errs)
	}
	got = readBytes(t, "dup", []byte("srcaddr srcaddr dstaddr\n1.1.1.1 2.2.2.2 3.3.3.3\n"), Options{})
	if len(got.records) != 1 || len(got.errs) != 1 || !strings.Contains(got.errs[0], "field srcaddr appears twice") {
		t.Errorf("duplicate header: %v", got)
	}
}

func TestReaderReset(t *testing.T) {
	r := NewReader(strings.NewReader("srcaddr dstaddr bytes\n1.1.1.1 2.2.2.2 10\n"), "a", Options{})
	if got := read(t, r); len(got.records) != 1 {
		t.Fatalf("first object: %v", got)
	}
	// The next object has no header: the previous one's must not apply.
	r.Reset(bytes.NewReader(gz(t, line1)), "b")
	if n := r.DecompressedBytes(); n != 0 {
		t.Errorf("DecompressedBytes after Reset = %d, want 0", n)
	}
	got := read(t, r)
	if n := r.DecompressedBytes(); n != int64(len(line1)) {
		t.Errorf("DecompressedBytes = %d, want %d", n, len(line1))
	}
	if len(got.records) != 1 || len(got.errs) != 0 || r.Line() != 1 || !r.Compressed() {
		t.Fatalf("second object: %v, line %d", got, r.Line())
	}
	r.Reset(strings.NewReader(line2), "c")
	if got := read(t, r); len(got.records) != 1 || r.Compressed() {
		t.Fatalf("third object: %v", got)
	}
	// The reused gzip reader still reads every member of the next objects.
	for _, name := range []string{"d", "e"} {
		r.Reset(bytes.NewReader(append(gz(t, line1), gz(t, line2+line3)...)), name)
		if got := read(t, r); len(got.records) != 3 || got.end != nil {
			t.Fatalf("multi-member object %s after reuse: %v", name, got)
		}
	}
}

// TestReaderAllocs: reading records allocates nothing once the reader is warm.
func TestReaderAllocs(t *testing.T) {
	data := gz(t, header+strings.Repeat(line1+line2+line3, 1000))
	r := NewReader(bytes.NewReader(data), "x", Options{})
	src := bytes.NewReader(data)
	allocs := testing.AllocsPerRun(20, func() {
		src.Reset(data)
		r.Reset(src, "x")
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	})
	if allocs > 2 { // per object, for 3000 records
		t.Errorf("%.0f allocations per object of 3000 records", allocs)
	}
}

// TestCopyToOutlivesReader keeps copies of records while the reader moves on,
// across a change of header, as a batch of the exporter does.
func TestCopyToOutlivesReader(t *testing.T) {
	text := "version srcaddr dstaddr flow-direction\n2 10.0.0.1 10.0.0.2 ingress\n" +
		"version dstaddr srcaddr\n2 10.0.0.3 10.0.0.4\n" +
		"version srcaddr dstaddr flow-direction\n2 10.0.0.5 10.0.0.6 egress\n"
	r := NewReader(strings.NewReader(text), "x", Options{})
	var kept [3]Record
	buf := make([]byte, 0, 4096)
	for i := range kept {
		rec, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		n := rec.CopySize()
		rec.CopyTo(&kept[i], buf[len(buf):len(buf)+n])
		buf = buf[:len(buf)+n]
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	if kept[0].SrcAddr.String() != "10.0.0.1" || kept[0].FlowDirection != FlowDirectionIngress {
		t.Errorf("first: %v %v", kept[0].SrcAddr, kept[0].FlowDirection)
	}
	if v, _ := kept[0].Text(FieldFlowDirection); string(v) != "ingress" {
		t.Errorf("first keeps its layout: flow-direction %q", v)
	}
	if v, ok := kept[1].Value("srcaddr"); !ok || string(v) != "10.0.0.4" || kept[1].Layout().Has(FieldFlowDirection) {
		t.Errorf("second: srcaddr %q, layout %v", v, kept[1].Layout())
	}
	if v, _ := kept[2].Text(FieldFlowDirection); string(v) != "egress" || kept[2].DstAddr.String() != "10.0.0.6" {
		t.Errorf("third: flow-direction %q, dstaddr %v", v, kept[2].DstAddr)
	}
}
