package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlog/flowlog/collector"
)

func newCollectCtlCmd(s streams) *cobra.Command {
	var file, addr string
	cmd := &cobra.Command{
		Use:   "ctl (status [NAME] | suspend NAME | resume NAME | reload) [-c FILE | --addr HOST:PORT]",
		Short: "List, suspend, resume or reload the flow logs of a running collector",
		Long: `ctl talks to a running collector's ops listener (its "listen" address):

  flowlog collect ctl status -c /etc/flowlog/collector.yaml     flow logs, state, interfaces and why, counters
  flowlog collect ctl suspend web-1 -c /etc/flowlog/collector.yaml
                                     write web-1's open windows, then capture nothing (kept across restarts)
  flowlog collect ctl resume web-1 -c /etc/flowlog/collector.yaml
  flowlog collect ctl reload -c /etc/flowlog/collector.yaml     read the file again, as SIGHUP does

With -c the address and control_token come from the collector's file; or give
--addr and, when the collector requires one, --token '${NAME}' (the name of an
environment variable holding the token). Exit status 2 when the collector
refuses or cannot be reached.`,
		Args: func(c *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && (args[0] == "status" || args[0] == "reload"):
			case len(args) == 2 && (args[0] == "suspend" || args[0] == "resume" || args[0] == "status"):
			default:
				return usageError("collect ctl: want status [NAME], suspend NAME, resume NAME or reload")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			token, err := secretFlagOf(cmd, "collect ctl", "token")
			if err != nil {
				return err
			}
			switch {
			case file != "" && addr != "":
				return usageError("collect ctl: -c and --addr do not go together")
			case file != "":
				cfg, err := collector.Load(file)
				if err != nil {
					return errf("collect ctl: %v", err)
				}
				if cfg.Listen == "" {
					return errf("collect ctl: %s has listen: \"\": the collector serves no control endpoint", file)
				}
				addr = cfg.Listen
				if !cmd.Flags().Changed("token") {
					token = string(cfg.ControlToken)
				}
			case addr == "":
				return usageError("collect ctl: give -c FILE (the collector's configuration) or --addr HOST:PORT")
			}
			method, path := http.MethodGet, "/flowlogs"
			switch args[0] {
			case "suspend", "resume":
				method, path = http.MethodPost, "/flowlogs/"+url.PathEscape(args[1])+"/"+args[0]
			case "reload":
				method, path = http.MethodPost, "/flowlogs/reload"
			}
			st, err := ctlRequest(cmd.Context(), addr, token, method, path)
			if err != nil {
				return errf("collect ctl %s: %v", args[0], err)
			}
			if args[0] == "status" && len(args) == 2 {
				st = slices.DeleteFunc(st, func(f collector.FlowLogStatus) bool { return f.Name != args[1] })
				if len(st) == 0 {
					return errf("collect ctl status: no such flow log: %q", args[1])
				}
			}
			printStatus(s.out, st)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "", "the running collector's configuration `file` (for its listen address and token)")
	cmd.Flags().StringVar(&addr, "addr", "", "the collector's ops listener, `HOST:PORT`")
	cmd.Flags().String("token", "${FLOWLOG_CONTROL_TOKEN}", "environment variable holding the control token, as '${NAME}'")
	return cmd
}

func ctlRequest(ctx context.Context, addr, token, method, path string) ([]collector.FlowLogStatus, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("address %q: want HOST:PORT", addr)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ans struct {
		FlowLogs []collector.FlowLogStatus `json:"flow_logs"`
		Error    string                    `json:"error"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("%s %s: %s: not the collector's answer: %.200s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s", ans.Error)
	}
	return ans.FlowLogs, nil
}

func printStatus(w io.Writer, st []collector.FlowLogStatus) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FLOW LOG\tSTATE\tSCOPE\tINTERFACES\tPACKETS\tRECORDS\tWINDOWS\tSPOOLED")
	for _, f := range st {
		var names []string
		for _, i := range f.Interfaces {
			names = append(names, i.Name)
		}
		ifaces := strings.Join(names, ",")
		if ifaces == "" {
			ifaces = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", f.Name, f.State, f.Scope, ifaces, f.Packets, f.Records, f.Windows, f.Spooled)
	}
	tw.Flush()
	for _, f := range st {
		for _, i := range f.Interfaces {
			fmt.Fprintf(w, "  %s → %s: %s (interface id %s)\n", i.Name, f.Name, i.Why, i.InterfaceID)
		}
	}
}
