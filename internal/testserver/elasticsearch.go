package testserver

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Elasticsearch is a small, strict stand-in for Elasticsearch 8: what the
// Elasticsearch sink uses, written from Elasticsearch's REST documentation
// (no Elasticsearch can run on this machine kind). It refuses what the
// real server refuses: an index or update into a data stream, a bulk body
// without its last newline, an unknown action parameter, a document
// without @timestamp in a data stream, a value its mapping cannot take
// (out of the long range, not an address, a constant_keyword of another
// value), a template whose component is missing, and requests without
// valid credentials or privileges when security is on.
//
// Faults are injected with RequestFault (whole bulk requests) and
// ItemFault (single documents).
type Elasticsearch struct {
	t    testing.TB
	opts ESOptions
	addr string
	srv  *http.Server

	mu         sync.Mutex
	ilm        map[string]json.RawMessage
	components map[string]map[string]any
	templates  map[string]map[string]any
	indices    map[string]*esIndex // data streams and plain indices, by name
	dynamic    map[string]bool     // fields mapped dynamically (index/field)
	stats      ESStats
	// RequestFault, when set, is asked before each bulk request: a status
	// other than 0 answers the whole request with it.
	RequestFault func() int
	// ItemFault, when set, is asked for each document about to be created:
	// a status other than 0 answers that item with it instead.
	ItemFault func(id string) int
}

// ESOptions configures the stand-in.
type ESOptions struct {
	// Users, API keys and bearer tokens turn security on: every request
	// must carry one. Nil: security off.
	Users   map[string]ESUser // basic: "name:password"
	APIKeys map[string]ESUser // the encoded key (base64 of id:key)
	Tokens  map[string]ESUser // bearer tokens
	// MaxContentLength is http.max_content_length (default 100 MiB).
	MaxContentLength int
	// Version is the version GET / answers (default 8.19.0).
	Version string
}

// ESUser is who a credential is, and what it may do.
type ESUser struct {
	Name    string
	Cluster []string            // cluster privileges: manage_index_templates, manage_ilm, monitor, all
	Indices map[string][]string // index pattern → privileges: create_doc, auto_configure, read, all
}

// ESStats counts what the stand-in answered.
type ESStats struct {
	BulkRequests int
	Gzip         int         // bulk requests with gzip bodies
	Items        map[int]int // per item status
}

type esIndex struct {
	dataStream bool
	template   string
	mapping    map[string]any // the composed mappings
	docs       map[string]json.RawMessage
	seq        int
}

// StartElasticsearch starts the stand-in on a free loopback port.
func StartElasticsearch(t testing.TB, opts ESOptions) *Elasticsearch {
	t.Helper()
	if opts.MaxContentLength == 0 {
		opts.MaxContentLength = 100 << 20
	}
	if opts.Version == "" {
		opts.Version = "8.19.0"
	}
	e := &Elasticsearch{t: t, opts: opts, ilm: map[string]json.RawMessage{},
		components: map[string]map[string]any{}, templates: map[string]map[string]any{},
		indices: map[string]*esIndex{}, dynamic: map[string]bool{}, stats: ESStats{Items: map[int]int{}}}
	e.addr = "127.0.0.1:" + strconv.Itoa(FreePort(t))
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

// URL is the base URL.
func (e *Elasticsearch) URL() string { return "http://" + e.addr }

// Start (again) listens on the same port; what was stored stays.
func (e *Elasticsearch) Start() {
	e.t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port may linger a moment after Stop
		if l, err = net.Listen("tcp", e.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatalf("elasticsearch stand-in: %v", err)
	}
	e.mu.Lock()
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second}
	srv := e.srv
	e.mu.Unlock()
	go srv.Serve(l)
}

// Handler is the stand-in's HTTP handler, for a test that serves it
// itself (over TLS).
func (e *Elasticsearch) Handler() http.Handler { return http.HandlerFunc(e.serve) }

// Stop closes the listener and every connection.
func (e *Elasticsearch) Stop() {
	e.mu.Lock()
	srv := e.srv
	e.srv = nil
	e.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Stats returns what was answered so far.
func (e *Elasticsearch) Stats() ESStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Items = map[int]int{}
	for k, v := range e.stats.Items {
		s.Items[k] = v
	}
	return s
}

// Docs returns the documents of an index or data stream by _id.
func (e *Elasticsearch) Docs(index string) map[string]json.RawMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]json.RawMessage{}
	if ix := e.indices[index]; ix != nil {
		for id, d := range ix.docs {
			out[id] = d
		}
	}
	return out
}

// DataStream says whether name is a data stream.
func (e *Elasticsearch) DataStream(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ix := e.indices[name]
	return ix != nil && ix.dataStream
}

// DynamicFields lists the fields that were mapped dynamically (no
// template mapped them), as index/field.
func (e *Elasticsearch) DynamicFields() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for f := range e.dynamic {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Template returns a stored index template (nil when missing).
func (e *Elasticsearch) Template(name string) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.templates[name]
}

// Component returns a stored component template (nil when missing).
func (e *Elasticsearch) Component(name string) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.components[name]
}

// PutComponent stores a component template as a user would.
func (e *Elasticsearch) PutComponent(name string, body map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.components[name] = body
}

type esError struct {
	status int
	typ    string
	reason string
}

func (x *esError) body() map[string]any {
	cause := map[string]any{"type": x.typ, "reason": x.reason}
	return map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": x.typ, "reason": x.reason}, "status": x.status}
}

func (e *Elasticsearch) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (e *Elasticsearch) fail(w http.ResponseWriter, x *esError) {
	if x.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
	}
	e.reply(w, x.status, x.body())
}

func (e *Elasticsearch) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	user, x := e.authenticate(r)
	if x != nil {
		e.fail(w, x)
		return
	}
	if r.ContentLength > int64(e.opts.MaxContentLength) {
		e.fail(w, &esError{413, "content_too_long_exception", "request body is too large"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(e.opts.MaxContentLength)+1))
	if err != nil {
		return
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			e.fail(w, &esError{400, "parse_exception", "request body is not gzip"})
			return
		}
		body, err = io.ReadAll(io.LimitReader(zr, int64(e.opts.MaxContentLength)+1))
		if err != nil {
			e.fail(w, &esError{400, "parse_exception", "request body is not gzip"})
			return
		}
		if r.URL.Path != "/" && strings.HasSuffix(r.URL.Path, "/_bulk") {
			e.mu.Lock()
			e.stats.Gzip++
			e.mu.Unlock()
		}
	}
	if len(body) > e.opts.MaxContentLength {
		e.fail(w, &esError{413, "content_too_long_exception", "request body is too large"})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		if !user.hasCluster("monitor") {
			e.fail(w, forbidden(user, "cluster:monitor/main"))
			return
		}
		e.reply(w, 200, map[string]any{"name": "flowlog-stand-in", "cluster_name": "stand-in",
			"version": map[string]any{"number": e.opts.Version, "build_flavor": "default"}, "tagline": "You Know, for Search"})
	case len(parts) == 3 && parts[0] == "_ilm" && parts[1] == "policy":
		e.serveILM(w, r, user, parts[2], body)
	case len(parts) == 2 && parts[0] == "_component_template":
		e.serveComponent(w, r, user, parts[1], body)
	case len(parts) == 2 && parts[0] == "_index_template":
		e.serveTemplate(w, r, user, parts[1], body)
	case len(parts) == 2 && parts[0] == "_data_stream" && r.Method == http.MethodGet:
		e.serveDataStream(w, parts[1])
	case len(parts) == 3 && parts[0] == "_security" && parts[2] == "_has_privileges" && r.Method == http.MethodPost:
		e.servePrivileges(w, user, body)
	case len(parts) == 2 && parts[1] == "_bulk" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		e.serveBulk(w, r, user, parts[0], body)
	case len(parts) == 2 && parts[1] == "_search" && (r.Method == http.MethodPost || r.Method == http.MethodGet):
		e.serveSearch(w, parts[0], body)
	case len(parts) == 2 && parts[1] == "_refresh":
		e.reply(w, 200, map[string]any{"_shards": map[string]any{"total": 1, "successful": 1, "failed": 0}})
	default:
		e.fail(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.Path, r.Method)})
	}
}

// authenticate returns the user of the request's credentials (nil when
// security is off).
func (e *Elasticsearch) authenticate(r *http.Request) (*ESUser, *esError) {
	if e.opts.Users == nil && e.opts.APIKeys == nil && e.opts.Tokens == nil {
		return nil, nil
	}
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	var u ESUser
	var ok bool
	switch strings.ToLower(scheme) {
	case "basic":
		dec, err := base64.StdEncoding.DecodeString(cred)
		if err == nil {
			u, ok = e.opts.Users[string(dec)]
		}
	case "apikey":
		u, ok = e.opts.APIKeys[cred]
	case "bearer":
		u, ok = e.opts.Tokens[cred]
	case "":
		return nil, &esError{401, "security_exception", "missing authentication credentials for REST request [" + r.URL.Path + "]"}
	}
	if !ok {
		return nil, &esError{401, "security_exception", "unable to authenticate with provided credentials and anonymous access is not allowed for this request"}
	}
	return &u, nil
}

func (u *ESUser) hasCluster(p string) bool {
	return u == nil || slices.Contains(u.Cluster, p) || slices.Contains(u.Cluster, "all")
}

func (u *ESUser) hasIndex(index, p string) bool {
	if u == nil {
		return true
	}
	for pat, privs := range u.Indices {
		if m, _ := path.Match(pat, index); m && (slices.Contains(privs, p) || slices.Contains(privs, "all")) {
			return true
		}
	}
	return false
}

func forbidden(u *ESUser, action string) *esError {
	return &esError{403, "security_exception", fmt.Sprintf("action [%s] is unauthorized for user [%s] with effective roles [flowlog]", action, u.Name)}
}

func notFound(what, name string) *esError {
	return &esError{404, "resource_not_found_exception", what + " [" + name + "] not found"}
}

func (e *Elasticsearch) serveILM(w http.ResponseWriter, r *http.Request, u *ESUser, name string, body []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		if !u.hasCluster("manage_ilm") && !u.hasCluster("read_ilm") {
			e.fail(w, forbidden(u, "cluster:admin/ilm/get"))
			return
		}
		p, ok := e.ilm[name]
		if !ok {
			e.fail(w, notFound("Lifecycle policy", name))
			return
		}
		e.reply(w, 200, map[string]any{name: map[string]any{"version": 1, "modified_date": "2026-01-01T00:00:00.000Z", "policy": p}})
	case http.MethodPut:
		if !u.hasCluster("manage_ilm") {
			e.fail(w, forbidden(u, "cluster:admin/ilm/put"))
			return
		}
		var req struct {
			Policy map[string]json.RawMessage `json:"policy"`
		}
		if err := strictJSON(body, &req); err != nil || req.Policy == nil || req.Policy["phases"] == nil {
			e.fail(w, &esError{400, "x_content_parse_exception", "[put_lifecycle_request] policy with phases required"})
			return
		}
		for k := range req.Policy {
			if k != "phases" && k != "_meta" {
				e.fail(w, &esError{400, "x_content_parse_exception", "[lifecycle_policy] unknown field [" + k + "]"})
				return
			}
		}
		raw, _ := json.Marshal(req.Policy)
		e.ilm[name] = raw
		e.reply(w, 200, map[string]any{"acknowledged": true})
	default:
		e.fail(w, &esError{405, "illegal_argument_exception", "method not allowed"})
	}
}

func (e *Elasticsearch) serveComponent(w http.ResponseWriter, r *http.Request, u *ESUser, name string, body []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		if !u.hasCluster("manage_index_templates") && !u.hasCluster("manage") {
			e.fail(w, forbidden(u, "cluster:admin/component_template/get"))
			return
		}
		c, ok := e.components[name]
		if !ok {
			e.fail(w, notFound("component template matching", name))
			return
		}
		e.reply(w, 200, map[string]any{"component_templates": []any{map[string]any{"name": name, "component_template": c}}})
	case http.MethodPut:
		if !u.hasCluster("manage_index_templates") {
			e.fail(w, forbidden(u, "cluster:admin/component_template/put"))
			return
		}
		var c map[string]any
		if err := strictJSON(body, &c); err != nil {
			e.fail(w, &esError{400, "x_content_parse_exception", err.Error()})
			return
		}
		if _, ok := c["template"].(map[string]any); !ok {
			e.fail(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: template is missing;"})
			return
		}
		for k := range c {
			if k != "template" && k != "_meta" && k != "version" {
				e.fail(w, &esError{400, "x_content_parse_exception", "[component_template] unknown field [" + k + "]"})
				return
			}
		}
		e.components[name] = c
		e.reply(w, 200, map[string]any{"acknowledged": true})
	default:
		e.fail(w, &esError{405, "illegal_argument_exception", "method not allowed"})
	}
}

func (e *Elasticsearch) serveTemplate(w http.ResponseWriter, r *http.Request, u *ESUser, name string, body []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		if !u.hasCluster("manage_index_templates") && !u.hasCluster("manage") {
			e.fail(w, forbidden(u, "indices:admin/index_template/get"))
			return
		}
		c, ok := e.templates[name]
		if !ok {
			e.fail(w, notFound("index template matching", name))
			return
		}
		e.reply(w, 200, map[string]any{"index_templates": []any{map[string]any{"name": name, "index_template": c}}})
	case http.MethodPut:
		if !u.hasCluster("manage_index_templates") {
			e.fail(w, forbidden(u, "indices:admin/index_template/put"))
			return
		}
		var c map[string]any
		if err := strictJSON(body, &c); err != nil {
			e.fail(w, &esError{400, "x_content_parse_exception", err.Error()})
			return
		}
		known := []string{"index_patterns", "composed_of", "template", "priority", "version", "_meta", "data_stream", "ignore_missing_component_templates", "allow_auto_create"}
		for k := range c {
			if !slices.Contains(known, k) {
				e.fail(w, &esError{400, "x_content_parse_exception", "[index_template] unknown field [" + k + "]"})
				return
			}
		}
		if pats, _ := c["index_patterns"].([]any); len(pats) == 0 {
			e.fail(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"})
			return
		}
		ignore, _ := c["ignore_missing_component_templates"].([]any)
		comps, _ := c["composed_of"].([]any)
		for _, cn := range comps {
			n, _ := cn.(string)
			if _, ok := e.components[n]; !ok && !slices.Contains(ignore, cn) {
				e.fail(w, &esError{400, "invalid_index_template_exception", "index_template [" + name + "] invalid, cause [index template [" + name + "] specifies component templates [" + n + "] that do not exist]"})
				return
			}
		}
		e.templates[name] = c
		e.reply(w, 200, map[string]any{"acknowledged": true})
	default:
		e.fail(w, &esError{405, "illegal_argument_exception", "method not allowed"})
	}
}

func (e *Elasticsearch) serveDataStream(w http.ResponseWriter, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ix := e.indices[name]
	if ix == nil || !ix.dataStream {
		e.fail(w, &esError{404, "index_not_found_exception", "no such index [" + name + "]"})
		return
	}
	e.reply(w, 200, map[string]any{"data_streams": []any{map[string]any{"name": name, "template": ix.template,
		"timestamp_field": map[string]any{"name": "@timestamp"}, "indices": []any{map[string]any{"index_name": ".ds-" + name + "-000001"}}}}})
}

func (e *Elasticsearch) servePrivileges(w http.ResponseWriter, u *ESUser, body []byte) {
	if u == nil {
		e.fail(w, &esError{500, "security_exception", "Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node."})
		return
	}
	var req struct {
		Cluster []string `json:"cluster"`
		Index   []struct {
			Names      []string `json:"names"`
			Privileges []string `json:"privileges"`
		} `json:"index"`
	}
	if err := strictJSON(body, &req); err != nil {
		e.fail(w, &esError{400, "x_content_parse_exception", err.Error()})
		return
	}
	all := true
	cluster := map[string]bool{}
	for _, p := range req.Cluster {
		cluster[p] = u.hasCluster(p)
		all = all && cluster[p]
	}
	index := map[string]map[string]bool{}
	for _, ix := range req.Index {
		for _, n := range ix.Names {
			if index[n] == nil {
				index[n] = map[string]bool{}
			}
			for _, p := range ix.Privileges {
				index[n][p] = u.hasIndex(n, p)
				all = all && index[n][p]
			}
		}
	}
	e.reply(w, 200, map[string]any{"username": u.Name, "has_all_requested": all, "cluster": cluster, "index": index, "application": map[string]any{}})
}

// serveBulk answers a bulk request item by item.
func (e *Elasticsearch) serveBulk(w http.ResponseWriter, r *http.Request, u *ESUser, target string, body []byte) {
	ct := r.Header.Get("Content-Type")
	if !strings.Contains(ct, "json") {
		e.fail(w, &esError{406, "illegal_argument_exception", "Content-Type header [" + ct + "] is not supported"})
		return
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		e.fail(w, &esError{400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"})
		return
	}
	for k := range r.URL.Query() {
		if !slices.Contains([]string{"filter_path", "pipeline", "refresh", "routing", "timeout", "wait_for_active_shards", "require_alias", "require_data_stream", "error_trace", "pretty", "human"}, k) {
			e.fail(w, &esError{400, "illegal_argument_exception", "request [" + r.URL.Path + "] contains unrecognized parameter: [" + k + "]"})
			return
		}
	}
	e.mu.Lock()
	e.stats.BulkRequests++
	fault := e.RequestFault
	e.mu.Unlock()
	if fault != nil {
		if st := fault(); st != 0 {
			typ := "es_rejected_execution_exception"
			if st >= 500 {
				typ = "node_not_connected_exception"
			}
			e.fail(w, &esError{st, typ, "injected fault"})
			return
		}
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	var items []any
	hasErrors := false
	for i := 0; i < len(lines); i++ {
		var action map[string]map[string]json.RawMessage
		if err := strictJSON(lines[i], &action); err != nil || len(action) != 1 {
			e.fail(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT", i+1)})
			return
		}
		var op string
		var meta map[string]json.RawMessage
		for op, meta = range action {
		}
		for k := range meta {
			if k != "_id" && k != "_index" && k != "require_alias" && k != "pipeline" {
				e.fail(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("Action/metadata line [%d] contains an unknown parameter [%s]", i+1, k)})
				return
			}
		}
		switch op {
		case "create", "index", "update":
			if i+1 >= len(lines) {
				e.fail(w, &esError{400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"})
				return
			}
			i++
		case "delete":
		default:
			e.fail(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", i+1, op)})
			return
		}
		index := target
		if raw, ok := meta["_index"]; ok {
			json.Unmarshal(raw, &index)
		}
		var id string
		if raw, ok := meta["_id"]; ok {
			json.Unmarshal(raw, &id)
		}
		status, res, x := e.write(u, op, index, id, lines[i])
		item := map[string]any{"_index": index, "status": status}
		if id != "" || res != "" {
			item["_id"] = id
		}
		if x != nil {
			hasErrors = true
			item["error"] = map[string]any{"type": x.typ, "reason": x.reason}
		} else {
			item["result"] = res
			item["_version"] = 1
		}
		items = append(items, map[string]any{op: item})
	}
	e.reply(w, 200, map[string]any{"took": 1, "errors": hasErrors, "items": items})
}

// write performs one bulk item.
func (e *Elasticsearch) write(u *ESUser, op, index, id string, doc []byte) (int, string, *esError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	count := func(st int) { e.stats.Items[st]++ }
	if index == "" {
		count(400)
		return 400, "", &esError{400, "action_request_validation_exception", "Validation Failed: 1: index is missing;"}
	}
	ix := e.indices[index]
	if ix == nil {
		if !u.hasIndex(index, "auto_configure") && !u.hasIndex(index, "create_index") {
			count(403)
			return 403, "", forbidden(u, "indices:admin/auto_create")
		}
		ix = e.create(index)
	}
	if ix.dataStream && op != "create" {
		count(400)
		return 400, "", &esError{400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams"}
	}
	if op != "create" && op != "index" {
		count(400)
		return 400, "", &esError{400, "illegal_argument_exception", "the stand-in takes create and index only"}
	}
	if !u.hasIndex(index, "create_doc") && !u.hasIndex(index, "index") && !u.hasIndex(index, "write") {
		count(403)
		return 403, "", forbidden(u, "indices:data/write/bulk[s]")
	}
	if e.ItemFault != nil && id != "" {
		if st := e.ItemFault(id); st != 0 {
			count(st)
			typ := "es_rejected_execution_exception"
			if st >= 500 {
				typ = "unavailable_shards_exception"
			}
			if st == 400 {
				typ = "document_parsing_exception"
			}
			return st, "", &esError{st, typ, "injected fault"}
		}
	}
	var src map[string]any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&src); err != nil || src == nil {
		count(400)
		return 400, "", &esError{400, "document_parsing_exception", "[1:1] failed to parse: not a JSON object"}
	}
	if ix.dataStream {
		if _, ok := src["@timestamp"]; !ok {
			count(400)
			return 400, "", &esError{400, "document_parsing_exception", "[1:1] failed to parse: data stream timestamp field [@timestamp] is missing"}
		}
	}
	if x := e.checkMapping(index, ix.mapping, "", src); x != nil {
		count(400)
		return 400, "", x
	}
	if id == "" {
		ix.seq++
		id = fmt.Sprintf("auto-%d", ix.seq)
	}
	if _, ok := ix.docs[id]; ok && op == "create" {
		count(409)
		return 409, "", &esError{409, "version_conflict_engine_exception", "[" + id + "]: version conflict, document already exists (current version [1])"}
	}
	ix.docs[id] = json.RawMessage(bytes.Clone(doc))
	count(201)
	return 201, "created", nil
}

// create makes an index or data stream for a first write, from the
// matching index template of highest priority.
func (e *Elasticsearch) create(name string) *esIndex {
	ix := &esIndex{docs: map[string]json.RawMessage{}, mapping: map[string]any{}}
	best, bestPrio := "", -1.0
	for tn, t := range e.templates {
		pats, _ := t["index_patterns"].([]any)
		for _, p := range pats {
			ps, _ := p.(string)
			if m, _ := path.Match(ps, name); m {
				prio, _ := t["priority"].(float64)
				if prio > bestPrio {
					best, bestPrio = tn, prio
				}
			}
		}
	}
	if best != "" {
		t := e.templates[best]
		ix.template = best
		_, ix.dataStream = t["data_stream"].(map[string]any)
		comps, _ := t["composed_of"].([]any)
		for _, c := range comps {
			cn, _ := c.(string)
			if ct, ok := e.components[cn]; ok {
				tpl, _ := ct["template"].(map[string]any)
				mergeMapping(ix.mapping, tpl)
			}
		}
		tpl, _ := t["template"].(map[string]any)
		mergeMapping(ix.mapping, tpl)
	}
	e.indices[name] = ix
	return ix
}

// mergeMapping merges a template's mappings into m (later wins).
func mergeMapping(m map[string]any, tpl map[string]any) {
	mp, _ := tpl["mappings"].(map[string]any)
	var merge func(dst, src map[string]any)
	merge = func(dst, src map[string]any) {
		for k, v := range src {
			if sv, ok := v.(map[string]any); ok {
				if dv, ok := dst[k].(map[string]any); ok {
					merge(dv, sv)
					continue
				}
				cp := map[string]any{}
				merge(cp, sv)
				dst[k] = cp
				continue
			}
			dst[k] = v
		}
	}
	merge(m, mp)
}

// checkMapping checks an object's fields against the mapping's properties.
// A field the mapping does not know is mapped dynamically (recorded),
// ignored (dynamic false) or refused (strict).
func (e *Elasticsearch) checkMapping(index string, mapping map[string]any, prefix string, obj map[string]any) *esError {
	props, _ := mapping["properties"].(map[string]any)
	dynamic := fmt.Sprint(mapping["dynamic"])
	for k, v := range obj {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		fm, ok := props[k].(map[string]any)
		if !ok {
			switch dynamic {
			case "false":
				continue
			case "strict":
				return &esError{400, "strict_dynamic_mapping_exception", "[1:1] mapping set to strict, dynamic introduction of [" + k + "] within [" + prefix + "] is not allowed"}
			}
			if sub, isObj := v.(map[string]any); isObj {
				if x := e.checkMapping(index, map[string]any{}, name, sub); x != nil {
					return x
				}
				continue
			}
			e.dynamic[index+"/"+name] = true
			continue
		}
		typ, _ := fm["type"].(string)
		if typ == "" || typ == "object" {
			if _, hasProps := fm["properties"]; hasProps || typ == "object" {
				sub, isObj := v.(map[string]any)
				if !isObj {
					if v == nil {
						continue
					}
					return &esError{400, "document_parsing_exception", "[1:1] object mapping for [" + name + "] tried to parse field [" + k + "] as object, but found a concrete value"}
				}
				if fmt.Sprint(fm["dynamic"]) == "<nil>" {
					fm = withDynamic(fm, dynamic)
				}
				if x := e.checkMapping(index, fm, name, sub); x != nil {
					return x
				}
				continue
			}
		}
		values := []any{v}
		if arr, isArr := v.([]any); isArr {
			values = arr
		}
		for _, val := range values {
			if x := checkValue(name, typ, fm, val); x != nil {
				return x
			}
		}
	}
	return nil
}

func withDynamic(fm map[string]any, dynamic string) map[string]any {
	cp := map[string]any{}
	for k, v := range fm {
		cp[k] = v
	}
	switch dynamic {
	case "false":
		cp["dynamic"] = false
	case "strict":
		cp["dynamic"] = "strict"
	}
	return cp
}

// checkValue checks one value against a field type, as Elasticsearch's
// field mappers do (with their coercion of numeric strings).
func checkValue(name, typ string, fm map[string]any, v any) *esError {
	if v == nil {
		return nil
	}
	bad := func(why string) *esError {
		return &esError{400, "document_parsing_exception", fmt.Sprintf("[1:1] failed to parse field [%s] of type [%s] in document: %s", name, typ, why)}
	}
	str := func() (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	switch typ {
	case "keyword", "text", "match_only_text", "wildcard":
		if _, ok := str(); !ok {
			return bad("a keyword takes strings, numbers and booleans")
		}
	case "constant_keyword":
		s, ok := str()
		if !ok {
			return bad("not a string")
		}
		if want, set := fm["value"].(string); set && s != want {
			return &esError{400, "document_parsing_exception", fmt.Sprintf("[1:1] failed to parse field [%s] of type [constant_keyword]: [constant_keyword] field [%s] only accepts values that are equal to the value defined in the mappings [%s], but got [%s]", name, name, want, s)}
		}
	case "long", "integer", "short", "byte":
		s, ok := str()
		if !ok {
			return bad("not a number")
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f >= math.MaxInt64 || f < math.MinInt64 {
				return bad(fmt.Sprintf("Value [%s] is out of range for a long", s))
			}
		}
	case "ip":
		s, ok := v.(string)
		if !ok {
			return bad("not a string")
		}
		if _, err := netip.ParseAddr(s); err != nil {
			return bad("'" + s + "' is not an IP string literal.")
		}
	case "date":
		switch x := v.(type) {
		case string:
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				return bad("failed to parse date field [" + x + "] with format [strict_date_optional_time||epoch_millis]")
			}
		case json.Number:
		default:
			return bad("not a date")
		}
	case "geo_point":
		o, ok := v.(map[string]any)
		if !ok {
			return bad("want an object with lat and lon")
		}
		lat, e1 := toFloat(o["lat"])
		lon, e2 := toFloat(o["lon"])
		if e1 != nil || e2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return bad("lat and lon out of range")
		}
	default:
		return bad("the stand-in does not know type " + typ)
	}
	return nil
}

func toFloat(v any) (float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("not a number")
	}
	return n.Float64()
}

// serveSearch answers an ids query with the documents' ids, and
// track_total_hits counts.
func (e *Elasticsearch) serveSearch(w http.ResponseWriter, index string, body []byte) {
	var q struct {
		Query struct {
			IDs struct {
				Values []string `json:"values"`
			} `json:"ids"`
		} `json:"query"`
		Size        int      `json:"size"`
		Source      bool     `json:"_source"`
		SearchAfter []string `json:"search_after"`
	}
	json.Unmarshal(body, &q)
	e.mu.Lock()
	defer e.mu.Unlock()
	ix := e.indices[index]
	if ix == nil {
		e.fail(w, &esError{404, "index_not_found_exception", "no such index [" + index + "]"})
		return
	}
	ids := q.Query.IDs.Values
	if ids == nil { // match_all
		for id := range ix.docs {
			ids = append(ids, id)
		}
		sort.Strings(ids) // the sort on event.id: the sink's _id is its event.id
		if len(q.SearchAfter) == 1 {
			i := sort.SearchStrings(ids, q.SearchAfter[0])
			if i < len(ids) && ids[i] == q.SearchAfter[0] {
				i++
			}
			ids = ids[i:]
		}
	}
	hits := []any{}
	for _, id := range ids {
		if _, ok := ix.docs[id]; ok && len(hits) < q.Size {
			hits = append(hits, map[string]any{"_index": ".ds-" + index + "-000001", "_id": id})
		}
	}
	e.reply(w, 200, map[string]any{"hits": map[string]any{"total": map[string]any{"value": len(ix.docs), "relation": "eq"}, "hits": hits}})
}

// strictJSON decodes one JSON value, refusing trailing data.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}
