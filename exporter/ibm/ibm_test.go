package ibm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
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
		out = append(out, got{r.Line(), strings.TrimSpace(string(parser.AppendRecord(nil, rec))), r.Direction()})
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
