package objstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		loc     Location
		cfg     S3Config
		wantErr string
	}{
		{in: "s3://flows", loc: Location{Bucket: "flows"}},
		{in: "s3://flows/logs/", loc: Location{Bucket: "flows", Prefix: "logs"}},
		{in: "s3://flows/AWSLogs/1234/vpcflowlogs", loc: Location{Bucket: "flows", Prefix: "AWSLogs/1234/vpcflowlogs"}},
		{in: "s3://flows/a%2Fb", loc: Location{Bucket: "flows", Prefix: "a%2Fb"}},
		{in: "s3://flows/logs?endpoint=http://127.0.0.1:9000&region=eu-central-1&path_style=true",
			loc: Location{Bucket: "flows", Prefix: "logs"},
			cfg: S3Config{Endpoint: "http://127.0.0.1:9000", Region: "eu-central-1", PathStyle: true}},
		{in: "/var/lib/objects/", loc: Location{Dir: "/var/lib/objects"}},
		{in: "file:///var/lib/objects", loc: Location{Dir: "/var/lib/objects"}},
		{in: "objects", loc: Location{Dir: "objects"}},
		{in: "", wantErr: "empty location"},
		{in: "s3://", wantErr: "no bucket"},
		{in: "s3:///x", wantErr: "no bucket"},
		{in: "gs://b/x", wantErr: `scheme "gs://" not supported`},
		{in: "file://host/x", wantErr: "file URLs name a local folder"},
		{in: "https://user:wJalrXUtnFEMI@host/x", wantErr: `scheme "https://" not supported`},
		{in: "s3://b?colour=blue", wantErr: `unknown option "colour"`},
		{in: "s3://b?path_style=maybe", wantErr: `path_style="maybe"`},
		{in: "/tmp/x?region=a", wantErr: "options (?…) apply to s3:// addresses only"},
		{in: "s3://AKIAX:wJalrXUtnFEMI@flows/x", wantErr: "holds no credentials"},
		{in: "s3://flows/x?secret_access_key=wJalrXUtnFEMI", wantErr: "secret_access_key does not belong in the address"},
		{in: "s3://flows/x?wJalrXUtnFEMI/K7MDENG=1", wantErr: "unknown option (name not shown)"},
		{in: "s3://flo ws", wantErr: "not a bucket name"},
	}
	for _, tt := range tests {
		loc, cfg, err := ParseURL(tt.in)
		if err != nil && strings.Contains(err.Error(), "wJalrXUtnFEMI") {
			t.Errorf("%q: the secret is in the error: %v", tt.in, err)
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.loc, loc); diff != "" {
			t.Errorf("%q location (-want +got):\n%s", tt.in, diff)
		}
		if diff := cmp.Diff(tt.cfg, cfg); diff != "" {
			t.Errorf("%q options (-want +got):\n%s", tt.in, diff)
		}
	}
	if _, err := ParseLocation("s3://b/x?region=a"); err == nil {
		t.Error("ParseLocation accepted options")
	}
}

func TestDirPut(t *testing.T) {
	root := filepath.Join(t.TempDir(), "objects")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReader("hello")
	if err := d.Put(context.Background(), "logs/web-1-100.log.gz", body, 5); err != nil {
		t.Fatal(err)
	}
	// Put reads from the start even when the reader was used before.
	if err := d.Put(context.Background(), "logs/web-1-100.log.gz", body, 5); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "logs", "web-1-100.log.gz")); string(got) != "hello" {
		t.Errorf("object holds %q", got)
	}
	if err := d.Put(context.Background(), "short", strings.NewReader("abc"), 5); err == nil {
		t.Error("a body shorter than its size was stored")
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(root, "short")); !os.IsNotExist(err) {
		t.Error("failed put left an object")
	}
	if Secret("x").String() != "<redacted>" || Secret("").String() != "" {
		t.Error("Secret shows its value")
	}
}

// FuzzParseURL: no address makes ParseURL panic, and its errors never
// repeat what follows "?" beyond the names it knows.
func FuzzParseURL(f *testing.F) {
	f.Add("s3://flows/logs?endpoint=http://127.0.0.1:9000&region=eu-central-1&path_style=true")
	f.Add("s3://b?secret_access_key=SECRETSECRET")
	f.Add("s3://a:SECRETSECRET@b/x")
	f.Add("file:///x?y")
	f.Fuzz(func(t *testing.T, s string) {
		_, _, err := ParseURL(s + "&token=SECRETSECRET")
		if err != nil && strings.Contains(err.Error(), "SECRETSECRET") {
			t.Fatalf("%q: %v", s, err)
		}
	})
}
