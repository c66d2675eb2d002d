package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ErrUnsafe is a setup that would change what flowlog did not make.
var ErrUnsafe = errors.New("not flowlog's")

// Step is one change setup makes, or would make.
type Step struct {
	Method, Path string
	Body         []byte
	Why          string // "create the index template …"; empty: nothing to do
}

// Requests returns every request setup sends on a cluster that has none
// of flowlog's resources (flowlog setup elasticsearch --print).
func Requests(cfg Config) []Step {
	var st []Step
	for _, r := range resources(cfg) {
		b, _ := json.MarshalIndent(r.body, "", "  ")
		st = append(st, Step{Method: "PUT", Path: r.path, Body: b, Why: "create the " + r.kind + " " + r.name})
	}
	return st
}

// Plan compares what the cluster holds with what the configuration wants
// and returns the changes (nothing when up to date). It refuses (ErrUnsafe)
// when a resource of flowlog's name was made by someone else.
func (s *Sink) Plan(ctx context.Context) ([]Step, error) {
	if s.cfg.Target == TargetElasticAWS {
		return nil, s.checkIntegration(ctx)
	}
	var steps []Step
	for _, r := range resources(s.cfg) {
		code, data, err := s.call(ctx, "GET", r.path, nil)
		if err != nil {
			return nil, err
		}
		put := Step{Method: "PUT", Path: r.path}
		put.Body, _ = json.Marshal(r.body)
		switch {
		case code == http.StatusNotFound:
			put.Why = "create the " + r.kind + " " + r.name
			steps = append(steps, put)
			continue
		case code != http.StatusOK:
			return nil, fmt.Errorf("GET %s: %s", r.path, describe(code, data))
		}
		if r.custom {
			continue // the user's: never changed
		}
		m, err := installedMeta(r, data)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.kind, r.name, err)
		}
		want := metaOf(r.body)
		switch {
		case m.ManagedBy != "flowlog":
			return nil, fmt.Errorf("%s %s exists and was not made by flowlog (its _meta.managed_by is %q): delete or rename it, or set setup: false: %w",
				r.kind, r.name, m.ManagedBy, ErrUnsafe)
		case m.Version > templateVersion:
			s.log.Warn("a newer flowlog installed this; left as it is", "resource", r.name, "version", m.Version, "ours", templateVersion)
		case m.Version < templateVersion:
			put.Why = fmt.Sprintf("upgrade the %s %s from version %d to %d", r.kind, r.name, m.Version, templateVersion)
			steps = append(steps, put)
		case m.Hash != want.Hash:
			put.Why = fmt.Sprintf("update the %s %s (its settings changed: retention?)", r.kind, r.name)
			steps = append(steps, put)
		}
	}
	return steps, nil
}

type resourceMeta struct {
	ManagedBy string `json:"managed_by"`
	Version   int    `json:"version"`
	Hash      string `json:"hash"`
}

func metaOf(body map[string]any) resourceMeta {
	m, _ := body["_meta"].(map[string]any)
	if p, ok := body["policy"].(map[string]any); ok {
		m, _ = p["_meta"].(map[string]any)
	}
	var r resourceMeta
	r.ManagedBy, _ = m["managed_by"].(string)
	r.Version, _ = m["version"].(int)
	r.Hash, _ = m["hash"].(string)
	return r
}

// installedMeta reads the _meta of a resource from its GET answer.
func installedMeta(r resource, data []byte) (resourceMeta, error) {
	var m struct {
		Meta resourceMeta `json:"_meta"`
	}
	var err error
	switch {
	case strings.HasPrefix(r.path, "/_ilm/"):
		var a map[string]struct {
			Policy struct {
				Meta resourceMeta `json:"_meta"`
			} `json:"policy"`
		}
		err = json.Unmarshal(data, &a)
		m.Meta = a[r.name].Policy.Meta
	case strings.HasPrefix(r.path, "/_component_template/"):
		m.Meta, err = listedMeta(data, r.name, "component_templates", "component_template")
	default:
		m.Meta, err = listedMeta(data, r.name, "index_templates", "index_template")
	}
	if err != nil {
		return m.Meta, fmt.Errorf("the answer is not Elasticsearch's: %w", err)
	}
	return m.Meta, nil
}

// listedMeta reads the _meta of the template name from a GET answer of
// the form {"<list>": [{"name": …, "<item>": {"_meta": …}}]}.
func listedMeta(data []byte, name, list, item string) (resourceMeta, error) {
	var a map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(data, &a); err != nil {
		return resourceMeta{}, err
	}
	for _, t := range a[list] {
		var n string
		var body struct {
			Meta resourceMeta `json:"_meta"`
		}
		if json.Unmarshal(t["name"], &n) == nil && n == name {
			err := json.Unmarshal(t[item], &body)
			return body.Meta, err
		}
	}
	return resourceMeta{}, nil
}

// checkIntegration makes sure Elastic's AWS integration installed its
// template: documents of target elastic-aws take its mappings.
func (s *Sink) checkIntegration(ctx context.Context) error {
	code, data, err := s.call(ctx, "GET", "/_index_template/logs-"+awsDataset, nil)
	var perm *permanentError
	switch {
	case errors.As(err, &perm) && strings.Contains(perm.msg, "HTTP 403"):
		// Reading templates takes manage_index_templates, which a writer
		// need not have: the integration is assumed.
		s.log.Warn("cannot see whether Elastic's AWS integration is installed (reading index templates needs manage_index_templates); documents go to "+s.ds+" as they are", "err", err)
		return nil
	case err != nil:
		return err
	case code == http.StatusNotFound:
		return fmt.Errorf("target elastic-aws: the index template logs-%s is missing: add Elastic's AWS integration in Kibana (Integrations, AWS, with VPC flow logs) first, or use target: flowlog: %w", awsDataset, ErrUnsafe)
	case code != http.StatusOK:
		return fmt.Errorf("GET /_index_template/logs-%s: %s", awsDataset, describe(code, data))
	}
	return nil
}

// Migrate applies the plan and returns what it changed.
func (s *Sink) Migrate(ctx context.Context) ([]Step, error) {
	steps, err := s.Plan(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range steps {
		code, data, err := s.call(ctx, st.Method, st.Path, st.Body)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("%s %s: %s", st.Method, st.Path, describe(code, data))
		}
		s.log.Info("setup", "change", st.Why)
	}
	if len(steps) > 0 && s.dataStreamExists(ctx) {
		s.log.Info("the data stream exists: new mappings apply from its next rollover (ILM, or POST "+s.ds+"/_rollover now)", "data_stream", s.ds)
	}
	return steps, nil
}

func (s *Sink) dataStreamExists(ctx context.Context) bool {
	code, _, err := s.call(ctx, "GET", "/_data_stream/"+s.ds, nil)
	return err == nil && code == http.StatusOK
}

// Prepare installs the templates and the ILM policy when setup is on (and
// checks, for target elastic-aws, that the integration's are there). It
// fails for what retrying cannot cure (credentials, privileges, a template
// flowlog did not make); an unreachable cluster is tried again before the
// first bulk request.
func (s *Sink) Prepare(ctx context.Context) error {
	err := s.ensureSetup(ctx)
	if err == nil || isPermanent(err) {
		return err
	}
	s.log.Warn("setup postponed: Elasticsearch cannot be reached now; tried again before the first request", "err", err)
	return nil
}

// ensureSetup runs setup once.
func (s *Sink) ensureSetup(ctx context.Context) error {
	if !s.cfg.Setup && s.cfg.Target != TargetElasticAWS {
		return nil
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.setUp {
		return nil
	}
	if _, err := s.Migrate(ctx); err != nil {
		return err
	}
	s.setUp = true
	return nil
}

func isPermanent(err error) bool {
	var p *permanentError
	return errors.Is(err, ErrUnsafe) || errors.As(err, &p)
}

// call sends one request of the index management API and returns the
// status and body (bounded). 401 and 403 are permanent errors.
func (s *Sink) call(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.client.Perform(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		return 0, nil, &permanentError{fmt.Sprintf("%s %s: %s", method, path, describe(res.StatusCode, data))}
	}
	return res.StatusCode, data, nil
}

// Check reaches Elasticsearch: it must be 8.x or newer, and the user must
// hold the privileges the sink needs. It says what is missing.
func (s *Sink) Check(ctx context.Context) error {
	code, data, err := s.call(ctx, "GET", "/", nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET /: %s", describe(code, data))
	}
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return fmt.Errorf("GET /: the answer is not Elasticsearch's: %w", err)
	}
	major, _, _ := strings.Cut(info.Version.Number, ".")
	if n, err := strconv.Atoi(major); err != nil || n < 8 {
		return fmt.Errorf("server version %q: flowlog needs Elasticsearch 8.0 or newer (data streams with create_doc and auto_configure)", clip(info.Version.Number, 40))
	}
	if err := s.checkPrivileges(ctx); err != nil {
		return err
	}
	s.log.Info("Elasticsearch reached", "version", info.Version.Number, "data_stream", s.ds)
	if s.cfg.Setup || s.cfg.Target == TargetElasticAWS {
		steps, err := s.Plan(ctx)
		if err != nil {
			return err
		}
		for _, st := range steps {
			s.log.Info("setup would change", "change", st.Why)
		}
	}
	return nil
}

// Privileges returns what the sink needs: cluster privileges, and index
// privileges on its data stream.
func (s *Sink) Privileges() (cluster, index []string) {
	index = []string{"create_doc", "auto_configure"}
	cluster = []string{"monitor"} // GET /, the version
	if s.cfg.Setup && s.cfg.Target == TargetFlowlog {
		cluster = append(cluster, "manage_index_templates", "manage_ilm")
	}
	return cluster, index
}

func (s *Sink) checkPrivileges(ctx context.Context) error {
	cluster, index := s.Privileges()
	body, _ := json.Marshal(map[string]any{
		"cluster": cluster,
		"index":   []map[string]any{{"names": []string{s.ds}, "privileges": index}},
	})
	code, data, err := s.call(ctx, "POST", "/_security/user/_has_privileges", body)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		if bytes.Contains(data, []byte("security is not enabled")) || bytes.Contains(data, []byte("Security must be explicitly enabled")) {
			s.log.Warn("Elasticsearch runs without security: no privileges to check")
			return nil
		}
		return fmt.Errorf("POST /_security/user/_has_privileges: %s", describe(code, data))
	}
	var ans struct {
		User     string                     `json:"username"`
		All      bool                       `json:"has_all_requested"`
		Cluster  map[string]bool            `json:"cluster"`
		Index    map[string]map[string]bool `json:"index"`
		Reserved json.RawMessage            `json:"application"`
	}
	if err := json.Unmarshal(data, &ans); err != nil {
		return fmt.Errorf("_has_privileges: the answer is not Elasticsearch's: %w", err)
	}
	var missing []string
	for _, p := range cluster {
		if !ans.Cluster[p] {
			missing = append(missing, "cluster privilege "+p)
		}
	}
	for _, p := range index {
		if !ans.Index[s.ds][p] {
			missing = append(missing, "index privilege "+p+" on "+s.ds)
		}
	}
	if len(missing) > 0 || !ans.All {
		if len(missing) == 0 {
			missing = append(missing, "(Elasticsearch says not all are held)")
		}
		return fmt.Errorf("user %q lacks %s: see the README's role definition", clip(ans.User, 100), strings.Join(missing, ", "))
	}
	return nil
}
