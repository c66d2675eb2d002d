package build

// provisioning holds Grafana's provisioning files: the datasources the
// dashboards expect (by UID) and a provider loading the dashboards from a
// folder.
var provisioning = map[string]string{
	"grafana/provisioning/datasources/flowlog.yaml": `# Grafana provisioning: the datasources flowlog's dashboards use, by uid.
# Copy into /etc/grafana/provisioning/datasources/, keep the ones you use,
# and give Grafana the environment variables (Grafana expands $VAR here).
# The dashboards have a datasource variable: other datasources work too.
apiVersion: 1
datasources:
  - name: flowlog ClickHouse
    uid: flowlog-clickhouse
    type: grafana-clickhouse-datasource
    jsonData:
      host: $FLOWLOG_CLICKHOUSE_HOST
      port: 9000
      protocol: native
      defaultDatabase: flowlog
      username: $FLOWLOG_CLICKHOUSE_USER
    secureJsonData:
      password: $FLOWLOG_CLICKHOUSE_PASSWORD
  - name: flowlog Loki
    uid: flowlog-loki
    type: loki
    access: proxy
    url: $FLOWLOG_LOKI_URL
  - name: flowlog Prometheus
    uid: flowlog-prometheus
    type: prometheus
    access: proxy
    url: $FLOWLOG_PROMETHEUS_URL
`,
	"grafana/provisioning/dashboards/flowlog.yaml": `# Grafana provisioning: load flowlog's dashboards from a folder.
# Copy into /etc/grafana/provisioning/dashboards/ and put the dashboards in
# the path below: "flowlog dashboards export /var/lib/flowlog/dashboards"
# writes them there (or copy dashboards/grafana/*.json from the repository).
apiVersion: 1
providers:
  - name: flowlog
    folder: flowlog
    type: file
    disableDeletion: false
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: /var/lib/flowlog/dashboards/grafana
`,
}
