package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
	f := NewFolder(dir)
	objs, err := f.List(context.Background(), Range{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if diff := cmp.Diff([]string{"a/web-1-1714521600.log.gz", "a/web-1-1714608000.log.gz", "b/other.json.gz"}, keys); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	objs, _ = f.List(context.Background(), Range{Since: day(2), Until: day(3)})
	if len(objs) != 1 || objs[0].Key != "a/web-1-1714608000.log.gz" {
		t.Errorf("range May 2: %v (other.json.gz has its modification time, now)", objs)
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
		{"ionos,AWSLogs/111/vpcflowlogs/us-east-1", []string{"ionos/", "AWSLogs/111/vpcflowlogs/us-east-1/ (2024/05/02…2024/05/03/)"}, []string{keys[3], keys[6]}},
	} {
		b := NewBucket(client, "aws", strings.Split(c.prefix, ",")...)
		prefixes, err := b.Prefixes(context.Background(), may2)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.wantPrefixes, prefixes); diff != "" {
			t.Errorf("prefix %q: listed (-want +got):\n%s", c.prefix, diff)
		}
		objs, err := b.List(context.Background(), may2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.Key)
		}
		if diff := cmp.Diff(c.wantKeys, got); diff != "" {
			t.Errorf("prefix %q: objects (-want +got):\n%s", c.prefix, diff)
		}
	}
}
