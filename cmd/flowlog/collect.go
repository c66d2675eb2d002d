package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/flowlog/flowlog/collector"
	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/internal/objstore"
	"github.com/flowlog/flowlog/internal/ops"
)

type collectOptions struct {
	config string
	check  bool
	log    logOptions

	pcaps       []string
	out         string
	name        string
	iface       string
	rotation    time.Duration
	accountID   string
	interfaceID string
	noHeader    bool
	gzipLevel   int
	maxFlows    int
	direction   string
	localAddrs  []string
	localMAC    string
	spool       string
}

func newCollectCmd(s streams) *cobra.Command {
	var o collectOptions
	cmd := &cobra.Command{
		Use:   "collect (-c FILE | --pcap FILE --out TARGET)",
		Short: "Capture traffic into flow-log objects (daemon), or convert a capture file",
		Long: `collect turns the traffic of this host's interfaces into flow-log objects, the
way IONOS, AWS, IBM and Tencent Flow Logs do inside their clouds.

Daemon (needs CAP_NET_RAW, and CAP_NET_ADMIN for firewall drops):

  flowlog collect -c /etc/flowlog/collector.yaml
  flowlog collect -c /etc/flowlog/collector.yaml --check    validate and exit

  A flow log captures one interface, the interfaces matching a name pattern
  (interfaces: veth*), those holding an address in a subnet, or the whole
  host; an interface several cover goes to the most specific (interface >
  subnet > pattern > host), and interfaces join and leave as they come and go.
  Every rotation window (10m by default, aligned to the clock) each flow log
  writes one gzip object [prefix/]<name>-<window end>.log.gz (one per
  interface, <name>-<interface>-<window end>, for the wider scopes) to its target:
  s3://bucket[/prefix] on any S3-compatible service, or a folder. Objects go
  to the spool folder first and leave it only once uploaded, so a target that
  is down, or a restart, loses nothing. Packets the firewall drops and logs
  to an NFLOG group (nftables: "log group 5 drop") become REJECT records.
  See configs/collector.yaml for every setting.

One-shot conversion of pcap or pcapng files (windows follow packet time):

  flowlog collect --pcap trace.pcap --out ./objects --name web-1
  flowlog collect --pcap trace.pcap --out 's3://flows/logs?endpoint=http://127.0.0.1:9000&path_style=true'

  S3 credentials come from the AWS environment variables or shared files.

Control: flowlog collect ctl status|suspend NAME|resume NAME|reload -c FILE;
SIGHUP reloads the file too (an invalid one is refused, the running one kept).
Metrics: /metrics, /healthz, /readyz and /flowlogs on the listen address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.config != "" && len(o.pcaps) > 0:
				return usageError("collect: -c and --pcap do not go together: -c runs the daemon, --pcap converts a file")
			case o.config != "":
				return runCollectDaemon(cmd.Context(), s, &o)
			case len(o.pcaps) > 0:
				return runCollectPcap(cmd.Context(), s, &o)
			}
			return usageError("collect: give -c FILE to run the daemon, or --pcap FILE --out TARGET to convert a capture")
		},
	}
	cmd.AddCommand(newCollectCtlCmd(s))
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "collector configuration `file` (YAML)")
	f.BoolVar(&o.check, "check", false, "validate the configuration (and that the interfaces exist) and exit")
	o.log.flags(f)
	f.StringSliceVar(&o.pcaps, "pcap", nil, "convert this pcap or pcapng `file` (repeatable) instead of capturing")
	f.StringVar(&o.out, "out", "", "with --pcap: target folder or s3://bucket[/prefix][?endpoint=…&region=…&path_style=true]")
	f.StringVar(&o.name, "name", "flowlog", "with --pcap: flow log name, the start of every object key")
	f.StringVar(&o.iface, "interface", "pcap", "with --pcap: interface name the records are attributed to")
	f.DurationVar(&o.rotation, "rotation", collector.DefaultRotation, "with --pcap: window length")
	f.StringVar(&o.accountID, "account-id", collector.DefaultAccountID, "with --pcap: account-id field of the records")
	f.StringVar(&o.interfaceID, "interface-id", "", "with --pcap: interface-id (UUID) of the records; derived from host and interface if empty")
	f.BoolVar(&o.noHeader, "no-header", false, "with --pcap: leave out the header line")
	f.IntVar(&o.gzipLevel, "gzip-level", collector.DefaultGzipLevel, "with --pcap: gzip level, 1 (fastest) to 9 (smallest)")
	f.IntVar(&o.maxFlows, "max-flows", collector.DefaultMaxFlows, "with --pcap: flows per window before records are marked SKIPDATA")
	f.StringVar(&o.direction, "direction", "bidirectional", "with --pcap: ingress, egress or bidirectional")
	f.StringSliceVar(&o.localAddrs, "local-addr", nil, "with --pcap: IP `address` of the capturing host (repeatable), to tell direction")
	f.StringVar(&o.localMAC, "local-mac", "", "with --pcap: MAC `address` of the capturing interface, to tell direction")
	f.StringVar(&o.spool, "spool", "", "with --pcap: spool `folder` (default: a temporary folder, removed afterwards)")
	return cmd
}

func runCollectDaemon(ctx context.Context, s streams, o *collectOptions) error {
	log, err := o.log.logger(s.err)
	if err != nil {
		return err
	}
	cfg, err := collector.Load(o.config)
	if err != nil {
		return errf("%v", err)
	}
	return redactErr(collectDaemon(ctx, s, o, cfg, redacting(log, cfg.Redactor)), cfg.Redactor)
}

func collectDaemon(ctx context.Context, s streams, o *collectOptions, cfg collector.Config, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reload := func() (collector.Config, error) { return collector.Load(o.config) }
	c, err := collector.New(cfg, collector.Deps{Logger: log, Registerer: reg, Reload: reload})
	if err != nil {
		return errf("%s: %v", o.config, err)
	}
	if err := c.Check(); err != nil {
		return errf("%s: %v", o.config, err)
	}
	if o.check {
		fmt.Fprintf(s.out, "%s: configuration OK, %d flow logs\n", o.config, len(cfg.FlowLogs))
		for _, f := range c.Config().FlowLogs {
			id := ""
			if f.InterfaceID != "" {
				id = " (interface id " + f.InterfaceID + ")"
			}
			fmt.Fprintf(s.out, "  %s: %s, %s, %s, every %s to %s%s\n",
				f.Name, f.ScopeText(), f.Direction, f.Action, f.Rotation, f.Target.URL, id)
		}
		owners, err := collector.Owners(c.Config())
		if err != nil {
			return errf("%s: %v", o.config, err)
		}
		names := make([]string, 0, len(owners))
		for n := range owners {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(s.out, "interfaces now, and the flow log that captures each:")
		for _, n := range names {
			fmt.Fprintf(s.out, "  %s: %s (%s)\n", n, owners[n].FlowLog, owners[n].Why)
		}
		if len(names) == 0 {
			fmt.Fprintln(s.out, "  none: no flow log covers an interface of this host yet")
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.Run(gctx) })
	g.Go(func() error { return reloadOnHUP(gctx, c, log) })
	if cfg.Listen != "" {
		srv := &ops.Server{Addr: cfg.Listen, Gatherer: reg, Health: c.Healthy, Ready: c.Ready, Logger: log,
			Routes: c.Routes(string(cfg.ControlToken))}
		g.Go(func() error { return srv.Run(gctx) })
	}
	if err := g.Wait(); err != nil {
		return errf("%v", err)
	}
	return nil
}

// reloadOnHUP reloads the configuration on every SIGHUP until ctx ends.
func reloadOnHUP(ctx context.Context, c *collector.Collector, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			if _, err := c.Reload(ctx); err != nil {
				log.Error("SIGHUP: configuration not reloaded", "err", err)
			}
		}
	}
}

func runCollectPcap(ctx context.Context, s streams, o *collectOptions) error {
	if o.out == "" {
		return usageError("collect: --pcap needs --out TARGET (a folder or s3://bucket[/prefix])")
	}
	log, err := o.log.logger(s.err)
	if err != nil {
		return err
	}
	loc, s3cfg, err := objstore.ParseURL(o.out)
	if err != nil {
		return usageError("collect: --out: %v", err)
	}
	local, err := parseLocal(o.localAddrs, o.localMAC)
	if err != nil {
		return err
	}
	if o.direction != "bidirectional" && len(local.Addrs) == 0 && local.MAC == nil {
		return usageError("collect: --direction %s needs --local-addr or --local-mac to tell which packets the host sent", o.direction)
	}
	header := !o.noHeader
	fl := collector.FlowLogConfig{
		Name: o.name, Interface: o.iface, Direction: o.direction, Action: "any",
		Target:    collector.TargetConfig{URL: loc.String(), S3Config: s3cfg},
		AccountID: o.accountID, InterfaceID: o.interfaceID, Rotation: o.rotation, Header: &header,
		GzipLevel: o.gzipLevel, MaxFlows: o.maxFlows,
	}
	cfg := collector.DefaultConfig()
	cfg.FlowLogs = []collector.FlowLogConfig{fl}
	cfg.Spool.MaxSize = 0
	cfg.Spool.Dir = o.spool
	keepSpool := o.spool != ""
	if o.spool == "" {
		dir, err := os.MkdirTemp("", "flowlog-spool-")
		if err != nil {
			return errf("spool: %v", err)
		}
		defer func() {
			if !keepSpool { // objects not uploaded stay, named
				os.RemoveAll(dir)
			}
		}()
		cfg.Spool.Dir = dir
	}
	c, err := collector.New(cfg, collector.Deps{Logger: log})
	if err != nil {
		return usageError("collect: %s", flagNames(err))
	}
	start := time.Now()
	st, err := c.Replay(ctx, o.pcaps, local)
	var notUp *collector.NotUploadedError
	if errors.As(err, &notUp) {
		keepSpool = true
		fmt.Fprintf(s.err, "flowlog: collect: %d objects could not be uploaded to %s: %v\n", len(notUp.Keys), notUp.Target, notUp.Err)
		fmt.Fprintf(s.err, "They are in %s:\n", filepath.Join(notUp.Spool, o.name))
		for _, k := range notUp.Keys {
			fmt.Fprintf(s.err, "  %s\n", k)
		}
		fmt.Fprintf(s.err, "Fix the target (bucket, keys, permissions), then run the same command with --spool %s:\nthe objects waiting there are uploaded first (the capture's windows are written again under the same keys).\n", notUp.Spool)
		return &exitError{code: exitFailure, err: errors.New("collect: objects left in the spool")}
	}
	if err != nil {
		return errf("%v", err)
	}
	fmt.Fprintf(s.out, "read %d frames (%d IP packets, %d without IP, %d unreadable) in %s\n",
		st.Frames, st.IPPackets, st.NonIP, st.DecodeErrors, time.Since(start).Round(time.Millisecond))
	if st.OtherLinks > 0 {
		fmt.Fprintf(s.out, "skipped %d frames of interfaces whose link type flowlog does not read\n", st.OtherLinks)
	}
	for _, f := range st.Truncated {
		fmt.Fprintf(s.out, "%s was cut short mid-packet: read up to the cut\n", f)
	}
	fmt.Fprintf(s.out, "wrote %d records in %d objects to %s\n", st.Records, len(st.Objects), o.out)
	for _, k := range st.Objects {
		fmt.Fprintf(s.out, "  %s\n", k)
	}
	return nil
}

// flagNames rewords configuration field names as the flags that set them.
func flagNames(err error) string {
	msg := err.Error()
	for _, r := range [][2]string{
		{"flow_logs[0].", ""}, {"account_id", "--account-id"}, {"interface_id", "--interface-id"},
		{"gzip_level", "--gzip-level"}, {"max_flows", "--max-flows"}, {"rotation:", "--rotation:"},
		{"name:", "--name:"}, {"direction:", "--direction:"}, {"target.url", "--out"},
	} {
		msg = strings.Replace(msg, r[0], r[1], 1)
	}
	return msg
}

func parseLocal(addrs []string, mac string) (decode.Local, error) {
	var l decode.Local
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return l, usageError("collect: --local-addr %q: not an IP address", a)
		}
		l.Addrs = append(l.Addrs, ip.Unmap())
	}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return l, usageError("collect: --local-mac %q: not an Ethernet MAC address", mac)
		}
		l.MAC = hw
	}
	return l, nil
}
