package source

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowlog/flowlog/internal/objkey"
	"github.com/flowlog/flowlog/internal/objstore"
	"github.com/flowlog/flowlog/internal/testserver"
)

func day(d int) time.Time { return time.Date(2024, 5, d, 0, 0, 0, 0, time.UTC) }

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Minute)
	write := func(name string, settled bool) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
		if settled {
			os.Chtimes(p, old, old)
		}
	}
	write("a/web-1-1714521600.log.gz", true) // 2024-05-01T00:00Z
	write("a/web-1-1714608000.log.gz", true) // 2024-05-02T00:00Z
	write("b/other.json.gz", true)
	write("a/.web-1-1714694400.log.gz.tmp-1", true) // hidden temporary file
	write(".hidden/web-1-1714521600.log.gz", true)  // hidden folder
	write("a/web-1-1714694400.log.gz", false)       // still being written
	write("a/notes.txt", true)
	f, err := NewFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.List(context.Background(), Range{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range l.Objects {
		keys = append(keys, o.Key)
		if o.Bucket != f.Name() || !filepath.IsAbs(o.Bucket) {
			t.Errorf("%s: bucket %q, want the folder", o.Key, o.Bucket)
		}
	}
	if diff := cmp.Diff([]string{"a/web-1-1714521600.log.gz", "a/web-1-1714608000.log.gz", "b/other.json.gz"}, keys); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if l.Settling != 1 || l.Unknown != 1 || l.OutOfRange != 0 {
		t.Errorf("passed over: %d settling, %d unknown, %d out of range; want 1, 1, 0", l.Settling, l.Unknown, l.OutOfRange)
	}
	l, _ = f.List(context.Background(), Range{Since: day(2), Until: day(3)})
	if len(l.Objects) != 1 || l.Objects[0].Key != "a/web-1-1714608000.log.gz" || l.OutOfRange != 2 {
		t.Errorf("range May 2: %v, %d out of range (other.json.gz has its modification time, now)", l.Objects, l.OutOfRange)
	}
}

// TestFolderVersion: a file rewritten with the same size and modification
// time is a new version.
func TestFolderVersion(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "web-1-1714521600.log.gz")
	old := time.Now().Add(-time.Minute)
	os.WriteFile(p, []byte("aaaa"), 0o644)
	os.Chtimes(p, old, old)
	f, _ := NewFolder(dir)
	f.Settle = 0
	first, _ := f.List(context.Background(), Range{})
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(p, []byte("bbbb"), 0o644)
	os.Chtimes(p, old, old)
	second, _ := f.List(context.Background(), Range{})
	if len(first.Objects) != 1 || len(second.Objects) != 1 {
		t.Fatalf("listed %v then %v", first.Objects, second.Objects)
	}
	a, b := first.Objects[0], second.Objects[0]
	if a.Size != b.Size || !a.Modified.Equal(b.Modified) || a.ETag == b.ETag {
		t.Errorf("same size and mtime, rewritten: ETag %s then %s", a.ETag, b.ETag)
	}
}

// TestFolderNames: one folder named relative, absolute or through a link is
// one source.
func TestFolderNames(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(filepath.Dir(dir))
	var names []string
	for _, d := range []string{dir, filepath.Base(dir), dir + "/", "./" + filepath.Base(dir) + "/../" + filepath.Base(dir), link} {
		f, err := NewFolder(d)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name())
	}
	for _, n := range names {
		if n != names[0] {
			t.Errorf("names %v differ", names)
		}
	}
}

// TestCheckedBody: a body that ends early, fails, or runs long is a
// transport error, not the object's.
func TestCheckedBody(t *testing.T) {
	read := func(body string, size int64) error {
		_, err := io.ReadAll(CheckSize(io.NopCloser(strings.NewReader(body)), "x", size))
		return err
	}
	if err := read("abcd", 4); err != nil {
		t.Errorf("exact: %v", err)
	}
	if err := read("abc", 4); !IsTransport(err) || !errors.Is(err, ErrShortRead) {
		t.Errorf("short: %v", err)
	}
	if err := read("abcde", 4); !IsTransport(err) {
		t.Errorf("long: %v", err)
	}
	boom := errors.New("connection reset")
	_, err := io.ReadAll(CheckSize(io.NopCloser(io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(boom))), "x", 4))
	if !IsTransport(err) || !errors.Is(err, boom) {
		t.Errorf("failing: %v", err)
	}
}

// TestBucketPrefixesIntegration checks that a bounded range over AWS layouts
// lists only the days of the range, and everything beside AWSLogs whole.
func TestBucketPrefixesIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("aws")
	client := m.Client()
	keys := []string{
		"AWSLogs/111/vpcflowlogs/eu-central-1/2024/05/01/111_vpcflowlogs_eu-central-1_fl-1_20240501T1200Z_a.log.gz",
		"AWSLogs/111/vpcflowlogs/eu-central-1/2024/05/02/111_vpcflowlogs_eu-central-1_fl-1_20240502T0100Z_b.log.gz",
		"AWSLogs/111/vpcflowlogs/eu-central-1/2024/05/03/111_vpcflowlogs_eu-central-1_fl-1_20240503T0100Z_c.log.gz",
		"AWSLogs/111/vpcflowlogs/us-east-1/2024/05/02/111_vpcflowlogs_us-east-1_fl-9_20240502T2355Z_d.log.gz",
		"AWSLogs/111/elasticloadbalancing/eu-central-1/2024/05/02/x.log.gz",
		"logs/AWSLogs/aws-account-id=222/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=05/day=02/222_vpcflowlogs_eu-west-1_fl-2_20240502T0300Z_e.log.gz",
		"ionos/web-1-1714608000.log.gz",
		"ionos/web-1-1714694400.log.gz",
	}
	for _, k := range keys {
		m.Put("aws", k, []byte("x"))
	}
	may2 := Range{Since: day(2), Until: day(2).Add(24*time.Hour - time.Second)}
	for _, c := range []struct {
		prefix       string
		wantPrefixes []string
		wantKeys     []string
	}{
		{"", []string{"AWSLogs/111/vpcflowlogs/eu-central-1/ (2024/05/02…2024/05/03/)", "AWSLogs/111/vpcflowlogs/us-east-1/ (2024/05/02…2024/05/03/)",
			" (objects directly in it)", "ionos/", "logs/"},
			[]string{keys[1], keys[3], keys[6], keys[5]}},
		{"AWSLogs/111/vpcflowlogs/eu-central-1", []string{"AWSLogs/111/vpcflowlogs/eu-central-1/ (2024/05/02…2024/05/03/)"}, []string{keys[1]}},
		{"logs", []string{"logs/AWSLogs/aws-account-id=222/aws-service=vpcflowlogs/aws-region=eu-west-1/ (year=2024/month=05/day=02…year=2024/month=05/day=03/)", "logs/ (objects directly in it)"}, []string{keys[5]}},
		{"ionos", []string{"ionos/"}, []string{keys[6]}},
		{"ionos,AWSLogs/111/vpcflowlogs/us-east-1", []string{"AWSLogs/111/vpcflowlogs/us-east-1/ (2024/05/02…2024/05/03/)", "ionos/"}, []string{keys[3], keys[6]}},
	} {
		wantListing(t, NewBucket(client, "aws", strings.Split(c.prefix, ",")...), c.prefix, may2, c.wantPrefixes, c.wantKeys)
	}
}

// wantListing checks the key ranges a bucket source reads for r, and the
// objects it lists.
func wantListing(t *testing.T, b *Bucket, prefix string, r Range, wantPrefixes, wantKeys []string) {
	t.Helper()
	prefixes, err := b.Prefixes(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantPrefixes, prefixes); diff != "" {
		t.Errorf("prefix %q: listed (-want +got):\n%s", prefix, diff)
	}
	l, err := b.List(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range l.Objects {
		got = append(got, o.Key)
	}
	if diff := cmp.Diff(wantKeys, got); diff != "" {
		t.Errorf("prefix %q: objects (-want +got):\n%s", prefix, diff)
	}
}

// TestBucketHourlyIntegration: AWS's hourly partitions, plain and Hive, are
// listed from the first hour of a range to the last only.
func TestBucketHourlyIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("aws")
	keys := []string{
		"AWSLogs/333/vpcflowlogs/ap-south-1/2024/05/01/23/333_vpcflowlogs_ap-south-1_fl-3_20240501T2355Z_a.log.gz",
		"AWSLogs/333/vpcflowlogs/ap-south-1/2024/05/02/00/333_vpcflowlogs_ap-south-1_fl-3_20240502T0005Z_b.log.gz",
		"AWSLogs/333/vpcflowlogs/ap-south-1/2024/05/02/13/333_vpcflowlogs_ap-south-1_fl-3_20240502T1305Z_c.log.gz",
		"AWSLogs/333/vpcflowlogs/ap-south-1/2024/05/02/14/333_vpcflowlogs_ap-south-1_fl-3_20240502T1405Z_d.log.gz",
		"hive/AWSLogs/aws-account-id=444/aws-service=vpcflowlogs/aws-region=eu-north-1/year=2024/month=05/day=02/hour=13/444_vpcflowlogs_eu-north-1_fl-4_20240502T1310Z_e.log.gz",
		"hive/AWSLogs/aws-account-id=444/aws-service=vpcflowlogs/aws-region=eu-north-1/year=2024/month=05/day=02/hour=15/444_vpcflowlogs_eu-north-1_fl-4_20240502T1510Z_f.log.gz",
	}
	for _, k := range keys {
		m.Put("aws", k, []byte("x"))
		if info, ok := objkey.Parse(k); !ok || info.Layout != objkey.AWS || info.Time.IsZero() {
			t.Errorf("%s: parsed as %+v", k, info)
		}
	}
	hour13 := Range{Since: day(2).Add(13 * time.Hour), Until: day(2).Add(14*time.Hour - time.Second)}
	for _, c := range []struct {
		prefix       string
		r            Range
		wantPrefixes []string
		wantKeys     []string
	}{
		{"AWSLogs", hour13, []string{"AWSLogs/333/vpcflowlogs/ap-south-1/ (2024/05/02/13…2024/05/02/14/)"}, []string{keys[2]}},
		{"hive", hour13, []string{"hive/AWSLogs/aws-account-id=444/aws-service=vpcflowlogs/aws-region=eu-north-1/ (year=2024/month=05/day=02/hour=13…year=2024/month=05/day=02/hour=14/)",
			"hive/ (objects directly in it)"}, []string{keys[4]}},
		{"AWSLogs", Range{Since: day(1).Add(23 * time.Hour), Until: day(2).Add(59 * time.Minute)},
			[]string{"AWSLogs/333/vpcflowlogs/ap-south-1/ (2024/05/01/23…2024/05/02/01/)"}, []string{keys[0], keys[1]}},
	} {
		wantListing(t, NewBucket(m.Client(), "aws", c.prefix), c.prefix, c.r, c.wantPrefixes, c.wantKeys)
	}
}

// TestNotAListing: a web page answered with status 200 (a wrong endpoint, a
// captive portal) is an error, not an empty bucket.
func TestNotAListing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body><h1>Welcome to nginx!</h1></body></html>")
	}))
	defer srv.Close()
	client, err := objstore.NewS3Client(context.Background(), objstore.S3Config{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		AccessKeyID: "x", SecretAccessKey: "y"})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBucket(client, "flows", "logs")
	if _, err := b.List(context.Background(), Range{}); !errors.Is(err, ErrNotListing) {
		t.Errorf("List: %v, want ErrNotListing", err)
	}
	if err := b.Check(context.Background()); !errors.Is(err, ErrNotListing) {
		t.Errorf("Check: %v, want ErrNotListing", err)
	}
	if _, err := b.List(context.Background(), Range{Since: day(1), Until: day(2)}); !errors.Is(err, ErrNotListing) {
		t.Errorf("List of a range: %v, want ErrNotListing", err)
	}
}

// TestStalledBody: a server that stops sending in the middle of an object
// does not hang the reader: after Stall without a byte, the read fails with
// a transport error.
func TestStalledBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Header().Set("ETag", `"e"`)
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	client, err := objstore.NewS3Client(context.Background(), objstore.S3Config{Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		AccessKeyID: "x", SecretAccessKey: "y"})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBucket(client, "flows")
	b.Stall = 300 * time.Millisecond
	body, err := b.Open(context.Background(), Object{Bucket: "flows", Key: "k.log.gz", Size: 100000})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	start := time.Now()
	_, err = io.ReadAll(body)
	if !IsTransport(err) || time.Since(start) > 3*time.Second {
		t.Errorf("after %s: %v, want a transport error within a few seconds", time.Since(start), err)
	}
}
