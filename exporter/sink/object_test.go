package sink

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRelPath(t *testing.T) {
	s3 := func(key string) string {
		o := Object{Source: "s3://flows/logs", Bucket: "flows", Key: key}
		return filepath.ToSlash(o.RelPath(".ndjson"))
	}
	for key, want := range map[string]string{
		"flowlogs/web-1629810635.log.gz":             "s3/flows/flowlogs/web-1629810635.log.gz.ndjson",
		"flowlogs/web-1629810635.log":                "s3/flows/flowlogs/web-1629810635.log.ndjson",
		"logs/../../../../x/pwned-1714521600.log.gz": "s3/flows/logs/%2E./%2E./%2E./%2E./x/pwned-1714521600.log.gz.ndjson",
		"/abs//x.gz":        "s3/flows/%/abs/%/x.gz.ndjson",
		".hidden/.x.log.gz": "s3/flows/%2Ehidden/%2Ex.log.gz.ndjson",
		"a%2Fb.gz":          "s3/flows/a%252Fb.gz.ndjson",
		"ctl\n\x00\\x.gz":   "s3/flows/ctl%0A%00%5Cx.gz.ndjson",
		"bad\xffutf8-é.gz":  "s3/flows/bad%FFutf8-é.gz.ndjson",
	} {
		if got := s3(key); got != want {
			t.Errorf("key %q: %s, want %s", key, got, want)
		}
	}
	o := Object{Source: "/srv/objects", Bucket: "/srv/objects", Key: "a/b.log.gz"}
	if got := filepath.ToSlash(o.RelPath(".rejected.ndjson")); got != "folder/srv/objects/a/b.log.gz.rejected.ndjson" {
		t.Errorf("folder: %s", got)
	}
	long := strings.Repeat("x", 300) + ".log.gz"
	got := s3("a/" + long)
	base := filepath.Base(got)
	if len(base) > 255-len(".tmp-123456789012")-1 || !strings.Contains(base, "%~") {
		t.Errorf("long segment: %d bytes: %s", len(base), base)
	}
	if s3("a/"+long) == s3("a/"+long+"2") {
		t.Error("two long keys share a path")
	}
	huge := strings.Repeat("abc/", 400) + "x.gz"
	if got := s3(huge); len(got) > 1200 || strings.Count(got, "/") != 2 {
		t.Errorf("huge key: %d bytes, %d slashes", len(got), strings.Count(got, "/"))
	}
}

// FuzzRelPath: whatever the key, the path stays inside the folder, is valid
// UTF-8, has short file names and no hidden or dot segments, and two keys
// never share a path.
func FuzzRelPath(f *testing.F) {
	for _, k := range []string{"a/b.log.gz", "../x", "a//b", "%", "%2E", ".", "..", "a/./b", "\xff\xfe", "é/ü"} {
		f.Add(k, k+"x")
	}
	f.Fuzz(func(t *testing.T, k1, k2 string) {
		p1 := checkRelPath(t, k1)
		if k1 != k2 && p1 == checkRelPath(t, k2) {
			t.Fatalf("keys %q and %q share %s", k1, k2, p1)
		}
	})
}

func checkRelPath(t *testing.T, key string) string {
	o := Object{Source: "s3://b", Bucket: "b", Key: key}
	p := filepath.ToSlash(o.RelPath(".ndjson"))
	if !utf8.ValidString(p) || filepath.IsAbs(p) || !filepath.IsLocal(p) {
		t.Fatalf("key %q: path %q", key, p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg[0] == '.' || len(seg) > 200 || strings.ContainsAny(seg, "\x00\n\\") {
			t.Fatalf("key %q: segment %q of %q", key, seg, p)
		}
	}
	if c := filepath.Clean(p); c != p {
		t.Fatalf("key %q: %q cleans to %q", key, p, c)
	}
	return p
}
