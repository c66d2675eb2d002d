package loki

import (
	"bytes"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
)

// TestAppendPush: the encoder's bytes are the bytes of the push types' own
// Marshal, whatever the values (empty strings, zero and negative times,
// a stream hash, many entries).
func TestAppendPush(t *testing.T) {
	reqs := []push.PushRequest{
		{},
		{Streams: []push.Stream{{}}},
		{Streams: []push.Stream{{Labels: `{job="flowlog"}`, Hash: 1 << 40, Entries: []push.Entry{
			{Timestamp: time.Unix(0, 0).UTC()},
			{Timestamp: time.Unix(1767225600, 123456789).UTC(), Line: "srcaddr=10.0.0.1 dstaddr=-",
				StructuredMetadata: push.LabelsAdapter{{Name: "event_id", Value: "abc"}, {Name: "empty", Value: ""}, {Name: "", Value: "x"}}},
			{Timestamp: time.Unix(-5, 7).UTC(), Line: string(make([]byte, 300))},
		}}, {Labels: `{job="b"}`, Entries: []push.Entry{{Timestamp: time.Unix(253402300799, 999999999).UTC(), Line: "ü"}}}}},
	}
	for i, req := range reqs {
		want, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := appendPush(nil, &req, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("request %d: %x, want %x", i, got, want)
		}
	}
}

func FuzzAppendPush(f *testing.F) {
	f.Add("{a=\"b\"}", "line", "name", "value", int64(1767225600), int64(123), uint64(0))
	f.Add("", "", "", "", int64(0), int64(0), uint64(1))
	f.Fuzz(func(t *testing.T, labels, line, name, value string, sec, nsec int64, hash uint64) {
		ts := time.Unix(sec%(1<<40), nsec%1e9).UTC()
		req := push.PushRequest{Streams: []push.Stream{{Labels: labels, Hash: hash, Entries: []push.Entry{
			{Timestamp: ts, Line: line, StructuredMetadata: push.LabelsAdapter{{Name: name, Value: value}}},
			{Timestamp: ts, Line: line + line},
		}}}}
		want, err := req.Marshal()
		if err != nil {
			t.Skip()
		}
		got, _ := appendPush(nil, &req, nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("%x, want %x", got, want)
		}
	})
}
