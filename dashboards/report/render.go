package report

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowlog/flowlog/exporter/ecs"
)

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":   num,
	"size":  size,
	"pct":   pct,
	"proto": protoName,
	"dict":  dict,
}).Parse(pageText))

// dict makes a map of its key, value arguments, for passing several values
// to a template.
func dict(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// Page is what the HTML shows, computed from a Summary.
type Page struct {
	Title, Generated string
	Sources          []string // what was read
	Notes            []string // approximations, read errors
	S                *Summary
	From, To         string
	Interfaces       int
	RejectedShare    float64
	Interval         string
	BytesChart       Chart
	FlowsChart       Chart
	TopSources       []Row
	TopDests         []Row
	TopPairs         []Row
	TopPorts         []Row
	RejectedSources  []Row
	RejectedPorts    []Row
	Scans            []ScanRow
	ScanMin          int
	Countries        []Row
	Quality          []QualityRow
}

// Row is a line of a top list: its label, counts, and bar width in % of
// the first row.
type Row struct {
	Label, Label2 string
	Counts
	Bar float64
}

// ScanRow is a possible scan.
type ScanRow struct {
	Source                string
	Ports, Hosts          int
	Flows, RejectedFlows  uint64
	RejectedShare         float64
	PortsCapped, HostsCap bool
}

// QualityRow is an interface's data quality.
type QualityRow struct {
	Interface              string
	Records, Flows         uint64
	SkipWindows, NoWindows int
	Skipped                []string // SKIPDATA windows, latest first, at most 10
}

// Chart is a stacked bar chart of accepted and rejected traffic over time,
// laid out for an SVG of Width × Height.
type Chart struct {
	Width, Height int
	Bars          []Bar
	Ticks         []Tick
	Max           string
	Empty         bool
}

// Bar is one interval: its accepted part above its rejected part.
type Bar struct {
	X, W, YAcc, HAcc, YRej, HRej float64
	Title                        string
}

// Tick is a label on the time axis.
type Tick struct {
	X     float64
	Label string
}

const topN = 20

// WriteHTML writes the page. sources says what was read; notes are shown
// above the figures (read errors, for example).
func (s *Summary) WriteHTML(w io.Writer, title string, sources, notes []string, now time.Time) error {
	p := Page{Title: title, Generated: now.UTC().Format("2006-01-02 15:04:05Z"), Sources: sources, S: s,
		Interfaces: len(s.quality), ScanMin: s.opts.ScanMin}
	p.Notes = append(p.Notes, notes...)
	if s.First > 0 {
		p.From = time.Unix(s.First, 0).UTC().Format("2006-01-02 15:04Z")
		p.To = time.Unix(s.Last, 0).UTC().Format("2006-01-02 15:04Z")
	}
	if s.OK.Flows > 0 {
		p.RejectedShare = float64(s.Rejected.Flows) / float64(s.OK.Flows)
	}
	step := interval(s.First, s.Last)
	p.Interval = durationText(step)
	p.BytesChart = s.chart(step, func(c *Counts) uint64 { return c.Bytes }, size)
	p.FlowsChart = s.chart(step, func(c *Counts) uint64 { return c.Flows }, num)

	addrLess := func(a, b netip.Addr) int { return a.Compare(b) }
	p.TopSources = rows(s.sources.top(topN, addrLess), byBytes, func(a netip.Addr) (string, string) { return addr(a), "" })
	p.TopDests = rows(s.dests.top(topN, addrLess), byBytes, func(a netip.Addr) (string, string) { return addr(a), "" })
	p.TopPairs = rows(s.pairs.top(topN, func(a, b pair) int {
		return cmp.Or(a.Src.Compare(b.Src), a.Dst.Compare(b.Dst))
	}), byBytes, func(k pair) (string, string) { return addr(k.Src), addr(k.Dst) })
	portLess := func(a, b portKey) int { return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto)) }
	portLabel := func(k portKey) (string, string) { return strconv.Itoa(int(k.Port)), protoName(k.Proto) }
	p.TopPorts = rows(s.ports.top(topN, portLess), byFlows, portLabel)
	p.RejectedSources = rows(s.rejSources.top(topN, addrLess), byFlows, func(a netip.Addr) (string, string) { return addr(a), "" })
	p.RejectedPorts = rows(s.rejPorts.top(topN, portLess), byFlows, portLabel)
	p.Countries = rows(s.countries.top(50, strings.Compare), byBytes, func(c string) (string, string) { return c, "" })
	p.Scans = s.scanRows()
	p.Quality = s.qualityRows()

	for name, approx := range map[string]bool{
		"top sources": s.sources.approx, "top destinations": s.dests.approx, "top pairs": s.pairs.approx,
		"top ports": s.ports.approx, "rejected sources": s.rejSources.approx, "rejected ports": s.rejPorts.approx,
		"possible scans": s.scansApprox, "data quality": s.qualityApprox, "traffic over time": s.minutesDropped,
	} {
		if approx {
			p.Notes = append(p.Notes, fmt.Sprintf("The %s list is approximate: there were more than %s distinct keys, and the smallest were dropped to bound memory.", name, num(uint64(s.opts.MaxKeys))))
		}
	}
	slices.Sort(p.Notes[len(notes):])
	return page.Execute(w, p)
}

func rows[K any](es []Entry[K], rank func(*Counts) uint64, label func(K) (string, string)) []Row {
	out := make([]Row, 0, len(es))
	for _, e := range es {
		r := Row{Counts: e.Counts}
		r.Label, r.Label2 = label(e.Key)
		if top := rank(&es[0].Counts); top > 0 {
			r.Bar = 100 * float64(rank(&e.Counts)) / float64(top)
		}
		out = append(out, r)
	}
	return out
}

// addr shows an address; records without one (NODATA) never reach here.
func addr(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.Unmap().String()
}

// scanRows lists the sources that reached at least ScanMin destination
// ports or hosts with more than half their flows rejected, most ports and
// hosts first.
func (s *Summary) scanRows() []ScanRow {
	var out []ScanRow
	for src, st := range s.scans {
		if len(st.ports) < s.opts.ScanMin && len(st.hosts) < s.opts.ScanMin {
			continue
		}
		if 2*st.rejected <= st.flows {
			continue
		}
		out = append(out, ScanRow{Source: addr(src), Ports: len(st.ports), Hosts: len(st.hosts), Flows: st.flows,
			RejectedFlows: st.rejected, RejectedShare: float64(st.rejected) / float64(st.flows),
			PortsCapped: len(st.ports) >= scanCap, HostsCap: len(st.hosts) >= scanCap})
	}
	slices.SortFunc(out, func(a, b ScanRow) int {
		return cmp.Or(cmp.Compare(b.Ports+b.Hosts, a.Ports+a.Hosts), strings.Compare(a.Source, b.Source))
	})
	return out[:min(len(out), 50)]
}

func (s *Summary) qualityRows() []QualityRow {
	var out []QualityRow
	for iface, q := range s.quality {
		r := QualityRow{Interface: iface, Records: q.records, Flows: q.flows, SkipWindows: len(q.skip), NoWindows: len(q.nodata)}
		ws := make([]window, 0, len(q.skip))
		for w := range q.skip {
			ws = append(ws, w)
		}
		slices.SortFunc(ws, func(a, b window) int { return cmp.Or(cmp.Compare(b.start, a.start), cmp.Compare(b.end, a.end)) })
		for _, w := range ws[:min(len(ws), 10)] {
			r.Skipped = append(r.Skipped, time.Unix(w.start, 0).UTC().Format("2006-01-02 15:04:05")+" – "+time.Unix(w.end, 0).UTC().Format("15:04:05Z"))
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b QualityRow) int {
		return cmp.Or(cmp.Compare(b.SkipWindows, a.SkipWindows), cmp.Compare(b.NoWindows, a.NoWindows), strings.Compare(a.Interface, b.Interface))
	})
	return out
}

// interval is the chart's step: the shortest of the usual ones giving at
// most 120 bars over [first, last].
func interval(first, last int64) int64 {
	span := last - first
	for _, d := range []int64{60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400} {
		if span/d < 120 {
			return d
		}
	}
	return 365 * 86400
}

func durationText(sec int64) string {
	switch {
	case sec%86400 == 0:
		return plural(sec/86400, "day")
	case sec%3600 == 0:
		return plural(sec/3600, "hour")
	}
	return plural(sec/60, "minute")
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// chart lays out accepted (above) and rejected (below, red) traffic per
// step, measured by v.
func (s *Summary) chart(step int64, v func(*Counts) uint64, format func(uint64) string) Chart {
	c := Chart{Width: 960, Height: 220}
	if len(s.minutes) == 0 {
		c.Empty = true
		return c
	}
	type acc struct{ a, r Counts }
	buckets := map[int64]*acc{}
	lo, hi := int64(1<<62), int64(0)
	for m, b := range s.minutes {
		k := m - m%step
		e := buckets[k]
		if e == nil {
			e = &acc{}
			buckets[k] = e
		}
		for i, part := range []*Counts{&e.a, &e.r} {
			part.Bytes += b[i].Bytes
			part.Packets += b[i].Packets
			part.Flows += b[i].Flows
		}
		lo, hi = min(lo, k), max(hi, k)
	}
	var top uint64
	for _, e := range buckets {
		top = max(top, v(&e.a)+v(&e.r))
	}
	const left, bottom, plotTop = 70.0, 24.0, 8.0
	plotW, plotH := float64(c.Width)-left-8, float64(c.Height)-bottom-plotTop
	n := (hi-lo)/step + 1
	bw := plotW / float64(n)
	c.Max = format(top)
	for k := lo; k <= hi; k += step {
		e := buckets[k]
		if e == nil || top == 0 {
			continue
		}
		x := left + float64((k-lo)/step)*bw
		hr := plotH * float64(v(&e.r)) / float64(top)
		ha := plotH * float64(v(&e.a)) / float64(top)
		base := plotTop + plotH
		c.Bars = append(c.Bars, Bar{X: round(x), W: round(max(bw*0.85, 0.5)),
			YRej: round(base - hr), HRej: round(hr), YAcc: round(base - hr - ha), HAcc: round(ha),
			Title: time.Unix(k, 0).UTC().Format("2006-01-02 15:04Z") + ": accepted " + format(v(&e.a)) + ", rejected " + format(v(&e.r))})
	}
	ticks := min(int(n), 6)
	for i := 0; i < ticks; i++ {
		k := lo + (int64(i)*n/int64(ticks))*step
		layout := "15:04"
		if hi-lo >= 86400 {
			layout = "01-02 15:04"
		}
		c.Ticks = append(c.Ticks, Tick{X: round(left + float64((k-lo)/step)*bw), Label: time.Unix(k, 0).UTC().Format(layout)})
	}
	return c
}

func round(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

// num writes n with thousands separators: 1,234,567.
func num(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// size writes a byte count in binary units: 1.5 MiB.
func size(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func protoName(p uint8) string {
	if name := ecs.Transport(p); name != "" {
		return name
	}
	return strconv.Itoa(int(p))
}
