package ibm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlog/flowlog/parser"
)

type got struct {
	Line int
	Text string // the record as a v2 line
	Dir  string
}

func readAll(t testing.TB, data []byte) ([]got, []error) {
	t.Helper()
	r := NewReader(parser.Options{})
	r.Reset(bytes.NewReader(data), "vnic.json")
	var out []got
	var errs []error
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, errs
		}
		if err != nil {
			errs = append(errs, err)
			var oe *parser.ObjectError
			if errors.As(err, &oe) {
				return out, errs
			}
			continue
		}
		out = append(out, got{r.Line(), strings.TrimSpace(string(parser.AppendRecord(nil, rec))), rec.FlowDirection.String()})
	}
}

func TestMapping(t *testing.T) {
	data, err := os.ReadFile("testdata/vnic.json")
	if err != nil {
		t.Fatal(err)
	}
	const head = "- 4f2c1e9a8b7d6c5e4f3a2b1c0d9e8f7a 02b7-5e6f7a8b-1c2d-4e3f-9a8b-7c6d5e4f3a2b "
	want := []got{
		{1, head + "203.0.113.50 10.243.0.4 51514 443 6 22 4810 1772445612 1772445880 ACCEPT OK", "ingress"},
		{2, head + "10.243.0.4 203.0.113.50 443 51514 6 71 96211 1772445612 1772445880 ACCEPT OK", "egress"},
		{3, head + "10.243.0.4 161.26.0.10 40001 53 17 1 70 1772445660 1772445661 ACCEPT OK", "egress"},
		{4, head + "161.26.0.10 10.243.0.4 53 40001 17 1 120 1772445660 1772445661 ACCEPT OK", "ingress"},
		{5, head + "198.51.100.7 10.243.0.4 60000 22 6 3 180 1772445720 1772445750 REJECT OK", "ingress"},
	}
	for _, gz := range []bool{false, true} {
		in := data
		if gz {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write(data)
			w.Close()
			in = b.Bytes()
		}
		out, errs := readAll(t, in)
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("gzip %v (-want +got):\n%s", gz, diff)
		}
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "object vnic.json line 7: field target_ip: missing in flow log 3") {
			t.Errorf("errors: %v", errs)
		}
	}
}

func TestBadObjects(t *testing.T) {
	good, _ := os.ReadFile("testdata/vnic.json")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(good)
	w.Close()
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"not JSON":       {[]byte("2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK\n"), parser.ErrCorrupt},
		"other JSON":     {[]byte(`{"hello": "world"}`), parser.ErrCorrupt},
		"wrong type":     {[]byte(`{"flow_logs": {"a": 1}}`), parser.ErrCorrupt},
		"truncated":      {good[:len(good)/2], parser.ErrTruncated},
		"truncated gzip": {gz.Bytes()[:gz.Len()/2], parser.ErrTruncated},
		"whitespace":     {[]byte("  \n"), parser.ErrTruncated},
	} {
		_, errs := readAll(t, c.data)
		if len(errs) != 1 || !errors.Is(errs[0], c.want) || !strings.Contains(errs[0].Error(), "vnic.json") {
			t.Errorf("%s: errors %v, want one %v naming the object", name, errs, c.want)
		}
	}
	if out, errs := readAll(t, nil); len(out) != 0 || len(errs) != 0 {
		t.Errorf("zero-byte object: %v %v, want no records and no error", out, errs)
	}
	bad := strings.Replace(string(good), `"initiator_ip": "203.0.113.50"`, `"initiator_ip": "300.1.1.1"`, 1)
	bad = strings.Replace(bad, `"action": "rejected"`, `"action": "dropped"`, 1)
	out, errs := readAll(t, []byte(bad))
	if len(out) != 2 || len(errs) != 3 || !strings.Contains(errs[0].Error(), `line 1: field initiator_ip: not an IP address: "300.1.1.1"`) ||
		!strings.Contains(errs[1].Error(), `line 5: field action: want accepted or rejected, got "dropped"`) {
		t.Errorf("bad values: %d records, errors %v", len(out), errs)
	}
}

// FuzzReader: any input ends in EOF or an object error, never a panic, and
// every record has both addresses.
func FuzzReader(f *testing.F) {
	good, _ := os.ReadFile("testdata/vnic.json")
	f.Add(good)
	f.Add([]byte(`{"flow_logs":[null,{}]}`))
	f.Add([]byte(`{"state":"skip data","network_interface_id":"x","flow_logs":[]}`))
	f.Add([]byte(`{"flow_logs":[{"initiator_ip":1},"x",[1,{"a":"\"]"}],{}],"collector_crn":"a/b"}`))
	f.Add([]byte(`{"flow_logs":[{"start_time":"2026-03-02T10:00:12Z","end_time":"2026-03-02T10:04:40Z","action":"accepted","initiator_ip":"1.1.1.1","target_ip":"::1","transport_protocol":1,"bytes_from_initiator":1,"packets_from_initiator":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(parser.Options{MaxBytes: 1 << 20})
		r.Reset(bytes.NewReader(data), "fuzz")
		for i := 0; i < 100000; i++ {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var oe *parser.ObjectError
			if errors.As(err, &oe) {
				return
			}
			if err != nil {
				continue
			}
			if !rec.SrcAddr.IsValid() || !rec.DstAddr.IsValid() || r.Line() < 1 {
				t.Fatalf("record without addresses or line: %+v", rec)
			}
		}
		t.Fatal("no end after 100000 calls")
	})
}

// TestBadFlowAlone: a flow log with one bad value is rejected alone, named by
// its line and field; the others are delivered.
func TestBadFlowAlone(t *testing.T) {
	flowJSON := func(over string) string {
		f := map[string]string{
			"start_time": `"2026-03-02T10:00:12Z"`, "end_time": `"2026-03-02T10:04:40Z"`, "direction": `"I"`, "action": `"accepted"`,
			"initiator_ip": `"203.0.113.50"`, "target_ip": `"10.243.0.4"`, "initiator_port": "51514", "target_port": "443",
			"transport_protocol": "6", "bytes_from_initiator": "4810", "packets_from_initiator": "22",
		}
		if over != "" {
			k, v, _ := strings.Cut(over, "=")
			if v == "" {
				delete(f, k)
			} else {
				f[k] = v
			}
		}
		var parts []string
		for k, v := range f {
			parts = append(parts, `"`+k+`":`+v)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	for over, want := range map[string]string{
		"target_port=65536":           `line 3: field target_port: want a whole number from 0 to 65535, got "65536"`,
		`target_port="80"`:            `line 3: field target_port: want a number, got text "\"80\""`,
		"bytes_from_initiator=-1":     `line 3: field bytes_from_initiator: want a whole number of 0 or more, got "-1"`,
		"initiator_ip=167772161":      `line 3: field initiator_ip: want an IP address as text, got "167772161"`,
		"action=":                     `line 3: field action: missing in flow log 1`,
		"transport_protocol=6.5":      `line 3: field transport_protocol: want a whole number from 0 to 255, got "6.5"`,
		`start_time="yesterday"`:      `line 3: field start_time: not an RFC 3339 time: "yesterday"`,
		"packets_from_initiator=true": `line 3: field packets_from_initiator: want a number, got "true"`,
	} {
		doc := `{"network_interface_id":"nic-1","collector_crn":"crn:v1:x:a/acct::y","flow_logs":[` +
			flowJSON("") + "," + flowJSON(over) + "," + flowJSON("") + "]}"
		out, errs := readAll(t, []byte(doc))
		if len(out) != 2 || len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%s: %d records, errors %v; want 2 records and %s", over, len(out), errs, want)
		}
		if len(out) == 2 && (out[0].Line != 1 || out[1].Line != 5) {
			t.Errorf("%s: lines %d, %d; want 1 and 5", over, out[0].Line, out[1].Line)
		}
	}
}

// TestTruncatedDeliversBefore: an object cut in its middle yields the flow
// logs before the cut, then says it is truncated.
func TestTruncatedDeliversBefore(t *testing.T) {
	data, _ := os.ReadFile("testdata/vnic.json")
	cut := bytes.Index(data, []byte(`"198.51.100.7"`)) // inside the third flow log
	out, errs := readAll(t, data[:cut])
	if len(out) != 4 || len(errs) != 1 || !errors.Is(errs[0], parser.ErrTruncated) || !strings.Contains(errs[0].Error(), "after line 4") {
		t.Errorf("%d records, errors %v; want the 4 records of the first two flow logs, then truncated after line 4", len(out), errs)
	}
}

// ibmStream writes an IBM object of n flow logs as it is read.
type ibmStream struct {
	n, i int
	buf  []byte
	done bool
}

func (s *ibmStream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && !s.done {
		switch {
		case s.i == 0 && len(s.buf) == 0:
			s.buf = append(s.buf, `{"version":"0.0.1","network_interface_id":"nic","collector_crn":"crn:v1:a/acct::","state":"ok","flow_logs":[`...)
		case s.i < s.n:
			if s.i > 0 {
				s.buf = append(s.buf, ',')
			}
			s.buf = fmt.Appendf(s.buf, `{"start_time":"2026-03-02T10:00:12Z","end_time":"2026-03-02T10:04:40Z","direction":"O","action":"accepted","initiator_ip":"10.0.%d.%d","target_ip":"198.51.100.7","initiator_port":%d,"target_port":443,"transport_protocol":6,"bytes_from_initiator":4810,"packets_from_initiator":22,"bytes_from_target":96211,"packets_from_target":71}`, s.i/250%250, s.i%250, 1024+s.i%60000)
			s.i++
		default:
			s.buf = append(s.buf, "]}\n"...)
			s.done = true
		}
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// TestStreamingMemory: memory does not grow with the object: a 100 MB
// object is read with a few MB of heap.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 100 MB")
	}
	const flows = 300_000
	r := NewReader(parser.Options{})
	r.Reset(&ibmStream{n: flows}, "big.json")
	runtime.GC()
	var ms runtime.MemStats
	var peak uint64
	records := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if records++; records%50_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if records != 2*flows {
		t.Fatalf("%d records, want %d", records, 2*flows)
	}
	if peak > 32<<20 {
		t.Errorf("heap reached %d MiB reading a ~100 MB object", peak>>20)
	}
	t.Logf("%d records, peak heap %.1f MiB", records, float64(peak)/(1<<20))
}

func TestFlowTooLong(t *testing.T) {
	doc := `{"network_interface_id":"n","flow_logs":[{"x":"` + strings.Repeat("a", 5000) + `"},{"start_time":"2026-03-02T10:00:12Z","end_time":"2026-03-02T10:04:40Z","action":"rejected","initiator_ip":"::1","target_ip":"::2","transport_protocol":58,"bytes_from_initiator":1,"packets_from_initiator":1}]}`
	r := NewReader(parser.Options{MaxLineBytes: 1024})
	r.Reset(strings.NewReader(doc), "long.json")
	_, err := r.Next()
	if err == nil || !strings.Contains(err.Error(), "longer than 1024 bytes") {
		t.Fatalf("first: %v", err)
	}
	rec, err := r.Next()
	if err != nil || rec.Action != parser.ActionReject || r.Line() != 3 {
		t.Fatalf("second: %v, %v, line %d", rec, err, r.Line())
	}
}

// BenchmarkReader reads IBM flow logs as a stream (two records each).
func BenchmarkReader(b *testing.B) {
	var data bytes.Buffer
	io.Copy(&data, &ibmStream{n: 10_000})
	r := NewReader(parser.Options{})
	b.SetBytes(int64(data.Len()))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(bytes.NewReader(data.Bytes()), "bench.json")
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
		if n != 20_000 {
			b.Fatalf("%d records", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20_000), "ns/record")
}

// TestReaderAllocs: no allocation per flow log once the reader is warm.
func TestReaderAllocs(t *testing.T) {
	var data bytes.Buffer
	io.Copy(&data, &ibmStream{n: 2000})
	r := NewReader(parser.Options{})
	read := func() {
		r.Reset(bytes.NewReader(data.Bytes()), "allocs.json")
		for {
			if _, err := r.Next(); err != nil {
				return
			}
		}
	}
	read()
	if n := testing.AllocsPerRun(5, read); n > 16 {
		t.Errorf("%v allocations for an object of 2000 flow logs, want a few per object", n)
	}
}
