package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flowlog/flowlog/collector/capture"
	"github.com/flowlog/flowlog/collector/scope"
	"github.com/flowlog/flowlog/collector/spool"
	"github.com/flowlog/flowlog/internal/atomicfile"
	"github.com/flowlog/flowlog/internal/ifaceid"
	"github.com/flowlog/flowlog/internal/objstore"
)

// The collector runs one unit per interface a flow log captures. A
// supervisor goroutine owns the units: it starts and stops them when
// interfaces appear or go (netlink events), when a flow log is suspended
// or resumed, and when the configuration is reloaded. Stopping a unit
// writes its open window first: nothing captured is lost.

// flowLogRun is a configured flow log while Run runs: its uploader and
// state. Only the supervisor goroutine touches it.
type flowLogRun struct {
	cfg       FlowLogConfig
	scope     scope.Scope
	up        *spool.Uploader
	stopUp    context.CancelFunc
	upDone    chan struct{}
	prefix    string
	suspended bool
	m         flowLogMetrics
}

// unit captures one interface for one flow log.
type unit struct {
	flowLog string
	iface   string
	why     string
	l       *liveFlowLog
	cancel  context.CancelFunc
	stopped bool // by the supervisor, not by an error
}

type unitKey struct{ flowLog, iface string }

// unitEnd is a unit's captures ending, with the error that ended them.
type unitEnd struct {
	key unitKey
	u   *unit
	err error
}

// ctlRequest is a request to the supervisor from the ops listener.
type ctlRequest struct {
	op, name string
	reply    chan ctlReply
}

type ctlReply struct {
	status []FlowLogStatus
	err    error
}

// ErrUnknownFlowLog is returned for a name no flow log has.
var ErrUnknownFlowLog = errors.New("no such flow log")

// supervisor is Run's state.
type supervisor struct {
	c        *Collector
	sp       *spool.Spool
	ctx      context.Context // Run's
	upCtx    context.Context // uploads outlive Run's context by the shutdown grace
	logs     []*flowLogRun   // in configuration order
	units    map[unitKey]*unit
	ends     chan unitEnd
	failedAt map[unitKey]retry
	lastEnd  map[string]int64 // by object name: the end of the last object written
	tooMany  bool             // maxUnits reached, logged once
	stopping int              // units stopped whose captures have not ended yet
	nflog    map[uint16]*atomic.Pointer[[]*liveFlowLog]
	nflogG   *errgroup.Group
	state    string         // path of the file keeping suspended flow logs
	retiring sync.WaitGroup // uploaders of removed flow logs, finishing
}

// stateFile keeps which flow logs are suspended, beside the spool.
const stateFile = "flowlog-state.json"

type savedState struct {
	Suspended []string `json:"suspended"`
}

// Run captures until ctx ends, then writes the open windows and uploads
// what it can within ShutdownGrace.
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
	upCtx, stopUploads := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUploads()
	s := &supervisor{c: c, sp: sp, ctx: ctx, upCtx: upCtx, units: map[unitKey]*unit{}, ends: make(chan unitEnd, 16),
		failedAt: map[unitKey]retry{}, lastEnd: map[string]int64{}, nflog: map[uint16]*atomic.Pointer[[]*liveFlowLog]{}, nflogG: &errgroup.Group{},
		state: filepath.Join(sp.Dir(), stateFile)}
	suspended := s.loadState()
	for i := range c.cfg.FlowLogs {
		f, err := s.newFlowLog(c.cfg.FlowLogs[i])
		if err != nil {
			s.shutdown()
			return fmt.Errorf("flow log %q: %w", c.cfg.FlowLogs[i].Name, err)
		}
		f.suspended = suspended[f.cfg.Name]
		if f.suspended {
			c.log.Warn("flow log suspended (kept from before the restart): it captures nothing until resumed", "flow_log", f.cfg.Name)
		}
		s.logs = append(s.logs, f)
	}
	nctx, stopNFLOG := context.WithCancel(ctx)
	defer stopNFLOG()
	if err := s.reconcile(nctx, true); err != nil {
		stopNFLOG()
		s.shutdown()
		return err
	}
	events := make(chan struct{}, 1)
	go watchLinks(nctx, events, c.log)

	c.running.Store(true)
	c.log.Info("collector started", "flow_logs", len(s.logs), "units", len(s.units), "spool", sp.Dir())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var runErr error
	lastReconcile := time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-events:
			time.Sleep(100 * time.Millisecond) // a burst of events is one change
			s.drainEvents(events)
			s.reconcile(nctx, false)
			lastReconcile = time.Now()
		case e := <-s.ends:
			s.unitEnded(e)
		case req := <-c.ctl:
			req.reply <- s.handle(nctx, req)
		case now := <-tick.C:
			s.clock(now)
			if now.Sub(lastReconcile) >= 10*time.Second {
				// Netlink misses nothing, but a unit that failed waits
				// for this to be retried.
				s.reconcile(nctx, false)
				lastReconcile = now
			}
		}
	}
	c.running.Store(false)
	stopNFLOG()
	s.shutdown()
	if err := s.nflogG.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		runErr = err
	}
	left := waitEmpty(sp, s.names(), c.ShutdownGrace)
	for _, f := range s.logs {
		f.stopUp()
		<-f.upDone
	}
	s.retiring.Wait()
	if left > 0 {
		c.log.Warn("objects not uploaded before shutdown; they wait in the spool for the next start", "objects", left, "spool", sp.Dir())
	}
	c.log.Info("collector stopped")
	return runErr
}

func (s *supervisor) names() []string {
	var out []string
	for _, f := range s.logs {
		out = append(out, f.cfg.Name)
	}
	return out
}

func (s *supervisor) drainEvents(events chan struct{}) {
	for {
		select {
		case <-events:
		default:
			return
		}
	}
}

// newFlowLog opens a flow log's target and starts its uploader.
func (s *supervisor) newFlowLog(cfg FlowLogConfig) (*flowLogRun, error) {
	sc, err := cfg.Scope()
	if err != nil {
		return nil, err
	}
	loc, _ := objstore.ParseLocation(cfg.Target.URL) // validated
	store, err := objstore.Open(s.ctx, loc, cfg.Target.S3Config)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	c := s.c
	m := c.m.forFlowLog(cfg.Name)
	log := c.log.With("flow_log", cfg.Name)
	up := spool.NewUploader(s.sp, cfg.Name, store, spool.Backoff{Min: c.cfg.Upload.RetryMin, Max: c.cfg.Upload.RetryMax},
		spool.UploaderDeps{Logger: log, Uploads: m.uploads, Retries: m.retries, Permanent: m.permanent})
	uctx, stop := context.WithCancel(s.upCtx)
	f := &flowLogRun{cfg: cfg, scope: sc, up: up, stopUp: stop, upDone: make(chan struct{}), prefix: loc.Prefix, m: m}
	go func() {
		defer close(f.upDone)
		up.Run(uctx)
	}()
	c.upMu.Lock()
	if c.uploaders == nil {
		c.uploaders = map[string]*spool.Uploader{}
	}
	c.uploaders[cfg.Name] = up
	c.upMu.Unlock()
	return f, nil
}

func (s *supervisor) flowLog(name string) *flowLogRun {
	for _, f := range s.logs {
		if f.cfg.Name == name {
			return f
		}
	}
	return nil
}

// hostIfaces lists the host's interfaces with their addresses, and which
// are up.
func hostIfaces() ([]scope.Iface, map[string]bool, error) {
	ifis, err := net.Interfaces()
	if err != nil {
		return nil, nil, err
	}
	var out []scope.Iface
	up := map[string]bool{}
	for _, ifi := range ifis {
		up[ifi.Name] = ifi.Flags&net.FlagUp != 0
		ifc := scope.Iface{Name: ifi.Name}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					ifc.Addrs = append(ifc.Addrs, ip.Unmap())
				}
			}
		}
		out = append(out, ifc)
	}
	return out, up, nil
}

// Owners resolves which flow log of cfg captures which of the host's
// interfaces now, and why.
func Owners(cfg Config) (map[string]scope.Owner, error) {
	var logs []scope.FlowLog
	for i := range cfg.FlowLogs {
		sc, err := cfg.FlowLogs[i].Scope()
		if err != nil {
			return nil, err
		}
		logs = append(logs, scope.FlowLog{Name: cfg.FlowLogs[i].Name, Scope: sc})
	}
	ifaces, _, err := hostIfaces()
	if err != nil {
		return nil, err
	}
	return scope.Resolve(logs, ifaces), nil
}

// reconcile starts and stops units so that every interface is captured by
// the flow log that owns it now. At start, a flow log naming one interface
// that does not exist is an error; later it waits for the interface.
func (s *supervisor) reconcile(ctx context.Context, start bool) error {
	var logs []scope.FlowLog
	for _, f := range s.logs {
		logs = append(logs, scope.FlowLog{Name: f.cfg.Name, Scope: f.scope})
	}
	ifaces, up, err := hostIfaces()
	if err != nil {
		s.c.log.Error("listing interfaces", "err", err)
		return nil
	}
	owners := scope.Resolve(logs, ifaces)
	if start {
		for _, f := range s.logs {
			if f.scope.Kind() == scope.Interface {
				if _, ok := owners[f.scope.Interface]; !ok {
					return fmt.Errorf("flow log %q: interface: %s: no such network interface", f.cfg.Name, f.scope.Interface)
				}
			}
		}
	}
	// Stop units whose interface went, changed owner, or whose flow log
	// is suspended.
	for k, u := range s.units {
		o, ok := owners[k.iface]
		f := s.flowLog(k.flowLog)
		if !ok || o.FlowLog != k.flowLog || f == nil || f.suspended || (!up[k.iface] && f.scope.Kind() != scope.Interface) {
			why := "interface gone"
			switch {
			case f == nil:
				why = "flow log removed"
			case f.suspended:
				why = "flow log suspended"
			case ok && !up[k.iface]:
				why = "interface down"
			case ok:
				why = "now captured by flow log " + o.FlowLog + " (" + o.Why + ")"
			}
			s.stopUnit(k, u, why)
		}
	}
	for _, ifc := range ifaces {
		o, ok := owners[ifc.Name]
		if !ok {
			continue
		}
		k := unitKey{o.FlowLog, ifc.Name}
		f := s.flowLog(o.FlowLog)
		if !up[ifc.Name] && f.scope.Kind() != scope.Interface {
			continue // it joins when it comes up
		}
		if _, running := s.units[k]; running || f.suspended {
			if u := s.units[k]; u != nil {
				u.why = o.Why
			}
			continue
		}
		if r, failed := s.failedAt[k]; failed && time.Now().Before(r.next) && !start {
			continue
		}
		if len(s.units) >= maxUnits {
			if !s.tooMany {
				s.c.log.Error("too many interfaces to capture; the rest are left out", "max", maxUnits, "flow_log", f.cfg.Name, "interface", ifc.Name)
				s.tooMany = true
			}
			continue
		}
		u, err := s.startUnit(ctx, f, ifc.Name, o.Why)
		if err != nil {
			if start && f.scope.Kind() == scope.Interface {
				return fmt.Errorf("flow log %q: %w", f.cfg.Name, err)
			}
			s.failed(k, "cannot capture an interface", err)
			continue
		}
		delete(s.failedAt, k)
		s.units[k] = u
		if !start {
			s.c.log.Info("interface joined its flow log", "flow_log", f.cfg.Name, "interface", ifc.Name, "why", o.Why)
		}
	}
	s.updateNFLOG(ctx)
	return nil
}

var ifaceNameSafe = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// Bounds on what wide scopes open: ring blocks (1 MiB each) per interface
// of a pattern, subnet or host flow log, and interfaces captured at once.
const (
	wideRingBlocks = 4
	maxUnits       = 1024
)

// startUnit opens the captures of one interface for flow log f.
func (s *supervisor) startUnit(ctx context.Context, f *flowLogRun, iface, why string) (*unit, error) {
	cfg := f.cfg
	objName := cfg.Name
	ring := capture.DefaultLiveConfig()
	if f.scope.Kind() != scope.Interface {
		// One object per interface and window; the interface id is derived.
		// Wide scopes may take hundreds of veths: 4 MiB rings each.
		objName = cfg.Name + "-" + ifaceNameSafe.ReplaceAllString(iface, "_")
		cfg.InterfaceID = ifaceid.Derive(s.c.host, iface)
		ring.NumBlocks = wideRingBlocks
	}
	cfg.Interface = iface
	log := s.c.log.With("flow_log", cfg.Name, "interface", iface)
	emit := func(key string, data []byte) error {
		if err := s.sp.Write(cfg.Name, key, data); err != nil {
			if errors.Is(err, spool.ErrFull) {
				log.Error("SPOOL FULL: window dropped; the target is unreachable or too slow", "key", key, "err", err)
			}
			return err
		}
		f.up.Notify()
		return nil
	}
	l, err := openLive(&cfg, f.prefix, objName, ring, emit, log, f.m)
	if err != nil {
		return nil, err
	}
	l.fl.lastEnd.Store(s.lastEnd[objName])
	uctx, cancel := context.WithCancel(ctx)
	u := &unit{flowLog: cfg.Name, iface: iface, why: why, l: l, cancel: cancel}
	k := unitKey{cfg.Name, iface}
	go func() {
		g, gctx := errgroup.WithContext(uctx)
		for _, live := range l.lives {
			g.Go(func() error { return s.c.capture(gctx, l, live) })
		}
		// The supervisor closes the rings: it reads their drop counters.
		s.ends <- unitEnd{k, u, g.Wait()}
	}()
	return u, nil
}

// stopUnit stops a unit's captures and writes its open window.
func (s *supervisor) stopUnit(k unitKey, u *unit, why string) {
	u.stopped = true
	s.stopping++
	u.cancel()
	u.l.fl.close(time.Now().Unix())
	s.lastEnd[u.l.fl.name] = u.l.fl.lastEnd.Load()
	delete(s.units, k)
	s.c.log.Info("interface left its flow log; its open window is written", "flow_log", k.flowLog, "interface", k.iface, "why", why)
}

// unitEnded handles a unit whose captures ended by themselves (the
// interface went away, a read error): its window is written, and the
// next reconcile starts it again if the interface is still there.
func (s *supervisor) unitEnded(e unitEnd) {
	for _, live := range e.u.l.lives {
		live.Close()
	}
	if e.u.stopped {
		s.stopping--
		return
	}
	if s.units[e.key] == e.u {
		delete(s.units, e.key)
	}
	e.u.l.fl.close(time.Now().Unix())
	s.lastEnd[e.u.l.fl.name] = e.u.l.fl.lastEnd.Load()
	s.failed(e.key, "capture ended; the open window is written", e.err)
	s.updateNFLOG(s.ctx)
}

// retry is when a unit that failed is tried again: 5 s after the first
// failure, doubling to 5 minutes.
type retry struct {
	next  time.Time
	delay time.Duration
}

// failed logs a unit's failure and sets when it is tried again.
func (s *supervisor) failed(k unitKey, what string, err error) {
	r := s.failedAt[k]
	r.delay = min(max(2*r.delay, 5*time.Second), 5*time.Minute)
	r.next = time.Now().Add(r.delay)
	s.failedAt[k] = r
	s.c.log.Warn(what+"; trying again", "flow_log", k.flowLog, "interface", k.iface, "in", r.delay, "err", err)
}

// clock writes windows when their time is up and collects kernel drops.
func (s *supervisor) clock(now time.Time) {
	grace := int64(s.c.RotationGrace / time.Second)
	for _, u := range s.units {
		for _, live := range u.l.lives {
			if n, err := live.Drops(); err != nil {
				s.c.log.Warn("kernel drop counter", "flow_log", u.flowLog, "interface", u.iface, "err", err)
			} else {
				u.l.fl.kernelDrops(n)
			}
		}
		u.l.fl.tick(now.Unix(), grace)
	}
}

// updateNFLOG hands each firewall log group the units of its flow logs,
// starting a listener for a group first used.
func (s *supervisor) updateNFLOG(ctx context.Context) {
	members := map[uint16][]*liveFlowLog{}
	for _, f := range s.logs {
		if f.cfg.NFLOGGroup != nil {
			members[uint16(*f.cfg.NFLOGGroup)] = members[uint16(*f.cfg.NFLOGGroup)]
		}
	}
	for _, u := range s.units {
		if g := u.l.cfg.NFLOGGroup; g != nil {
			members[uint16(*g)] = append(members[uint16(*g)], u.l)
		}
	}
	for g, m := range members {
		p := s.nflog[g]
		if p == nil {
			p = &atomic.Pointer[[]*liveFlowLog]{}
			s.nflog[g] = p
			p.Store(&m)
			s.nflogG.Go(func() error { return s.c.listenNFLOG(ctx, g, p) })
			continue
		}
		p.Store(&m)
	}
	for g, p := range s.nflog {
		if _, used := members[g]; !used {
			p.Store(&[]*liveFlowLog{})
		}
	}
}

// shutdown stops every unit, writing the open windows, and closes their
// rings once their captures have ended.
func (s *supervisor) shutdown() {
	now := time.Now().Unix()
	for k, u := range s.units {
		u.stopped = true
		s.stopping++
		u.cancel()
		u.l.fl.close(now)
		delete(s.units, k)
	}
	for s.stopping > 0 {
		s.unitEnded(<-s.ends)
	}
	for _, f := range s.logs {
		f.up.Notify()
	}
}

// loadState reads which flow logs were suspended.
func (s *supervisor) loadState() map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile(s.state)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	var st savedState
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		s.c.log.Error("reading which flow logs are suspended; all run", "file", s.state, "err", err)
		return out
	}
	for _, n := range st.Suspended {
		out[n] = true
	}
	return out
}

func (s *supervisor) saveState() error {
	var st savedState
	for _, f := range s.logs {
		if f.suspended {
			st.Suspended = append(st.Suspended, f.cfg.Name)
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.state, 0o600, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// handle answers a request of the ops listener.
func (s *supervisor) handle(ctx context.Context, req ctlRequest) ctlReply {
	switch req.op {
	case "status":
		return ctlReply{status: s.status()}
	case "suspend", "resume":
		f := s.flowLog(req.name)
		if f == nil {
			return ctlReply{err: fmt.Errorf("%w: %q", ErrUnknownFlowLog, req.name)}
		}
		want := req.op == "suspend"
		if f.suspended != want {
			f.suspended = want
			if err := s.saveState(); err != nil {
				f.suspended = !want
				return ctlReply{err: fmt.Errorf("keeping the state in %s: %w", s.state, err)}
			}
			s.c.log.Info(map[bool]string{true: "flow log suspended: its windows are written, it captures nothing until resumed", false: "flow log resumed"}[want], "flow_log", f.cfg.Name)
			s.reconcile(ctx, false)
		}
		return ctlReply{status: s.status()}
	case "reload":
		if err := s.reload(ctx); err != nil {
			return ctlReply{err: err}
		}
		return ctlReply{status: s.status()}
	}
	return ctlReply{err: fmt.Errorf("unknown request %q", req.op)}
}

// reload reads the configuration again: flow logs added start, removed
// ones write their windows and stop, changed ones write and restart. An
// invalid file changes nothing.
func (s *supervisor) reload(ctx context.Context) error {
	if s.c.reload == nil {
		return errors.New("reload: the collector was not started from a file")
	}
	cfg, err := s.c.reload()
	if err != nil {
		return fmt.Errorf("reload refused, the running configuration is kept: %w", err)
	}
	cfg.SetDefaults()
	s.c.deriveIDs(&cfg)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("reload refused, the running configuration is kept: %w", err)
	}
	old := s.c.cfg
	if cfg.Listen != old.Listen || cfg.Spool != old.Spool || cfg.Upload != old.Upload || cfg.ControlToken != old.ControlToken {
		s.c.log.Warn("listen, control_token, spool and upload change only with a restart; the rest is reloaded")
		cfg.Listen, cfg.Spool, cfg.Upload, cfg.ControlToken = old.Listen, old.Spool, old.Upload, old.ControlToken
	}
	var added, removed, changed []string
	keep := map[string]bool{}
	var next []*flowLogRun
	for i := range cfg.FlowLogs {
		nc := cfg.FlowLogs[i]
		keep[nc.Name] = true
		f := s.flowLog(nc.Name)
		if f != nil && reflect.DeepEqual(f.cfg, nc) {
			next = append(next, f)
			continue
		}
		nf, err := s.newFlowLog(nc)
		if err != nil {
			// The flow logs opened so far are dropped; the running
			// ones keep their uploaders.
			for _, n := range next {
				if s.flowLog(n.cfg.Name) != n {
					n.stopUp()
				}
			}
			s.c.upMu.Lock()
			for _, f := range s.logs {
				s.c.uploaders[f.cfg.Name] = f.up
			}
			s.c.upMu.Unlock()
			return fmt.Errorf("reload refused, the running configuration is kept: flow log %q: %w", nc.Name, err)
		}
		if f != nil {
			nf.suspended = f.suspended
			changed = append(changed, nc.Name)
		} else {
			added = append(added, nc.Name)
		}
		next = append(next, nf)
	}
	// Stop the units of flow logs removed or changed: their windows are
	// written under the old configuration.
	for k, u := range s.units {
		f := s.flowLog(k.flowLog)
		if !keep[k.flowLog] || !slices.Contains(next, f) {
			s.stopUnit(k, u, "configuration reloaded")
		}
	}
	for _, f := range s.logs {
		if slices.Contains(next, f) {
			continue
		}
		if !keep[f.cfg.Name] {
			removed = append(removed, f.cfg.Name)
			s.c.upMu.Lock()
			delete(s.c.uploaders, f.cfg.Name)
			s.c.upMu.Unlock()
		}
		if keep[f.cfg.Name] {
			// Changed: the new uploader takes over the queue.
			f.stopUp()
			<-f.upDone
			continue
		}
		// Removed: its uploader gets the shutdown grace for the last
		// windows; what is left waits in the spool until the flow log is
		// configured again.
		f.up.Notify()
		s.retiring.Add(1)
		go func(f *flowLogRun) {
			defer s.retiring.Done()
			if n := waitEmpty(s.sp, []string{f.cfg.Name}, s.c.ShutdownGrace); n > 0 {
				s.c.log.Warn("objects of a removed flow log wait in the spool; configure it again to upload them",
					"flow_log", f.cfg.Name, "objects", n)
			}
			f.stopUp()
			<-f.upDone
		}(f)
	}
	s.logs = next
	s.c.cfg = cfg
	s.c.log.Info("configuration reloaded", "added", added, "removed", removed, "changed", changed)
	return s.reconcile(ctx, false)
}

// FlowLogStatus is what /flowlogs says of a flow log.
type FlowLogStatus struct {
	Name       string            `json:"name"`
	State      string            `json:"state"` // running or suspended
	Scope      string            `json:"scope"`
	Interfaces []InterfaceStatus `json:"interfaces"`
	Packets    uint64            `json:"packets"`
	Bytes      uint64            `json:"bytes"`
	Records    uint64            `json:"records"`
	Windows    uint64            `json:"windows"`
	Spooled    int               `json:"spooled_objects"`
}

// InterfaceStatus is an interface a flow log captures, and why it does.
type InterfaceStatus struct {
	Name        string `json:"name"`
	InterfaceID string `json:"interface_id"`
	Why         string `json:"why"`
}

func (s *supervisor) status() []FlowLogStatus {
	var out []FlowLogStatus
	for _, f := range s.logs {
		st := FlowLogStatus{Name: f.cfg.Name, State: "running", Scope: f.cfg.ScopeText(),
			Packets: counterValue(f.m.packets), Bytes: counterValue(f.m.bytes), Records: counterValue(f.m.records),
			Windows: counterValue(f.m.windows), Spooled: len(s.sp.Pending(f.cfg.Name)), Interfaces: []InterfaceStatus{}}
		if f.suspended {
			st.State = "suspended"
		}
		for k, u := range s.units {
			if k.flowLog == f.cfg.Name {
				st.Interfaces = append(st.Interfaces, InterfaceStatus{Name: k.iface, InterfaceID: string(u.l.fl.ifaceID), Why: u.why})
			}
		}
		slices.SortFunc(st.Interfaces, func(a, b InterfaceStatus) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, st)
	}
	return out
}
