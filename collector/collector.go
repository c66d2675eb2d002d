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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlog/flowlog/collector/capture"
	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/collector/spool"
	"github.com/flowlog/flowlog/internal/ifaceid"
)

// Deps are what the collector reports to.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not exported
	Hostname   string                // for derived interface ids; empty: os.Hostname
	// Reload reads the configuration again, for SIGHUP and /flowlogs/reload;
	// nil: the collector cannot reload.
	Reload func() (Config, error)
}

// Collector runs the flow logs of one configuration.
type Collector struct {
	cfg     Config
	log     *slog.Logger
	reg     prometheus.Registerer
	m       *metrics
	running atomic.Bool

	host   string                 // for derived interface ids
	reload func() (Config, error) // reads the configuration again; nil: no reload
	ctl    chan ctlRequest        // to the supervisor, while Run runs

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
	c := &Collector{log: deps.Logger, reg: deps.Registerer, host: host, reload: deps.Reload, ctl: make(chan ctlRequest),
		ShutdownGrace: 10 * time.Second, RotationGrace: 2 * time.Second}
	c.deriveIDs(&cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c.cfg = cfg
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

// deriveIDs gives flow logs of one interface without an interface id one
// derived from the host and interface names.
func (c *Collector) deriveIDs(cfg *Config) {
	for i := range cfg.FlowLogs {
		if f := &cfg.FlowLogs[i]; f.InterfaceID == "" && f.Interface != "" {
			f.InterfaceID = ifaceid.Derive(c.host, f.Interface)
		}
	}
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

// liveFlowLog is the capture of one interface for one flow log: its
// aggregator and rings.
type liveFlowLog struct {
	cfg      *FlowLogConfig
	fl       *flowLog
	ifi      *net.Interface
	local    decode.Local
	lives    []*capture.Live // received and/or sent frames; none when only rejects are wanted
	decodeIP *decode.Decoder
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
func waitEmpty(sp *spool.Spool, names []string, grace time.Duration) int {
	deadline := time.Now().Add(grace)
	for {
		left := 0
		for _, n := range names {
			left += len(sp.Pending(n))
		}
		if left == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openLive opens the captures of cfg.Interface into a new aggregator whose
// objects are named [prefix/]<objName>-<unix>.log.gz.
func openLive(cfg *FlowLogConfig, prefix, objName string, ring capture.LiveConfig, emit emitFunc, log *slog.Logger, m flowLogMetrics) (*liveFlowLog, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("interface: %s: %w", cfg.Interface, err)
	}
	local, err := decode.LocalFromInterface(ifi)
	if err != nil {
		return nil, err
	}
	fl, err := newFlowLog(cfg, prefix, emit, log, m)
	if err != nil {
		return nil, err
	}
	fl.name = objName
	l := &liveFlowLog{cfg: cfg, fl: fl, ifi: ifi, local: local}
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
			live, err := capture.OpenLive(cfg.Interface, out, ring)
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

// listenNFLOG hands each dropped packet to the flow log of the interface it
// arrived on or was leaving through.
func (c *Collector) listenNFLOG(ctx context.Context, group uint16, members *atomic.Pointer[[]*liveFlowLog]) error {
	var pkt decode.Packet
	onDrop := func(d capture.Drop) {
		for _, l := range *members.Load() {
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
		for _, l := range *members.Load() {
			l.fl.kernelDrops(1)
		}
	}
	c.log.Info("reading firewall drops", "nflog_group", group)
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
		needRaw = needRaw || f.Action != "rejected"
		needAdmin = needAdmin || f.NFLOGGroup != nil
		if f.Interface == "" {
			continue // patterns, subnets and the host take what is there, now or later
		}
		if _, err := net.InterfaceByName(f.Interface); err != nil {
			return fmt.Errorf("flow_logs[%d].interface: %s: %w", i, f.Interface, err)
		}
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
