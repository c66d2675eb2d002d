package dashboards

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/flowlog/flowlog/dashboards/build"
	"github.com/flowlog/flowlog/exporter/ecs"
	"github.com/flowlog/flowlog/exporter/sink/elasticsearch"
	"github.com/flowlog/flowlog/exporter/sink/sinktest"
	"github.com/flowlog/flowlog/internal/gen"
)

type kibanaObject struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	References []struct {
		ID, Name, Type string
	} `json:"references"`
}

func readKibana(t *testing.T, name string) []kibanaObject {
	t.Helper()
	b, err := fs.ReadFile(Files(), name)
	if err != nil {
		t.Fatal(err)
	}
	var out []kibanaObject
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o kibanaObject
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("%s line %d: %v", name, len(out)+1, err)
		}
		out = append(out, o)
	}
	return out
}

// documents returns the fields of the documents the Elasticsearch sink
// writes for generated records with every enrichment on, in the default
// (flowlog) or the elastic-aws shape: each field's path and the values seen.
func documents(t *testing.T, aws bool) map[string]map[string]bool {
	t.Helper()
	gc := gen.DefaultConfig()
	gc.Objects, gc.Records = 2, 2000
	cfg := ecs.DefaultConfig()
	if aws {
		cfg = ecs.ElasticAWSConfig()
	}
	enc, err := ecs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]map[string]bool{}
	for _, o := range sinktest.Objects(t, sinktest.FullEnrichment(t), gc, 1000) {
		for _, b := range o.Batches {
			for i := range b.Records {
				r := &b.Records[i]
				var doc map[string]any
				if err := json.Unmarshal(enc.AppendECS(nil, &r.Record, r.ID[:], &r.Enrich), &doc); err != nil {
					t.Fatal(err)
				}
				flatten("", doc, fields)
			}
		}
	}
	return fields
}

func flatten(prefix string, v any, into map[string]map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, v := range x {
			if prefix != "" {
				k = prefix + "." + k
			}
			flatten(k, v, into)
		}
	case []any:
		for _, v := range x {
			flatten(prefix, v, into)
		}
	default:
		if into[prefix] == nil {
			into[prefix] = map[string]bool{}
		}
		into[prefix][fmt.Sprint(x)] = true
	}
}

// TestKibanaObjects checks the saved objects of each target: ids unique,
// references resolved, and every field a data view, visualization, query
// or saved search names is one the sink's documents carry, mapped (by our
// template, or for elastic-aws by Elastic's integration) with a type Lens
// can aggregate where it aggregates and the data type Lens is told; KQL
// values are values the documents hold.
func TestKibanaObjects(t *testing.T) {
	types := map[string]string{}
	for _, f := range elasticsearch.Fields() {
		types[f.Name] = f.Type
	}
	for _, k := range build.KibanaTargets {
		t.Run(k.Prefix, func(t *testing.T) {
			docs := documents(t, k.Types != nil)
			typeOf := func(f string) string {
				if k.Types[f] != "" {
					return k.Types[f]
				}
				return types[f]
			}
			objs := readKibana(t, k.File)
			byID := map[string]kibanaObject{}
			kinds := map[string]int{}
			for _, o := range objs {
				if _, dup := byID[o.ID]; dup || o.ID == "" {
					t.Errorf("id %q missing or used twice", o.ID)
				}
				byID[o.ID] = o
				kinds[o.Type]++
			}
			if kinds["index-pattern"] != 1 || kinds["dashboard"] != 1 || kinds["search"] != 1 || kinds["lens"] < 15 {
				t.Fatalf("objects by type %v", kinds)
			}
			field := func(where, f string, agg bool) {
				t.Helper()
				typ := typeOf(f)
				switch {
				case typ == "":
					t.Errorf("%s: field %s is not mapped", where, f)
				case docs[f] == nil:
					t.Errorf("%s: field %s is in no document the sink writes", where, f)
				case agg && !slices.Contains([]string{"keyword", "constant_keyword", "ip", "long", "date"}, typ):
					t.Errorf("%s: field %s of type %s cannot be aggregated", where, f, typ)
				}
			}
			for _, o := range objs {
				for _, r := range o.References {
					if target, ok := byID[r.ID]; !ok || target.Type != r.Type {
						t.Errorf("%s %s: reference %s to %s %s, which the file does not hold", o.Type, o.ID, r.Name, r.Type, r.ID)
					}
				}
				where := o.Type + " " + o.ID
				switch o.Type {
				case "index-pattern":
					if o.Attributes["title"] != k.Pattern {
						t.Errorf("data view on %v, want %s", o.Attributes["title"], k.Pattern)
					}
					field(where, o.Attributes["timeFieldName"].(string), true)
				case "lens":
					var st struct {
						DatasourceStates struct {
							FormBased struct {
								Layers map[string]struct {
									Columns map[string]struct {
										OperationType, SourceField, DataType string
										Params                               struct {
											SecondaryFields []string
										}
									}
								}
							}
						}
						Query struct{ Query, Language string }
					}
					b, _ := json.Marshal(o.Attributes["state"])
					if err := json.Unmarshal(b, &st); err != nil {
						t.Fatal(err)
					}
					for _, layer := range st.DatasourceStates.FormBased.Layers {
						for id, c := range layer.Columns {
							if c.OperationType == "count" {
								continue
							}
							field(where+" column "+id, c.SourceField, true)
							if want := lensType(typeOf(c.SourceField)); c.OperationType == "terms" && c.DataType != want {
								t.Errorf("%s column %s: data type %s, want %s for %s", where, id, c.DataType, want, c.SourceField)
							}
							for _, f := range c.Params.SecondaryFields {
								field(where+" column "+id, f, true)
							}
						}
					}
					kql(t, where, st.Query.Query, docs, field)
				case "search":
					for _, c := range o.Attributes["columns"].([]any) {
						field(where, c.(string), false)
					}
					var src struct{ Query struct{ Query string } }
					json.Unmarshal([]byte(o.Attributes["kibanaSavedObjectMeta"].(map[string]any)["searchSourceJSON"].(string)), &src)
					kql(t, where, src.Query.Query, docs, field)
				case "dashboard":
					var panels []struct {
						GridData     struct{ X, Y, W, H int }
						PanelRefName string
					}
					if err := json.Unmarshal([]byte(o.Attributes["panelsJSON"].(string)), &panels); err != nil {
						t.Fatal(err)
					}
					if len(panels) != len(o.References) || len(panels) != len(objs)-2 {
						t.Errorf("dashboard: %d panels, %d references, want every visualization and the search", len(panels), len(o.References))
					}
					for _, p := range panels {
						if p.GridData.X+p.GridData.W > 48 || p.GridData.W == 0 {
							t.Errorf("dashboard panel %s: %+v outside Kibana's 48 columns", p.PanelRefName, p.GridData)
						}
					}
				}
			}
		})
	}
}

// kql checks the KQL the objects use: "field : value", "field : *" and
// "field : (a or b)" joined by "and".
func kql(t *testing.T, where, q string, docs map[string]map[string]bool, field func(where, f string, agg bool)) {
	t.Helper()
	if q == "" {
		return
	}
	clause := regexp.MustCompile(`^([\w.@]+) : (\*|[\w.-]+|\(([\w.-]+(?: or [\w.-]+)*)\))$`)
	for _, c := range strings.Split(q, " and ") {
		m := clause.FindStringSubmatch(c)
		if m == nil {
			t.Errorf("%s: query clause %q is not of the forms checked here", where, c)
			continue
		}
		field(where+" query", m[1], false)
		vals := []string{m[2]}
		if m[3] != "" {
			vals = strings.Split(m[3], " or ")
		}
		for _, v := range vals {
			if v != "*" && !docs[m[1]][v] {
				t.Errorf("%s: query %q: no document has %s = %s", where, q, m[1], v)
			}
		}
	}
}

func lensType(esType string) string {
	switch esType {
	case "keyword", "constant_keyword":
		return "string"
	case "long":
		return "number"
	}
	return esType
}
