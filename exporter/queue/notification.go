// Package queue reads S3 bucket notifications from a queue engine, so that
// many exporters share the work of one bucket: each message names objects,
// and is acknowledged only once every sink acknowledged every record of
// them. The queue engines are NATS JetStream (MinIO and other S3 services
// publish there) and SQS (AWS S3, directly or through SNS).
package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Ref is an object a notification names.
type Ref struct {
	Bucket string
	Key    string // decoded
	ETag   string // quoted, as a listing gives it
	Size   int64
	Event  string    // ObjectCreated:Put, …
	Time   time.Time // when the event happened; zero when not given
}

// maxRefs bounds the objects one message may name.
const maxRefs = 1000

// ErrNotNotification is a message that is no S3 notification: it can never
// be delivered (a poison message).
var ErrNotNotification = errors.New("not an S3 bucket notification")

type s3Event struct {
	Records []struct {
		EventName string `json:"eventName"`
		EventTime string `json:"eventTime"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
				ETag string `json:"eTag"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// s3:TestEvent, sent when a notification is set up.
	Event string `json:"Event"`
	// SNS wraps the notification as a string.
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// Parse reads a message body: an S3 event notification (AWS's, MinIO's),
// possibly wrapped by SNS. It returns the objects created; events of other
// kinds (removals, tests) give none and no error. A body that is not a
// notification is ErrNotNotification, with why.
func Parse(body []byte) ([]Ref, error) {
	for range 2 { // SNS wraps once
		var ev s3Event
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotNotification, err)
		}
		if ev.Type == "Notification" && ev.Message != "" && ev.Records == nil {
			body = []byte(ev.Message)
			continue
		}
		if ev.Event == "s3:TestEvent" {
			return nil, nil
		}
		if ev.Records == nil {
			return nil, fmt.Errorf("%w: no Records", ErrNotNotification)
		}
		if len(ev.Records) > maxRefs {
			return nil, fmt.Errorf("%w: %d records, more than %d", ErrNotNotification, len(ev.Records), maxRefs)
		}
		var out []Ref
		for i, r := range ev.Records {
			name := strings.TrimPrefix(r.EventName, "s3:")
			if !strings.HasPrefix(name, "ObjectCreated:") {
				continue
			}
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil || key == "" || r.S3.Bucket.Name == "" {
				return nil, fmt.Errorf("%w: Records[%d]: bucket %q, key %q", ErrNotNotification, i, clip(r.S3.Bucket.Name), clip(r.S3.Object.Key))
			}
			etag := strings.Trim(r.S3.Object.ETag, `"`)
			if etag != "" {
				etag = `"` + etag + `"`
			}
			at, _ := time.Parse(time.RFC3339Nano, r.EventTime)
			out = append(out, Ref{Bucket: r.S3.Bucket.Name, Key: key, ETag: etag, Size: r.S3.Object.Size, Event: name, Time: at})
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: SNS inside SNS", ErrNotNotification)
}

func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
