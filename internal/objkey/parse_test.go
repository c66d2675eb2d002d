package objkey

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t.UTC() }
	tests := []struct {
		key  string
		want Info
		ok   bool
	}{
		{"flowlogs/webserver01-1629810635.log.gz", Info{Layout: IONOS, Time: at("2021-08-24T13:10:35Z"), Name: "webserver01"}, true},
		{"web-1-1767226200.log.gz", Info{Layout: IONOS, Time: at("2026-01-01T00:10:00Z"), Name: "web-1"}, true},
		{"a/b/c/web-1767226200.log", Info{Layout: IONOS, Time: at("2026-01-01T00:10:00Z"), Name: "web"}, true},
		{"AWSLogs/123456789012/vpcflowlogs/eu-central-1/2024/05/01/123456789012_vpcflowlogs_eu-central-1_fl-0a1b2c3d_20240501T1205Z_8f9e0d1c.log.gz",
			Info{Layout: AWS, Time: at("2024-05-01T12:05:00Z"), Name: "fl-0a1b2c3d", Account: "123456789012", Region: "eu-central-1"}, true},
		{"logs/AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01/123456789012_vpcflowlogs_us-east-1_fl-1_20240501T0000Z_ab.log.gz",
			Info{Layout: AWS, Time: at("2024-05-01T00:00:00Z"), Name: "fl-1", Account: "123456789012", Region: "us-east-1"}, true},
		{"ibm/flowlogs/00000001.json.gz", Info{Layout: Other}, true},
		{"ibm_vpc_flowlogs_v1/account=abc/region=us-south/vpc-id=v/subnet-id=s/endpoint-type=vnics/instance-id=i/vnic-id=0737-40a0/record-type=ingress/year=2020/month=07/day=01/hour=20/stream-id=20200701T202818Z/00000000.gz",
			Info{Layout: IBM, Time: at("2020-07-01T20:28:18Z"), Name: "0737-40a0", Account: "abc", Region: "us-south"}, true},
		{"notes-12.log", Info{Layout: Other}, true},
		{"web-1767226200.txt", Info{}, false},
		{"folder/", Info{}, false},
		{"folder/.web-1-1767226200.log.gz.tmp-1", Info{}, false},
		{".log.gz", Info{}, false},
	}
	for _, tt := range tests {
		got, ok := Parse(tt.key)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.key, ok, tt.ok)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.key, diff)
		}
	}
	// Format and Parse agree.
	if got, _ := Parse(Format("p", "web-1", 1767226200)); got.Name != "web-1" || got.Time.Unix() != 1767226200 {
		t.Errorf("Parse(Format(…)) = %+v", got)
	}
}

func TestDayPrefixes(t *testing.T) {
	since := time.Date(2024, 4, 30, 23, 0, 0, 0, time.UTC)
	until := time.Date(2024, 5, 2, 1, 0, 0, 0, time.UTC)
	got := DayPrefixes("AWSLogs/1/vpcflowlogs/eu-central-1", false, since, until)
	want := []string{"AWSLogs/1/vpcflowlogs/eu-central-1/2024/04/30/", "AWSLogs/1/vpcflowlogs/eu-central-1/2024/05/01/", "AWSLogs/1/vpcflowlogs/eu-central-1/2024/05/02/"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := DayPrefixes("x/", true, since, since); len(got) != 1 || got[0] != "x/year=2024/month=04/day=30/" {
		t.Errorf("hive: %v", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, k := range []string{"flowlogs/webserver01-1629810635.log.gz", "AWSLogs/1/vpcflowlogs/r/2024/05/01/1_vpcflowlogs_r_fl_20240501T1205Z_h.log.gz",
		"x.json.gz", "-123456789.log", "a_vpcflowlogs_b_c_d_e.log"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		info, ok := Parse(key)
		if !ok {
			return
		}
		base := key[strings.LastIndexByte(key, '/')+1:]
		if strings.HasPrefix(base, ".") {
			t.Fatalf("hidden file %q accepted", key)
		}
		switch info.Layout {
		case IONOS:
			if again, _ := Parse(Format("", info.Name, info.Time.Unix())); again.Time != info.Time || again.Name != info.Name {
				t.Fatalf("%q: %+v does not survive Format: %+v", key, info, again)
			}
		case Other:
			if !info.Time.IsZero() {
				t.Fatalf("%q: other layout with a time", key)
			}
		}
	})
}

func TestHourPrefix(t *testing.T) {
	at := time.Date(2024, 5, 2, 13, 59, 0, 0, time.UTC)
	if got := HourPrefix("AWSLogs/1/vpcflowlogs/eu-west-1", false, at); got != "AWSLogs/1/vpcflowlogs/eu-west-1/2024/05/02/13/" {
		t.Errorf("plain: %s", got)
	}
	if got := HourPrefix("x/aws-region=eu-west-1/", true, at); got != "x/aws-region=eu-west-1/year=2024/month=05/day=02/hour=13/" {
		t.Errorf("hive: %s", got)
	}
	for name, want := range map[string]bool{"00": true, "23": true, "hour=07": true, "24": false, "7": false, "day=02": false, "ab": false} {
		if IsHourFolder(name) != want {
			t.Errorf("IsHourFolder(%q) = %v", name, !want)
		}
	}
}
