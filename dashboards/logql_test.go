package dashboards

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/exporter/sink/loki"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

// Loki's server cannot run here (its licence keeps it out), so the Loki
// dashboard's LogQL is checked by structure: a small parser of the parts of
// LogQL the panels use, against what the Loki sink really writes — the
// label names and values, structured metadata and logfmt keys of the
// entries it pushed into VictoriaLogs (Loki's push API).

// lokiShape is what the sink writes, read back from the receiver.
type lokiShape struct {
	labels   map[string]map[string]bool // stream label → values seen
	metadata map[string]bool
	keys     map[string]map[string]bool // logfmt key → values seen
}

func observeLoki(t *testing.T) lokiShape {
	t.Helper()
	vl := testserver.StartVictoriaLogs(t)
	cfg := loki.DefaultConfig()
	cfg.URL = vl.URL() + "/insert"
	cfg.BatchWait = 100 * time.Millisecond
	s, err := loki.New(cfg, sink.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 2, 2000
	e := sinktest.FullEnrichment(t)
	for _, r := range sinktest.DeliverAll(t, s, sinktest.Objects(t, e, gc, 1000), time.Minute) {
		if r.Status() != sink.Delivered {
			t.Fatalf("delivery: %v", r.Err)
		}
	}
	s.Close(context.Background())
	sh := lokiShape{labels: map[string]map[string]bool{}, metadata: map[string]bool{}, keys: map[string]map[string]bool{}}
	streamRe := regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
	for _, e := range vl.Query("*") {
		inStream := map[string]bool{}
		for _, m := range streamRe.FindAllStringSubmatch(e["_stream"], -1) {
			inStream[m[1]] = true
			if sh.labels[m[1]] == nil {
				sh.labels[m[1]] = map[string]bool{}
			}
			sh.labels[m[1]][m[2]] = true
		}
		for k := range e {
			if !strings.HasPrefix(k, "_") && !inStream[k] {
				sh.metadata[k] = true
			}
		}
		for _, kv := range strings.Fields(e["_msg"]) {
			k, v, _ := strings.Cut(kv, "=")
			if sh.keys[k] == nil {
				sh.keys[k] = map[string]bool{}
			}
			sh.keys[k][v] = true
		}
	}
	for _, want := range []string{"job", "account_id", "interface_id", "action", "log_status"} {
		if sh.labels[want] == nil {
			t.Fatalf("the sink's entries have no %s label: %v", want, sh.labels)
		}
	}
	return sh
}

// TestLokiPanelsIntegration parses every query of the Loki dashboard (and
// its variables) and checks that stream selectors are valid and select
// something the sink writes, that every label filter, grouping label and
// unwrapped key exists where it is used, and that ranges and functions are
// LogQL's.
func TestLokiPanelsIntegration(t *testing.T) {
	sh := observeLoki(t)
	g := readGrafana(t, grafanaDashboards(t)["flowlog-loki.json"])
	vars := map[string]string{"job": "flowlog", "account": ".*", "interface": ".*", "action": ".*", "direction": ".*",
		"scan_min": "10", "__interval": "1m", "__range": "6h", "__auto": "1m"}
	n := 0
	for _, p := range g.Panels {
		for _, q := range p.Targets {
			if q.Expr == "" {
				continue
			}
			n++
			expr := substitute(q.Expr, vars)
			c := &logqlChecker{shape: sh}
			if _, err := c.parse(expr, p.Type == "logs"); err != nil {
				t.Errorf("panel %q: %v\n%s", p.Title, err, expr)
			}
		}
	}
	if n < 15 {
		t.Errorf("only %d LogQL queries checked", n)
	}
	for _, v := range g.Templating.List {
		q, ok := v.Query.(string)
		if !ok || v.Type != "query" {
			continue
		}
		m := regexp.MustCompile(`^label_values\((\{.*\}), (\w+)\)$`).FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q, want label_values({selector}, label)", v.Name, q)
			continue
		}
		c := &logqlChecker{shape: sh}
		if _, err := c.parse(substitute(m[1], vars), true); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
		}
		if sh.labels[m[2]] == nil {
			t.Errorf("variable %s lists label %s, which the sink does not set", v.Name, m[2])
		}
	}

	// The checker refuses what it should.
	for _, bad := range []string{
		`sum by (srcaddr) (count_over_time({job="flowlog"} [1m]))`,                               // srcaddr needs | logfmt
		`sum(count_over_time({job="flowlog", src_addr="x"} [1m]))`,                               // not a label
		`sum(count_over_time({job=~".*"} [1m]))`,                                                 // selects everything
		`sum(count_over_time({job="flowlog", action="DROP"} [1m]))`,                              // no such value
		`sum(sum_over_time({job="flowlog"} | logfmt | unwrap srcaddr [1m]))`,                     // not a number
		`sum(count_over_time({job="flowlog"} | logfmt [1x]))`,                                    // not a range
		`sum(count_over_time({job="flowlog"} | countryy="x" [1m]))`,                              // unknown field
		`count by (srcaddr) (sum by (dstport) (count_over_time({job="flowlog"} | logfmt [1m])))`, // srcaddr was grouped away
		`sum(count_over_time({job="flowlog"} [1m])`,                                              // unbalanced
		`sum(count_over_tim({job="flowlog"} [1m]))`,                                              // no such function
	} {
		c := &logqlChecker{shape: sh}
		if _, err := c.parse(bad, false); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// substitute replaces Grafana variables ($name, ${name}) with values.
func substitute(s string, vars map[string]string) string {
	return regexp.MustCompile(`\$\{?(\w+)\}?`).ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// logqlChecker parses the subset of LogQL the dashboards use:
//
//	expr     = agg | rangeFn | expr cmp number
//	agg      = ("sum"|"count"|"max"|"min"|"avg") [by (labels)] "(" expr ")"
//	         | "topk" "(" number "," expr ")"
//	rangeFn  = ("count_over_time"|"sum_over_time"|"rate") "(" logRange ")"
//	logRange = selector pipeline "[" duration "]"
//	selector = "{" matcher {"," matcher} "}"
//	pipeline = {"|" ("logfmt" | "unwrap" key | name op value | "__error__" op value)}
//
// and returns the labels each expression's series carry.
type logqlChecker struct {
	shape lokiShape
	toks  []string
	pos   int
}

var logqlToken = regexp.MustCompile(`^(\s+|"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|[0-9]+[a-z]*|=~|!~|!=|>=|<=|==|[{}()\[\],|=<>])`)

func (c *logqlChecker) parse(s string, logQuery bool) (map[string]bool, error) {
	c.toks, c.pos = nil, 0
	for len(s) > 0 {
		m := logqlToken.FindString(s)
		if m == "" {
			return nil, fmt.Errorf("cannot read %q", s)
		}
		if strings.TrimSpace(m) != "" {
			c.toks = append(c.toks, m)
		}
		s = s[len(m):]
	}
	var labels map[string]bool
	var err error
	if logQuery {
		labels, _, err = c.logRange(false)
	} else {
		labels, err = c.expr()
	}
	if err == nil && c.pos != len(c.toks) {
		err = fmt.Errorf("unexpected %q", c.toks[c.pos])
	}
	return labels, err
}

func (c *logqlChecker) peek() string {
	if c.pos < len(c.toks) {
		return c.toks[c.pos]
	}
	return ""
}

func (c *logqlChecker) next() string { t := c.peek(); c.pos++; return t }

func (c *logqlChecker) want(tok string) error {
	if got := c.next(); got != tok {
		return fmt.Errorf("want %q, found %q", tok, got)
	}
	return nil
}

func (c *logqlChecker) expr() (map[string]bool, error) {
	labels, err := c.unary()
	if err != nil {
		return nil, err
	}
	if op := c.peek(); op == ">=" || op == "<=" || op == ">" || op == "<" || op == "==" || op == "!=" {
		c.next()
		if _, err := strconv.ParseFloat(c.next(), 64); err != nil {
			return nil, fmt.Errorf("comparison with %q: want a number", c.toks[c.pos-1])
		}
	}
	return labels, nil
}

func (c *logqlChecker) unary() (map[string]bool, error) {
	fn := c.next()
	switch fn {
	case "sum", "count", "max", "min", "avg":
		var by []string
		if c.peek() == "by" {
			c.next()
			var err error
			if by, err = c.labelList(); err != nil {
				return nil, err
			}
		}
		if err := c.want("("); err != nil {
			return nil, err
		}
		inner, err := c.expr()
		if err != nil {
			return nil, err
		}
		if err := c.want(")"); err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, l := range by {
			if !inner[l] {
				return nil, fmt.Errorf("%s by (%s): %s is not a label of the series grouped", fn, strings.Join(by, ", "), l)
			}
			out[l] = true
		}
		return out, nil
	case "topk", "bottomk":
		if err := c.want("("); err != nil {
			return nil, err
		}
		if _, err := strconv.Atoi(c.next()); err != nil {
			return nil, fmt.Errorf("%s: want a count first", fn)
		}
		if err := c.want(","); err != nil {
			return nil, err
		}
		inner, err := c.expr()
		if err != nil {
			return nil, err
		}
		return inner, c.want(")")
	case "count_over_time", "rate", "sum_over_time", "max_over_time", "avg_over_time":
		if err := c.want("("); err != nil {
			return nil, err
		}
		labels, unwrapped, err := c.logRange(true)
		if err != nil {
			return nil, err
		}
		if unwrapped != (fn == "sum_over_time" || fn == "max_over_time" || fn == "avg_over_time") {
			return nil, fmt.Errorf("%s with unwrap %v", fn, unwrapped)
		}
		return labels, c.want(")")
	}
	return nil, fmt.Errorf("unknown function %q", fn)
}

func (c *logqlChecker) labelList() ([]string, error) {
	if err := c.want("("); err != nil {
		return nil, err
	}
	var out []string
	for {
		l := c.next()
		if !isIdent(l) {
			return nil, fmt.Errorf("label list: %q", l)
		}
		out = append(out, l)
		if c.peek() == "," {
			c.next()
			continue
		}
		return out, c.want(")")
	}
}

// logRange reads a selector and pipeline, and a range when ranged; it
// returns the labels of the entries after the pipeline.
func (c *logqlChecker) logRange(ranged bool) (map[string]bool, bool, error) {
	labels, err := c.selector()
	if err != nil {
		return nil, false, err
	}
	for k := range c.shape.metadata {
		labels[k] = true
	}
	unwrapped := false
	for c.peek() == "|" {
		c.next()
		switch stage := c.next(); stage {
		case "logfmt":
			for k := range c.shape.keys {
				labels[k] = true
			}
		case "unwrap":
			key := c.next()
			if !labels[key] || c.shape.keys[key] == nil {
				return nil, false, fmt.Errorf("unwrap %s: not a key of the line (after | logfmt)", key)
			}
			if !numeric(c.shape.keys[key]) {
				return nil, false, fmt.Errorf("unwrap %s: its values are not numbers", key)
			}
			unwrapped = true
		default:
			op, val := c.next(), c.next()
			if !isIdent(stage) || !strings.HasPrefix(val, `"`) || !slices.Contains([]string{"=", "!=", "=~", "!~"}, op) {
				return nil, false, fmt.Errorf("stage | %s %s %s", stage, op, val)
			}
			if stage != "__error__" && !labels[stage] {
				return nil, false, fmt.Errorf("| %s…: %s is neither a label, structured metadata nor (after | logfmt) a key of the line", stage, stage)
			}
			if _, err := matcher(op, val); err != nil {
				return nil, false, err
			}
		}
	}
	if ranged {
		if err := c.want("["); err != nil {
			return nil, false, err
		}
		if d := c.next(); !regexp.MustCompile(`^[0-9]+(ms|s|m|h|d|w|y)$`).MatchString(d) {
			return nil, false, fmt.Errorf("range [%s]: not a duration", d)
		}
		if err := c.want("]"); err != nil {
			return nil, false, err
		}
	}
	return labels, unwrapped, nil
}

// selector reads a stream selector: every label is one the sink sets, a
// matcher with a value selects something the sink writes, and one matcher
// at least does not match the empty value (Loki refuses the query else).
func (c *logqlChecker) selector() (map[string]bool, error) {
	if err := c.want("{"); err != nil {
		return nil, err
	}
	labels := map[string]bool{}
	narrow := false
	for {
		name, op, val := c.next(), c.next(), c.next()
		if !isIdent(name) || !strings.HasPrefix(val, `"`) {
			return nil, fmt.Errorf("matcher %s%s%s", name, op, val)
		}
		seen := c.shape.labels[name]
		if seen == nil {
			return nil, fmt.Errorf("label %s: the sink sets no such label", name)
		}
		match, err := matcher(op, val)
		if err != nil {
			return nil, err
		}
		any := false
		for v := range seen {
			any = any || match(v)
		}
		if !any {
			return nil, fmt.Errorf("%s%s%s matches no value the sink writes", name, op, val)
		}
		narrow = narrow || !match("")
		if c.peek() != "," {
			break
		}
		c.next()
	}
	if err := c.want("}"); err != nil {
		return nil, err
	}
	if !narrow {
		return nil, fmt.Errorf("every matcher of the selector matches the empty value: Loki refuses it")
	}
	for k := range c.shape.labels {
		labels[k] = true
	}
	return labels, nil
}

// matcher returns what a matcher accepts; regexes are anchored, as Loki's.
func matcher(op, quoted string) (func(string) bool, error) {
	val, err := strconv.Unquote(quoted)
	if err != nil {
		return nil, fmt.Errorf("value %s: %v", quoted, err)
	}
	switch op {
	case "=":
		return func(s string) bool { return s == val }, nil
	case "!=":
		return func(s string) bool { return s != val }, nil
	case "=~", "!~":
		re, err := regexp.Compile("^(?:" + val + ")$")
		if err != nil {
			return nil, fmt.Errorf("regex %s: %v", quoted, err)
		}
		if op == "=~" {
			return re.MatchString, nil
		}
		return func(s string) bool { return !re.MatchString(s) }, nil
	}
	return nil, fmt.Errorf("operator %q", op)
}

func numeric(vals map[string]bool) bool {
	n := 0
	for v := range vals {
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			n++
		}
	}
	return n > len(vals)/2
}

func isIdent(s string) bool {
	return s != "" && (unicode.IsLetter(rune(s[0])) || s[0] == '_') &&
		strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' }) < 0
}
