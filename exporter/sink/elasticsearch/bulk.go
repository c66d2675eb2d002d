package elasticsearch

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/flowlog/flowlog/exporter/sink"
)

// request is one bulk request: create actions with their documents, of
// records of one or more objects, and which object part each belongs to.
type request struct {
	body  []byte
	items []item
	parts []*part
	gen   uint64 // which use of this memory: a handle knows a request by it, not by its address
}

// item is one document of a request.
type item struct {
	part       *part
	line       int
	start, end int // its action and document in body
	doc        int // where the document starts
}

// part is what one object has in one request.
type part struct {
	obj *sink.Parts
	res sink.Result
}

func (r *request) reset() {
	r.body, r.items, r.parts = r.body[:0], r.items[:0], r.parts[:0]
}

// appendCreate appends the create action of a document whose _id is id
// (base64url: nothing to escape).
func appendCreate(dst, id []byte) []byte {
	dst = append(dst, `{"create":{"_id":"`...)
	dst = append(dst, id...)
	return append(dst, "\"}}\n"...)
}

// bulkResponse is what the sink reads of a bulk answer (filter_path keeps
// the rest off the wire).
type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []struct {
		Create bulkItem `json:"create"`
	} `json:"items"`
}

type bulkItem struct {
	Status int       `json:"status"`
	Error  *errorObj `json:"error"`
}

// errorObj is Elasticsearch's error object.
type errorObj struct {
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	CausedBy *errorObj `json:"caused_by"`
}

// String says the error in Elasticsearch's words, its cause included,
// cut to a length a log line and a dead letter can carry.
func (e *errorObj) String() string {
	if e == nil {
		return "no reason given"
	}
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil && e.CausedBy.Reason != "" {
		s += " (caused by " + e.CausedBy.Type + ": " + e.CausedBy.Reason + ")"
	}
	return clip(s, 1000)
}

func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// parseBulk reads a bulk answer.
func parseBulk(data []byte) (*bulkResponse, error) {
	var resp bulkResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("bulk: the answer is not Elasticsearch's: %s", clip(err.Error(), 200))
	}
	return &resp, nil
}

// filterPath keeps only what the sink reads in bulk answers.
const filterPath = "errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.type,items.*.error.caused_by.reason"

// errorResponse is the body of a request Elasticsearch refused whole.
type errorResponse struct {
	Error  json.RawMessage `json:"error"`
	Status int             `json:"status"`
}

// describe summarizes a refused request's body: Elasticsearch's error
// when it is one, else the start of the text (a proxy's page).
func describe(status int, body []byte) string {
	var r errorResponse
	if json.Unmarshal(body, &r) == nil && len(r.Error) > 0 {
		var e errorObj
		if json.Unmarshal(r.Error, &e) == nil && e.Type != "" {
			return fmt.Sprintf("HTTP %d: %s", status, e.String())
		}
		var s string
		if json.Unmarshal(r.Error, &s) == nil {
			return fmt.Sprintf("HTTP %d: %s", status, clip(s, 300))
		}
	}
	t := strings.Join(strings.Fields(string(body)), " ")
	if t == "" {
		return fmt.Sprintf("HTTP %d", status)
	}
	return fmt.Sprintf("HTTP %d: %s", status, clip(t, 200))
}
