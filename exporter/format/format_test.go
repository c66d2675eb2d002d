package format

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlog/flowlog/parser"
)

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestDetect(t *testing.T) {
	d := NewDetector(nil, parser.Options{})
	for name, c := range map[string]struct {
		raw  []byte
		want string
	}{
		"v2":              {[]byte("2 123 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK\n"), "v2"},
		"v2 gz":           {gz("version account-id\n"), "v2"},
		"ibm":             {[]byte(`{"version":"0.0.1","flow_logs":[]}`), "ibm-json"},
		"ibm gz":          {gz("\n  {\"flow_logs\":[]}"), "ibm-json"},
		"ibm named .log":  {gz(`{"x":1}`), "ibm-json"},
		"empty":           {nil, "v2"},
		"corrupt gz":      {[]byte{0x1f, 0x8b, 0, 0, 0}, "v2"},
		"bom ibm":         {[]byte("\xef\xbb\xbf{}"), "ibm-json"},
		"v2 starting [":   {[]byte("[1,2]"), "v2"},
		"truncated ibmgz": {gz(`{"flow_logs":[`)[:20], "ibm-json"},
	} {
		if got := d.formats[d.Detect(c.raw)].Name; got != c.want {
			t.Errorf("%s: %s, want %s", name, got, c.want)
		}
	}
}
