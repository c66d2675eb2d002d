package elasticsearch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// templateVersion is the version of the index management flowlog installs.
// Raise it when a mapping, setting or policy changes: setup upgrades
// resources of a lower version and leaves a higher one (a newer flowlog's)
// alone.
const templateVersion = 1

// Names of the resources, for the data set flowlog.flows.
const (
	dataset         = "flowlog.flows"
	indexTemplate   = "logs-" + dataset
	packageTemplate = "logs-" + dataset + "@package"
	customTemplate  = "logs-" + dataset + "@custom"
	ilmPolicy       = "logs-" + dataset
	// awsDataset is Elastic's AWS integration's data set (target elastic-aws).
	awsDataset = "aws.vpcflow"
)

// Field is one field of our documents and its Elasticsearch type.
type Field struct {
	Name string // dotted path
	Type string // ip, keyword, long, date, geo_point, constant_keyword
}

// endpoint lists the fields of source or destination.
func endpoint(p string, counters bool) []Field {
	f := []Field{
		{p + ".ip", "ip"}, {p + ".address", "keyword"}, {p + ".port", "long"},
		{p + ".geo.continent_code", "keyword"}, {p + ".geo.country_iso_code", "keyword"},
		{p + ".geo.country_name", "keyword"}, {p + ".geo.city_name", "keyword"},
		{p + ".geo.location", "geo_point"},
		{p + ".as.number", "long"}, {p + ".as.organization.name", "keyword"},
	}
	if counters {
		f = append(f, Field{p + ".packets", "long"}, Field{p + ".bytes", "long"})
	}
	return f
}

// Fields returns every field the ECS encoder can write (DESIGN.md §4), with
// its type. The columns of AWS versions 3 to 8 are flowlog.<snake_case>;
// columns flowlog does not know have no mapping: they stay in _source.
func Fields() []Field {
	f := []Field{
		{"@timestamp", "date"},
		{"ecs.version", "keyword"},
		{"event.kind", "keyword"}, {"event.category", "keyword"}, {"event.dataset", "constant_keyword"},
		{"event.id", "keyword"}, {"event.type", "keyword"}, {"event.action", "keyword"},
		{"event.outcome", "keyword"}, {"event.start", "date"}, {"event.end", "date"},
	}
	f = append(f, endpoint("source", true)...)
	f = append(f, endpoint("destination", false)...)
	f = append(f,
		Field{"network.type", "keyword"}, Field{"network.iana_number", "keyword"}, Field{"network.transport", "keyword"},
		Field{"network.packets", "long"}, Field{"network.bytes", "long"}, Field{"network.community_id", "keyword"},
		Field{"network.direction", "keyword"}, Field{"network.protocol", "keyword"},
		Field{"related.ip", "ip"},
		Field{"cloud.account.id", "keyword"}, Field{"cloud.instance.id", "keyword"}, Field{"cloud.region", "keyword"},
		Field{"host.name", "keyword"}, Field{"tags", "keyword"},
		Field{"labels.interface_name", "keyword"}, Field{"labels.data_center", "keyword"},
		Field{"flowlog.version", "long"}, Field{"flowlog.interface_id", "keyword"}, Field{"flowlog.log_status", "keyword"},
		Field{"flowlog.source_class", "keyword"}, Field{"flowlog.destination_class", "keyword"},
		// AWS versions 3 to 8
		Field{"flowlog.vpc_id", "keyword"}, Field{"flowlog.subnet_id", "keyword"}, Field{"flowlog.tcp_flags", "long"},
		Field{"flowlog.type", "keyword"}, Field{"flowlog.pkt_srcaddr", "ip"}, Field{"flowlog.pkt_dstaddr", "ip"},
		Field{"flowlog.az_id", "keyword"}, Field{"flowlog.sublocation_type", "keyword"}, Field{"flowlog.sublocation_id", "keyword"},
		Field{"flowlog.pkt_src_aws_service", "keyword"}, Field{"flowlog.pkt_dst_aws_service", "keyword"},
		Field{"flowlog.flow_direction", "keyword"}, Field{"flowlog.traffic_path", "long"},
		Field{"flowlog.ecs_cluster_arn", "keyword"}, Field{"flowlog.ecs_cluster_name", "keyword"},
		Field{"flowlog.ecs_container_instance_arn", "keyword"}, Field{"flowlog.ecs_container_instance_id", "keyword"},
		Field{"flowlog.ecs_container_id", "keyword"}, Field{"flowlog.ecs_second_container_id", "keyword"},
		Field{"flowlog.ecs_service_name", "keyword"}, Field{"flowlog.ecs_task_definition_arn", "keyword"},
		Field{"flowlog.ecs_task_arn", "keyword"}, Field{"flowlog.ecs_task_id", "keyword"},
		Field{"flowlog.reject_reason", "keyword"},
	)
	return f
}

// Mapping returns the mappings of the @package component template:
// dynamic off (a field not listed is kept in _source, never guessed), and
// each field with its type.
func Mapping() map[string]any {
	root := map[string]any{}
	for _, f := range Fields() {
		props := root
		parts := strings.Split(f.Name, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := props[p].(map[string]any)
			if !ok {
				next = map[string]any{"properties": map[string]any{}}
				props[p] = next
			}
			props = next["properties"].(map[string]any)
		}
		m := map[string]any{"type": f.Type}
		switch f.Type {
		case "keyword":
			m["ignore_above"] = 1024
		case "constant_keyword":
			m["value"] = dataset
		}
		props[parts[len(parts)-1]] = m
	}
	return map[string]any{"dynamic": false, "properties": root}
}

// resource is one thing setup installs: its API path and body.
type resource struct {
	kind string // component template, index template, ILM policy
	name string
	path string // the API path of GET and PUT
	body map[string]any
	// custom is the user's resource: created empty when missing, never changed.
	custom bool
}

// meta marks a resource as flowlog's, with its version and a hash of what
// it holds (so a change of retention is an upgrade too).
func meta(body map[string]any) map[string]any {
	b, _ := json.Marshal(body) // maps of plain values: cannot fail
	sum := sha256.Sum256(b)
	return map[string]any{"managed_by": "flowlog", "version": templateVersion, "hash": hex.EncodeToString(sum[:8])}
}

// resources returns what setup installs for cfg, in the order it installs
// them (a template's parts before the template).
func resources(cfg Config) []resource {
	pol := map[string]any{"phases": map[string]any{
		"hot": map[string]any{"actions": map[string]any{"rollover": map[string]any{
			"max_primary_shard_size": "50gb", "max_age": "30d"}}},
	}}
	if cfg.RetentionDays > 0 {
		pol["phases"].(map[string]any)["delete"] = map[string]any{
			"min_age": fmt.Sprintf("%dd", cfg.RetentionDays), "actions": map[string]any{"delete": map[string]any{}}}
	}
	pol["_meta"] = meta(pol)

	pkg := map[string]any{"template": map[string]any{
		"settings": map[string]any{"index": map[string]any{"lifecycle": map[string]any{"name": ilmPolicy}}},
		"mappings": Mapping(),
	}}
	pkg["_meta"] = meta(pkg)
	pkg["version"] = templateVersion

	tpl := map[string]any{
		"index_patterns": []string{"logs-" + dataset + "-*"},
		"data_stream":    map[string]any{},
		// above the built-in logs template (100) and Fleet's packages (200)
		"priority":                           250,
		"composed_of":                        []string{packageTemplate, customTemplate},
		"ignore_missing_component_templates": []string{customTemplate},
	}
	tpl["_meta"] = meta(tpl)
	tpl["version"] = templateVersion

	custom := map[string]any{"template": map[string]any{}, "_meta": map[string]any{
		"description": "yours: flowlog creates it empty and never changes it; settings and mappings here override flowlog's"}}

	return []resource{
		{kind: "ILM policy", name: ilmPolicy, path: "/_ilm/policy/" + ilmPolicy, body: map[string]any{"policy": pol}},
		{kind: "component template", name: packageTemplate, path: "/_component_template/" + packageTemplate, body: pkg},
		{kind: "component template", name: customTemplate, path: "/_component_template/" + customTemplate, body: custom, custom: true},
		{kind: "index template", name: indexTemplate, path: "/_index_template/" + indexTemplate, body: tpl},
	}
}
