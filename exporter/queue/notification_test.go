package queue

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const minioEvent = `{"EventName":"s3:ObjectCreated:Put","Key":"flows/logs/web+1%2Bx-1767225600.log.gz","Records":[{"eventVersion":"2.0","eventSource":"minio:s3","eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"flows"},"object":{"key":"logs%2Fweb+1%2Bx-1767225600.log.gz","size":123,"eTag":"0f343b0931126a20f133d67c2b018a3b"}}}]}`

const awsEvent = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"flowlogs"},"object":{"key":"AWSLogs/123/vpcflowlogs/eu-west-1/2024/05/02/123_vpcflowlogs_eu-west-1_fl-1_20240502T1305Z_abc.log.gz","size":4567,"eTag":"\"d41d8cd98f00b204e9800998ecf8427e\""}}},{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"flowlogs"},"object":{"key":"x.log.gz"}}}]}`

func TestParse(t *testing.T) {
	sns, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:eu-west-1:123:flowlogs", "Message": awsEvent})
	for name, c := range map[string]struct {
		body string
		want []Ref
		err  string
	}{
		"minio":     {minioEvent, []Ref{{Bucket: "flows", Key: "logs/web 1+x-1767225600.log.gz", ETag: `"0f343b0931126a20f133d67c2b018a3b"`, Size: 123, Event: "ObjectCreated:Put"}}, ""},
		"aws":       {awsEvent, []Ref{{Bucket: "flowlogs", Key: "AWSLogs/123/vpcflowlogs/eu-west-1/2024/05/02/123_vpcflowlogs_eu-west-1_fl-1_20240502T1305Z_abc.log.gz", ETag: `"d41d8cd98f00b204e9800998ecf8427e"`, Size: 4567, Event: "ObjectCreated:Put"}}, ""},
		"sns":       {string(sns), []Ref{{Bucket: "flowlogs", Key: "AWSLogs/123/vpcflowlogs/eu-west-1/2024/05/02/123_vpcflowlogs_eu-west-1_fl-1_20240502T1305Z_abc.log.gz", ETag: `"d41d8cd98f00b204e9800998ecf8427e"`, Size: 4567, Event: "ObjectCreated:Put"}}, ""},
		"test":      {`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-02T13:05:00Z","Bucket":"flowlogs"}`, nil, ""},
		"removal":   {`{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, nil, ""},
		"not json":  {`hello`, nil, "not an S3 bucket notification"},
		"no recs":   {`{"foo":1}`, nil, "no Records"},
		"bad key":   {`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}`, nil, `key "%zz"`},
		"no bucket": {`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`, nil, `bucket ""`},
	} {
		got, err := Parse([]byte(c.body))
		if c.err != "" {
			if !errors.Is(err, ErrNotNotification) || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want %q", name, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%s: %+v, %v", name, got, err)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %+v, want %+v", name, got[i], c.want[i])
			}
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minioEvent))
	f.Add([]byte(awsEvent))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"x\"}"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		refs, err := Parse(body)
		if err != nil && !errors.Is(err, ErrNotNotification) {
			t.Fatalf("error of another kind: %v", err)
		}
		if len(refs) > maxRefs {
			t.Fatalf("%d refs", len(refs))
		}
		for _, r := range refs {
			if r.Key == "" || r.Bucket == "" {
				t.Fatalf("empty key or bucket: %+v", r)
			}
		}
	})
}
