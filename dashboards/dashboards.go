// Package dashboards holds the dashboards flowlog ships, embedded in the
// binary: Grafana dashboards for the ClickHouse and Loki sinks and for
// flowlog's own metrics, Grafana provisioning files, and Kibana saved
// objects for the Elasticsearch sink. The files are made by package
// dashboards/build; run "go generate ./dashboards" after changing it.
package dashboards

import (
	"embed"
	"io/fs"
)

//go:generate go run ./internal/write

//go:embed grafana kibana
var files embed.FS

// Files is every shipped file, by its path under dashboards/ (for example
// "grafana/flowlog-clickhouse.json").
func Files() fs.FS { return files }
