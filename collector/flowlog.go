package collector

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/collector/flowtable"
	"github.com/flowlog/flowlog/internal/objkey"
	"github.com/flowlog/flowlog/parser"
)

// maxCredits bounds the firewall drops waiting for their captured copy.
const maxCredits = 4096

// creditWindow is how far apart, in seconds, the firewall's report of a drop
// and the captured copy of the same packet may be.
const creditWindow = 2

// credit counts firewall drops whose captured copy has not been seen yet: the
// next captured packets of the key are not counted as ACCEPT.
type credit struct {
	n  uint32
	ts int64
}

// emitFunc receives a finished object.
type emitFunc func(key string, data []byte) error

// flowLog aggregates the packets of one interface into windows and turns each
// non-empty window into one gzip object. It is safe for concurrent use: the
// capture, the firewall log and the rotation clock all feed it.
type flowLog struct {
	name     string
	prefix   string
	rotation int64 // seconds
	header   bool
	account  []byte
	ifaceID  []byte
	dir      decode.Direction // Unknown: both directions
	actions  actionFilter
	emit     emitFunc
	log      *slog.Logger
	m        flowLogMetrics

	mu      sync.Mutex
	table   *flowtable.Table
	window  int64 // start of the open window, -1 when none is open
	floor   int64 // end of the last written window: later packets go no earlier
	credits map[flowtable.Key]credit
	drops   uint64 // kernel drops reported during the open window
	flows   []flowtable.Flow
	rec     parser.Record
	line    []byte
	obj     bytes.Buffer
	gz      *gzip.Writer
	written uint64 // records written, for replay summaries
	// lastEnd is the end (in the key) of the last object written; a unit
	// that takes over an interface starts from its predecessor's.
	lastEnd atomic.Int64
}

func newFlowLog(cfg *FlowLogConfig, prefix string, emit emitFunc, log *slog.Logger, m flowLogMetrics) (*flowLog, error) {
	dir, err := ParseDirection(cfg.Direction)
	if err != nil {
		return nil, err
	}
	actions, err := parseActionFilter(cfg.Action)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewWriterLevel(nil, cfg.GzipLevel)
	if err != nil {
		return nil, fmt.Errorf("gzip_level: %w", err)
	}
	return &flowLog{
		name:     cfg.Name,
		prefix:   prefix,
		rotation: int64(cfg.Rotation / time.Second),
		header:   *cfg.Header,
		account:  []byte(cfg.AccountID),
		ifaceID:  []byte(cfg.InterfaceID),
		dir:      dir,
		actions:  actions,
		emit:     emit,
		log:      log,
		m:        m,
		table:    flowtable.New(cfg.MaxFlows),
		window:   -1,
		credits:  make(map[flowtable.Key]credit),
		gz:       gz,
	}, nil
}

func (l *flowLog) wants(d decode.Direction) bool {
	return l.dir == decode.Unknown || d == decode.Unknown || d == l.dir
}

func key(p *decode.Packet, a parser.Action) flowtable.Key {
	return flowtable.Key{Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort, Protocol: p.Protocol, Action: a}
}

// packet counts a packet the capture saw crossing the interface; it was
// accepted unless the firewall reported dropping it.
func (l *flowLog) packet(p *decode.Packet, ts int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(ts)
	k := key(p, parser.ActionAccept)
	if len(l.credits) > 0 {
		if c, ok := l.credits[k]; ok && ts-c.ts <= creditWindow && c.ts-ts <= creditWindow {
			if c.n--; c.n == 0 {
				delete(l.credits, k)
			} else {
				l.credits[k] = c
			}
			return // counted as REJECT when the firewall reported it
		}
	}
	if !l.actions.accept || !l.wants(p.Direction) {
		return
	}
	l.add(k, p, ts)
}

// rejected counts a packet the firewall dropped. captured says whether the
// capture sees the packet too (it arrived on this interface); that copy is
// then taken back from ACCEPT, now or when it comes.
func (l *flowLog) rejected(p *decode.Packet, ts int64, captured bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(ts)
	counted := false // already in the packet metrics as ACCEPT
	if captured {
		ka := key(p, parser.ActionAccept)
		if l.table.Remove(ka, uint64(p.Length)) {
			counted = true
		} else if c, ok := l.credits[ka]; ok || len(l.credits) < maxCredits {
			c.n++
			c.ts = ts
			l.credits[ka] = c
		}
	}
	if !l.actions.reject || !l.wants(p.Direction) {
		return
	}
	if !l.table.Add(key(p, parser.ActionReject), uint64(p.Length), ts) {
		l.m.lost.Inc()
	} else if !counted {
		l.m.packets.Inc()
		l.m.bytes.Add(float64(p.Length))
	}
}

func (l *flowLog) add(k flowtable.Key, p *decode.Packet, ts int64) {
	if !l.table.Add(k, uint64(p.Length), ts) {
		l.m.lost.Inc()
		return
	}
	l.m.packets.Inc()
	l.m.bytes.Add(float64(p.Length))
}

// kernelDrops records packets the kernel dropped before the capture read them.
func (l *flowLog) kernelDrops(n uint64) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	l.drops += n
	l.mu.Unlock()
	l.m.drops.Add(float64(n))
}

// advance opens the window of ts, writing the open one if ts is past it.
// Packets older than the last written window count in the next one.
func (l *flowLog) advance(ts int64) {
	w := max(ts-ts%l.rotation, l.floor)
	switch {
	case l.window < 0:
		l.window = w
	case w > l.window:
		l.writeWindow(l.window + l.rotation)
		l.window = w
	}
}

// tick writes the open window once the clock is grace seconds past its end,
// so that a quiet interface does not hold a window open.
func (l *flowLog) tick(now, grace int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.window >= 0 && now >= l.window+l.rotation+grace {
		l.writeWindow(l.window + l.rotation)
	}
}

// close writes the open window. A window cut short by a shutdown is named
// after the time it stopped, so that a restart within the same window
// writes a second object rather than replacing the first.
func (l *flowLog) close(now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.window < 0 {
		return
	}
	end := l.window + l.rotation
	if now > l.window && now < end {
		end = now
	}
	l.writeWindow(end)
}

// finish writes the open window under its full end, for replays that have
// read all their packets.
func (l *flowLog) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.window >= 0 {
		l.writeWindow(l.window + l.rotation)
	}
}

// writeWindow turns the open window into an object named after end and
// empties the table. Called with l.mu held.
func (l *flowLog) writeWindow(end int64) {
	start := l.window
	lost, drops := l.table.Lost(), l.drops
	l.flows = l.table.Flows(l.flows[:0])
	l.table.Reset()
	clear(l.credits)
	l.drops = 0
	l.window = -1
	l.floor = max(l.floor, start+l.rotation)

	status := parser.LogStatusOK
	if lost > 0 || drops > 0 {
		status = parser.LogStatusSkipData
		l.log.Warn("window lost packets; its records are marked SKIPDATA",
			"window_end", end, "table_full_packets", lost, "kernel_drops", drops)
		l.m.skipWindows.Inc()
	}
	if len(l.flows) == 0 && status == parser.LogStatusOK {
		return // no traffic, no object
	}
	// Two objects of one name never share an end (their key): a window
	// cut short by a suspension or reload and the next one written within
	// the same second are a second apart.
	end = max(end, l.lastEnd.Load()+1)
	l.lastEnd.Store(end)
	data, err := l.encode(start, end, status)
	if err != nil {
		l.log.Error("window not written: cannot encode it", "window_end", end, "err", err)
		l.m.windowsFailed.Inc()
		return
	}
	k := objkey.Format(l.prefix, l.name, end)
	if err := l.emit(k, data); err != nil {
		l.log.Error("window not written", "key", k, "records", len(l.flows), "err", err)
		l.m.windowsFailed.Inc()
		return
	}
	l.m.windows.Inc()
	l.m.records.Add(float64(len(l.flows)))
	l.written += uint64(len(l.flows))
}

// encode returns the gzip object of the flows in l.flows. The slice is valid
// until the next call.
func (l *flowLog) encode(start, end int64, status parser.LogStatus) ([]byte, error) {
	l.obj.Reset()
	l.gz.Reset(&l.obj)
	buf := l.line[:0]
	if l.header {
		buf = parser.AppendHeader(buf)
	}
	rec := &l.rec
	if len(l.flows) == 0 {
		// Everything in the window was lost: say so with one record, as AWS does.
		rec.Reset()
		l.fillCommon(rec, status)
		rec.Start, rec.End = start, end
		rec.Mark(parser.FieldStart, parser.FieldEnd)
		buf = parser.AppendRecord(buf, rec)
	}
	for i := range l.flows {
		f := &l.flows[i]
		rec.Reset()
		l.fillCommon(rec, status)
		rec.SrcAddr, rec.DstAddr = f.Src, f.Dst
		rec.SrcPort, rec.DstPort = f.SrcPort, f.DstPort
		rec.Protocol = f.Protocol
		rec.Packets, rec.Bytes = f.Packets, f.Bytes
		rec.Start, rec.End = f.Start, f.End
		rec.Action = f.Action
		rec.MarkFlow()
		buf = parser.AppendRecord(buf, rec)
		if len(buf) >= 64<<10 {
			if _, err := l.gz.Write(buf); err != nil {
				return nil, err
			}
			buf = buf[:0]
		}
	}
	if _, err := l.gz.Write(buf); err != nil {
		return nil, err
	}
	l.line = buf[:0]
	if err := l.gz.Close(); err != nil {
		return nil, err
	}
	return l.obj.Bytes(), nil
}

func (l *flowLog) fillCommon(rec *parser.Record, status parser.LogStatus) {
	rec.Version = 2
	rec.AccountID = l.account
	rec.InterfaceID = l.ifaceID
	rec.LogStatus = status
	rec.Mark(parser.FieldVersion, parser.FieldAccountID, parser.FieldInterfaceID, parser.FieldLogStatus)
}
