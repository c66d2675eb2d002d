package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlog/flowlog/dashboards"
	"github.com/flowlog/flowlog/internal/tlsconfig"
)

func newDashboardsCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dashboards",
		Short: "Install the bundled Grafana and Kibana dashboards, or write them to a folder",
	}
	cmd.AddCommand(newDashboardsInstallCmd(s), newDashboardsExportCmd(s))
	return cmd
}

// envRef is a flag value naming an environment variable: ${NAME}.
var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// secretFlag returns the value of the environment variable a credential
// flag names. A literal secret on the command line is refused: any user
// of the host can read it in the process list.
func secretFlag(cmd *cobra.Command, flag string) (string, error) {
	return secretFlagOf(cmd, "dashboards install", flag)
}

// secretFlagOf is secretFlag for the command named what.
func secretFlagOf(cmd *cobra.Command, what, flag string) (string, error) {
	v, _ := cmd.Flags().GetString(flag)
	if v == "" {
		return "", nil
	}
	m := envRef.FindStringSubmatch(v)
	if m == nil {
		return "", usageError("%s: --%s: give the name of an environment variable holding it, as '${NAME}', not the secret itself", what, flag)
	}
	val, ok := os.LookupEnv(m[1])
	if !ok && cmd.Flags().Changed(flag) {
		return "", usageError("%s: --%s: environment variable %s is not set", what, flag, m[1])
	}
	return val, nil
}

func newDashboardsInstallCmd(s streams) *cobra.Command {
	var (
		grafanaURL, kibanaURL, folder, space, target, user string
		datasources                                        []string
		timeout                                            time.Duration
		tlsCfg                                             tlsconfig.Config
	)
	cmd := &cobra.Command{
		Use:   "install (--grafana URL | --kibana URL)...",
		Short: "Install the dashboards into Grafana and/or Kibana through their HTTP APIs",
		Long: `Install flowlog's dashboards through Grafana's and Kibana's HTTP APIs. Running
it again changes nothing unless flowlog's dashboards changed.

Grafana: the ClickHouse, Loki and health dashboards go into --folder (created
when missing). Each dashboard uses the datasource given with --datasource for
its plugin (grafana-clickhouse-datasource, loki, prometheus), else the first
such datasource Grafana lists; choose another in the dashboard's Datasource
menu at any time. Give a service-account token with the Editor role:

  FLOWLOG_GRAFANA_TOKEN=glsa_… flowlog dashboards install --grafana https://grafana.example.com
  flowlog dashboards install --grafana http://127.0.0.1:3000 --datasource ch-prod --datasource loki-prod

Kibana: the saved objects (data view, visualizations, saved search, dashboard)
of the Elasticsearch sink's targets are imported into --space, overwriting
flowlog's objects of the same ids. Give an API key (the "encoded" value) of a
user who may manage saved objects:

  FLOWLOG_KIBANA_API_KEY=… flowlog dashboards install --kibana https://kibana.example.com:5601 --space soc

Credentials come from environment variables only: --grafana-token,
--kibana-api-key and the passwords name the variable ('${NAME}'); by default
FLOWLOG_GRAFANA_TOKEN, FLOWLOG_KIBANA_API_KEY and FLOWLOG_*_PASSWORD are read
when set. Exit status 2 when a server refuses or cannot be reached.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if grafanaURL == "" && kibanaURL == "" {
				return usageError("dashboards install: give --grafana URL, --kibana URL or both")
			}
			if err := tlsCfg.Validate(); err != nil {
				return usageError("dashboards install: %v", err)
			}
			tc, err := tlsCfg.Build()
			if err != nil {
				return usageError("dashboards install: %v", err)
			}
			hc := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
			ctx := cmd.Context()
			if grafanaURL != "" {
				auth, err := authFlags(cmd, "grafana", user)
				if err != nil {
					return err
				}
				if err := installGrafana(ctx, s, grafanaURL, folder, datasources, auth, hc); err != nil {
					return err
				}
			}
			if kibanaURL != "" {
				auth, err := authFlags(cmd, "kibana", user)
				if err != nil {
					return err
				}
				files := dashboards.KibanaFiles
				switch target {
				case "all":
				case "flowlog":
					files = files[:1]
				case "elastic-aws":
					files = files[1:]
				default:
					return usageError("dashboards install: --target %q: want flowlog, elastic-aws or all", target)
				}
				k, err := dashboards.NewKibana(kibanaURL, space, auth, hc)
				if err != nil {
					return usageError("dashboards install: --kibana: %v", err)
				}
				changes, err := k.Install(ctx, files)
				printChanges(s, "kibana", changes)
				if err != nil {
					return errf("dashboards install: %v", err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&grafanaURL, "grafana", "", "Grafana's root `URL`, e.g. https://grafana.example.com")
	f.StringVar(&folder, "folder", "flowlog", "Grafana folder the dashboards go into")
	f.StringSliceVar(&datasources, "datasource", nil, "`UID` of the Grafana datasource a dashboard uses (one per plugin; repeatable)")
	f.String("grafana-token", "${FLOWLOG_GRAFANA_TOKEN}", "environment variable holding a Grafana service-account token, as '${NAME}'")
	f.String("grafana-password", "${FLOWLOG_GRAFANA_PASSWORD}", "environment variable holding --user's Grafana password, as '${NAME}'")
	f.StringVar(&kibanaURL, "kibana", "", "Kibana's root `URL`, e.g. https://kibana.example.com:5601")
	f.StringVar(&space, "space", "", "Kibana space `id` (default: the default space)")
	f.StringVar(&target, "target", "all", "which Kibana objects: flowlog (logs-flowlog.flows-*), elastic-aws (logs-aws.vpcflow-*) or all")
	f.String("kibana-api-key", "${FLOWLOG_KIBANA_API_KEY}", "environment variable holding a Kibana API key (encoded), as '${NAME}'")
	f.String("kibana-password", "${FLOWLOG_KIBANA_PASSWORD}", "environment variable holding --user's Kibana password, as '${NAME}'")
	f.StringVar(&user, "user", "", "user `name` for basic authentication (instead of a token or API key)")
	f.StringVar(&tlsCfg.CAFile, "ca-file", "", "PEM `file` of the CA that signed the servers' certificates (default: the system's)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "time allowed for each request")
	return cmd
}

// authFlags reads the credentials of server kind (grafana or kibana).
func authFlags(cmd *cobra.Command, kind, user string) (dashboards.Auth, error) {
	var a dashboards.Auth
	var err error
	if kind == "grafana" {
		a.Token, err = secretFlag(cmd, "grafana-token")
	} else {
		a.APIKey, err = secretFlag(cmd, "kibana-api-key")
	}
	if err != nil {
		return a, err
	}
	if user != "" {
		a.Token, a.APIKey = "", ""
		a.User = user
		if a.Password, err = secretFlag(cmd, kind+"-password"); err != nil {
			return a, err
		}
	}
	return a, nil
}

func installGrafana(ctx context.Context, s streams, rawURL, folder string, datasources []string, auth dashboards.Auth, hc *http.Client) error {
	g, err := dashboards.NewGrafana(rawURL, auth, hc)
	if err != nil {
		return usageError("dashboards install: --grafana: %v", err)
	}
	changes, err := g.Install(ctx, folder, datasources)
	printChanges(s, "grafana", changes)
	if err != nil {
		return errf("dashboards install: %v", err)
	}
	return nil
}

func printChanges(s streams, server string, changes []dashboards.Change) {
	for _, c := range changes {
		line := fmt.Sprintf("%s: %s: %s", server, c.Name, c.Action)
		if c.Note != "" {
			line += " (" + c.Note + ")"
		}
		fmt.Fprintln(s.out, line)
	}
}

func newDashboardsExportCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "export DIR",
		Short: "Write the dashboards and Grafana provisioning files into a folder",
		Long: `Write the dashboards flowlog carries into DIR, for Grafana's file provisioning
or a Kibana import by hand:

  DIR/grafana/*.json                           the Grafana dashboards
  DIR/grafana/provisioning/dashboards/…yaml    a provider loading them from a folder
  DIR/grafana/provisioning/datasources/…yaml   the datasources they expect, by uid
  DIR/kibana/*.ndjson                          Kibana saved objects (Stack Management → Saved objects → Import)

  flowlog dashboards export /var/lib/flowlog/dashboards   (the provider file's path)

Files already there are replaced.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			written, err := dashboards.Export(args[0])
			if err != nil {
				return errf("dashboards export: %v", err)
			}
			for _, w := range written {
				fmt.Fprintln(s.out, w)
			}
			return nil
		},
	}
}
