// Package collector turns the traffic of a host's interfaces into flow-log
// objects: capture, decode, aggregate per window, encode as gzip, spool,
// upload.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/flowlog/flowlog/collector/capture"
	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/collector/spool"
	"github.com/flowlog/flowlog/internal/ifaceid"
	"github.com/flowlog/flowlog/internal/objstore"
)

// Deps are what the collector reports to.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not exported
	Hostname   string                // for derived interface ids; empty: os.Hostname
}

// Collector runs the flow logs of one configuration.
type Collector struct {
	cfg     Config
	log     *slog.Logger
	reg     prometheus.Registerer
	m       *metrics
	running atomic.Bool

	upMu      sync.Mutex
	uploaders map[string]*spool.Uploader // by flow log, while Run runs

	// ShutdownGrace bounds the upload of the last windows after Run's
	// context ends; what is not uploaded by then waits in the spool.
	ShutdownGrace time.Duration
	// RotationGrace is how long after a window's end its late packets are
	// still awaited before the window is written.
	RotationGrace time.Duration
}

// New checks cfg and prepares a collector; it opens nothing.
func New(cfg Config, deps Deps) (*Collector, error) {
	cfg.SetDefaults()
	host := deps.Hostname
	if host == "" {
		var err error
		if host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("host name for interface ids: %w", err)
		}
	}
	for i := range cfg.FlowLogs {
		if f := &cfg.FlowLogs[i]; f.InterfaceID == "" {
			f.InterfaceID = ifaceid.Derive(host, f.Interface)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, log: deps.Logger, reg: deps.Registerer,
		ShutdownGrace: 10 * time.Second, RotationGrace: 2 * time.Second}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "collector")
	if c.reg == nil {
		c.reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(c.reg)
	if err != nil {
		return nil, err
	}
	c.m = m
	return c, nil
}

// Config returns the configuration with defaults and derived ids filled in.
func (c *Collector) Config() Config { return c.cfg }

// Healthy reports whether Run is capturing.
func (c *Collector) Healthy() error {
	if !c.running.Load() {
		return errors.New("collector not running")
	}
	return nil
}

// Ready reports whether the collector does its job (/readyz): it captures,
// and no flow log's target refuses its uploads for a reason retrying
// cannot cure (NoSuchBucket, AccessDenied, wrong keys, no credentials).
func (c *Collector) Ready() error {
	if err := c.Healthy(); err != nil {
		return err
	}
	c.upMu.Lock()
	defer c.upMu.Unlock()
	for name, up := range c.uploaders {
		if err := up.Err(); err != nil {
			return fmt.Errorf("flow log %s: uploads refused: %w", name, err)
		}
	}
	return nil
}

// running flow log: its aggregator, capture and uploader.
type liveFlowLog struct {
	cfg      *FlowLogConfig
	fl       *flowLog
	up       *spool.Uploader
	ifi      *net.Interface
	local    decode.Local
	lives    []*capture.Live // received and/or sent frames; none when only rejects are wanted
	decodeIP *decode.Decoder
}

// Run captures until ctx ends, then writes the open windows and uploads what
// it can within ShutdownGrace.
func (c *Collector) Run(ctx context.Context) error {
	sp, err := spool.Open(c.cfg.Spool.Dir, int64(c.cfg.Spool.MaxSize))
	if err != nil {
		return err
	}
	if err := registerSpool(c.reg, sp); err != nil {
		return err
	}
	if b := sp.Bytes(); b > 0 {
		c.log.Info("objects from an earlier run wait in the spool; uploading them first", "spool", sp.Dir(), "bytes", b)
	}
	for _, q := range sp.Queues() {
		if !c.hasFlowLog(q) {
			c.log.Warn("objects of a flow log that is no longer configured wait in the spool; configure it again to upload them",
				"flow_log", q, "folder", filepath.Join(sp.Dir(), q), "objects", len(sp.Pending(q)))
		}
	}
	var logs []*liveFlowLog
	defer func() {
		for _, l := range logs {
			for _, live := range l.lives {
				live.Close()
			}
		}
	}()
	for i := range c.cfg.FlowLogs {
		l, err := c.open(ctx, &c.cfg.FlowLogs[i], sp)
		if err != nil {
			return fmt.Errorf("flow log %q: %w", c.cfg.FlowLogs[i].Name, err)
		}
		logs = append(logs, l)
	}

	c.upMu.Lock()
	c.uploaders = map[string]*spool.Uploader{}
	for _, l := range logs {
		c.uploaders[l.cfg.Name] = l.up
	}
	c.upMu.Unlock()
	upCtx, stopUploads := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUploads()
	uploads := make(chan struct{})
	go func() {
		defer close(uploads)
		var g errgroup.Group
		for _, l := range logs {
			g.Go(func() error { return l.up.Run(upCtx) })
		}
		g.Wait()
	}()

	g, gctx := errgroup.WithContext(ctx)
	for _, l := range logs {
		for _, live := range l.lives {
			g.Go(func() error { return c.capture(gctx, l, live) })
		}
	}
	for group, members := range nflogGroups(logs) {
		g.Go(func() error { return c.listenNFLOG(gctx, group, members) })
	}
	g.Go(func() error { return c.clock(gctx, logs) })
	c.running.Store(true)
	c.log.Info("collector started", "flow_logs", len(logs), "spool", sp.Dir())
	err = g.Wait()
	c.running.Store(false)

	now := time.Now().Unix()
	for _, l := range logs {
		l.fl.close(now)
	}
	// The uploaders keep running: wake them for the last windows and give
	// them the grace period to empty the spool.
	for _, l := range logs {
		l.up.Notify()
	}
	left := waitEmpty(sp, logs, c.ShutdownGrace)
	stopUploads()
	<-uploads
	if left > 0 {
		c.log.Warn("objects not uploaded before shutdown; they wait in the spool for the next start", "objects", left, "spool", sp.Dir())
	}
	c.log.Info("collector stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (c *Collector) hasFlowLog(name string) bool {
	for _, f := range c.cfg.FlowLogs {
		if f.Name == name {
			return true
		}
	}
	return false
}

// waitEmpty waits until no flow log has objects in the spool, or grace has
// passed, and returns the number still waiting.
func waitEmpty(sp *spool.Spool, logs []*liveFlowLog, grace time.Duration) int {
	deadline := time.Now().Add(grace)
	for {
		left := 0
		for _, l := range logs {
			left += len(sp.Pending(l.cfg.Name))
		}
		if left == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Collector) open(ctx context.Context, cfg *FlowLogConfig, sp *spool.Spool) (*liveFlowLog, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("interface: %s: %w", cfg.Interface, err)
	}
	local, err := decode.LocalFromInterface(ifi)
	if err != nil {
		return nil, err
	}
	loc, _ := objstore.ParseLocation(cfg.Target.URL) // validated
	store, err := objstore.Open(ctx, loc, cfg.Target.S3Config)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	m := c.m.forFlowLog(cfg.Name)
	log := c.log.With("flow_log", cfg.Name, "interface", cfg.Interface)
	up := spool.NewUploader(sp, cfg.Name, store, spool.Backoff{Min: c.cfg.Upload.RetryMin, Max: c.cfg.Upload.RetryMax},
		spool.UploaderDeps{Logger: log, Uploads: m.uploads, Retries: m.retries, Permanent: m.permanent})
	emit := func(key string, data []byte) error {
		if err := sp.Write(cfg.Name, key, data); err != nil {
			if errors.Is(err, spool.ErrFull) {
				log.Error("SPOOL FULL: window dropped; the target is unreachable or too slow", "key", key, "err", err)
			}
			return err
		}
		up.Notify()
		return nil
	}
	fl, err := newFlowLog(cfg, loc.Prefix, emit, log, m)
	if err != nil {
		return nil, err
	}
	l := &liveFlowLog{cfg: cfg, fl: fl, up: up, ifi: ifi, local: local}
	if l.decodeIP, err = decode.New(decode.LinkRaw, local); err != nil {
		return nil, err
	}
	if fl.actions.accept {
		// One ring per direction: the kernel tells them apart. On loopback
		// every packet is both sent and received: count it once.
		var outgoing []bool
		switch fl.dir {
		case decode.Ingress:
			outgoing = []bool{false}
		case decode.Egress:
			outgoing = []bool{true}
		default:
			outgoing = []bool{false, true}
			if ifi.Flags&net.FlagLoopback != 0 {
				outgoing = []bool{false}
			}
		}
		for _, out := range outgoing {
			live, err := capture.OpenLive(cfg.Interface, out, capture.DefaultLiveConfig())
			if err != nil {
				for _, o := range l.lives {
					o.Close()
				}
				return nil, err
			}
			l.lives = append(l.lives, live)
		}
	}
	return l, nil
}

// capturesIngress reports whether a ring holds the frames the interface receives.
func (l *liveFlowLog) capturesIngress() bool {
	for _, live := range l.lives {
		if !live.Outgoing() {
			return true
		}
	}
	return false
}

// capture reads one ring's frames into the flow log until ctx ends.
func (c *Collector) capture(ctx context.Context, l *liveFlowLog, live *capture.Live) error {
	dec, err := decode.New(decode.Link(live.LinkType()), l.local)
	if err != nil {
		return err
	}
	f := newFeeder(dec, l.fl)
	f.dir = decode.Ingress
	if live.Outgoing() {
		f.dir = decode.Egress
	}
	for ctx.Err() == nil {
		data, ci, err := live.ReadPacket()
		if err != nil {
			if errors.Is(err, capture.ErrTimeout) {
				continue
			}
			return err
		}
		f.frame(data, ci)
	}
	return nil
}

// clock writes windows when their time is up and collects kernel drops.
func (c *Collector) clock(ctx context.Context, logs []*liveFlowLog) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	grace := int64(c.RotationGrace / time.Second)
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			for _, l := range logs {
				for _, live := range l.lives {
					if n, err := live.Drops(); err != nil {
						c.log.Warn("kernel drop counter", "flow_log", l.cfg.Name, "err", err)
					} else {
						l.fl.kernelDrops(n)
					}
				}
				l.fl.tick(now.Unix(), grace)
			}
		}
	}
}

func nflogGroups(logs []*liveFlowLog) map[uint16][]*liveFlowLog {
	groups := map[uint16][]*liveFlowLog{}
	for _, l := range logs {
		if l.cfg.NFLOGGroup != nil {
			g := uint16(*l.cfg.NFLOGGroup)
			groups[g] = append(groups[g], l)
		}
	}
	return groups
}

// listenNFLOG hands each dropped packet to the flow log of the interface it
// arrived on or was leaving through.
func (c *Collector) listenNFLOG(ctx context.Context, group uint16, members []*liveFlowLog) error {
	var pkt decode.Packet
	onDrop := func(d capture.Drop) {
		for _, l := range members {
			idx := uint32(l.ifi.Index)
			if d.InDev != idx && d.OutDev != idx {
				continue
			}
			if err := l.decodeIP.DecodeIP(d.Packet, &pkt); err != nil {
				l.fl.m.decodeErrors.Inc()
				continue
			}
			// The capture saw the packet if it arrived here: it taps
			// received frames before the firewall runs. A packet the
			// host sends is dropped before it reaches the interface.
			captured := d.InDev == idx && l.capturesIngress()
			if d.InDev == idx {
				pkt.Direction = decode.Ingress
			} else {
				pkt.Direction = decode.Egress
			}
			l.fl.rejected(&pkt, d.Time.Unix(), captured)
		}
	}
	overflow := func() {
		for _, l := range members {
			l.fl.kernelDrops(1)
		}
	}
	c.log.Info("reading firewall drops", "nflog_group", group, "flow_logs", len(members))
	return capture.ListenNFLOG(ctx, group, onDrop, overflow)
}

// feeder decodes frames into one flow log.
type feeder struct {
	dec   *decode.Decoder
	fl    *flowLog
	dir   decode.Direction // the capture's direction; Unknown: the decoder tells
	pkt   decode.Packet
	nonIP uint64
	bad   uint64
	ip    uint64
}

func newFeeder(dec *decode.Decoder, fl *flowLog) *feeder {
	return &feeder{dec: dec, fl: fl}
}

func (f *feeder) frame(data []byte, ci gopacket.CaptureInfo) {
	switch err := f.dec.Decode(data, &f.pkt); {
	case err == nil:
		f.ip++
		if f.dir != decode.Unknown {
			f.pkt.Direction = f.dir
		}
		f.fl.packet(&f.pkt, ci.Timestamp.Unix())
	case errors.Is(err, decode.ErrNotIP):
		f.nonIP++
	default:
		f.bad++
		f.fl.m.decodeErrors.Inc()
	}
}

// Check verifies what start-up needs, without capturing: every interface
// exists, the process holds the capabilities its flow logs need
// (CAP_NET_RAW to capture, CAP_NET_ADMIN for NFLOG), and the spool folder
// can be opened and written.
func (c *Collector) Check() error {
	needRaw, needAdmin := false, false
	for i, f := range c.cfg.FlowLogs {
		if _, err := net.InterfaceByName(f.Interface); err != nil {
			return fmt.Errorf("flow_logs[%d].interface: %s: %w", i, f.Interface, err)
		}
		needRaw = needRaw || f.Action != "rejected"
		needAdmin = needAdmin || f.NFLOGGroup != nil
	}
	if caps, err := effectiveCaps(); err == nil {
		const how = "run as root, or grant it: setcap cap_net_raw,cap_net_admin+ep <flowlog binary>, or AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN in the service (configs/flowlog-collector.service)"
		if needRaw && caps&(1<<capNetRaw) == 0 {
			return fmt.Errorf("capturing needs the capability CAP_NET_RAW, which this process lacks: %s", how)
		}
		if needAdmin && caps&(1<<capNetAdmin) == 0 {
			return fmt.Errorf("nflog_group needs the capability CAP_NET_ADMIN, which this process lacks: %s", how)
		}
	}
	if _, err := spool.Open(c.cfg.Spool.Dir, int64(c.cfg.Spool.MaxSize)); err != nil {
		return fmt.Errorf("spool.dir: %s: %w", c.cfg.Spool.Dir, err)
	}
	probe, err := os.CreateTemp(c.cfg.Spool.Dir, ".check-*")
	if err != nil {
		return fmt.Errorf("spool.dir: %s cannot be written: %w", c.cfg.Spool.Dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// Linux capability numbers.
const (
	capNetAdmin = 12
	capNetRaw   = 13
)

// effectiveCaps reads the process's effective capabilities (CapEff of
// /proc/self/status).
func effectiveCaps() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}
