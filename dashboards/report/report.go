// Package report summarises flow records into a self-contained HTML page:
// traffic over time by action, top talkers, rejected ports and sources,
// possible scans, countries, and SKIPDATA/NODATA windows per interface. It
// is for those who have neither Grafana nor Kibana at hand. Memory is
// bounded: past a number of distinct keys the smallest are dropped and the
// page says which lists are approximate.
package report

import (
	"cmp"
	"net/netip"
	"slices"
)

// Flow is one record as the report counts it.
type Flow struct {
	Start, End       int64 // unix seconds
	Iface            string
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	Packets, Bytes   uint64
	Rejected         bool
	Status           string // OK, NODATA, SKIPDATA
	SrcCountry       string // ISO code; "" when unknown
}

// Counts are the totals of some flows.
type Counts struct{ Bytes, Packets, Flows uint64 }

func (c *Counts) add(f *Flow) {
	c.Bytes += f.Bytes
	c.Packets += f.Packets
	c.Flows++
}

// Options bound the report's memory.
type Options struct {
	MaxKeys int // distinct addresses, pairs, ports… kept per list; default 200,000
	ScanMin int // distinct ports or hosts that make a possible scan; default 10
}

func (o Options) withDefaults() Options {
	if o.MaxKeys <= 0 {
		o.MaxKeys = 200_000
	}
	if o.ScanMin <= 0 {
		o.ScanMin = 10
	}
	return o
}

// counter counts flows by key, keeping at most max keys: when full, the
// half with the lowest rank is dropped and the counter is approximate.
type counter[K comparable] struct {
	m      map[K]*Counts
	max    int
	rank   func(*Counts) uint64
	approx bool
}

func newCounter[K comparable](max int, rank func(*Counts) uint64) *counter[K] {
	return &counter[K]{m: map[K]*Counts{}, max: max, rank: rank}
}

func byBytes(c *Counts) uint64 { return c.Bytes }
func byFlows(c *Counts) uint64 { return c.Flows }

func (c *counter[K]) add(k K, f *Flow) {
	e := c.m[k]
	if e == nil {
		if len(c.m) >= c.max {
			c.prune()
		}
		e = &Counts{}
		c.m[k] = e
	}
	e.add(f)
}

func (c *counter[K]) prune() {
	ranks := make([]uint64, 0, len(c.m))
	for _, v := range c.m {
		ranks = append(ranks, c.rank(v))
	}
	slices.Sort(ranks)
	cut := ranks[len(ranks)/2]
	for k, v := range c.m {
		if c.rank(v) <= cut {
			delete(c.m, k)
		}
	}
	c.approx = true
}

// Entry is a key of a top list and its counts.
type Entry[K any] struct {
	Key K
	Counts
}

// top returns the n keys of highest rank, ties in key order by less.
func (c *counter[K]) top(n int, less func(a, b K) int) []Entry[K] {
	out := make([]Entry[K], 0, len(c.m))
	for k, v := range c.m {
		out = append(out, Entry[K]{k, *v})
	}
	slices.SortFunc(out, func(a, b Entry[K]) int {
		if r := cmp.Compare(c.rank(&b.Counts), c.rank(&a.Counts)); r != 0 {
			return r
		}
		return less(a.Key, b.Key)
	})
	return out[:min(n, len(out))]
}

type pair struct{ Src, Dst netip.Addr }

type portKey struct {
	Port  uint16
	Proto uint8
}

// scanState is what the report keeps of a source for the scans list:
// its distinct destination ports and hosts up to a cap.
type scanState struct {
	ports           map[uint16]struct{}
	hosts           map[netip.Addr]struct{}
	flows, rejected uint64
}

const scanCap = 1024

// window is an aggregation window of a flow log.
type window struct{ start, end int64 }

type quality struct {
	records, flows uint64
	skip, nodata   map[window]struct{}
}

// Summary accumulates flows.
type Summary struct {
	opts Options

	Records  uint64 // all records, NODATA and SKIPDATA too
	OK       Counts // flows (log status OK)
	Accepted Counts
	Rejected Counts
	First    int64 // earliest start of a record; 0 before any
	Last     int64 // latest end

	minutes        map[int64]*[2]Counts // per minute of end time: accepted, rejected
	minutesDropped bool

	sources, dests, rejSources *counter[netip.Addr]
	pairs                      *counter[pair]
	rejPorts, ports            *counter[portKey]
	countries                  *counter[string]
	scans                      map[netip.Addr]*scanState
	scansApprox                bool
	quality                    map[string]*quality
	qualityApprox              bool
}

// New returns an empty summary.
func New(opts Options) *Summary {
	opts = opts.withDefaults()
	n := opts.MaxKeys
	return &Summary{opts: opts, minutes: map[int64]*[2]Counts{},
		sources: newCounter[netip.Addr](n, byBytes), dests: newCounter[netip.Addr](n, byBytes),
		rejSources: newCounter[netip.Addr](n, byFlows), pairs: newCounter[pair](n, byBytes),
		rejPorts: newCounter[portKey](n, byFlows), ports: newCounter[portKey](n, byFlows),
		countries: newCounter[string](n, byBytes),
		scans:     map[netip.Addr]*scanState{}, quality: map[string]*quality{}}
}

// maxMinutes bounds the time series: two years of minutes.
const maxMinutes = 2 * 366 * 24 * 60

// Add counts one flow.
func (s *Summary) Add(f *Flow) {
	s.Records++
	if f.Start > 0 && (s.First == 0 || f.Start < s.First) {
		s.First = f.Start
	}
	s.Last = max(s.Last, f.End)
	s.addQuality(f)
	if f.Status != "OK" {
		return
	}
	s.OK.add(f)
	m := f.End - f.End%60
	b := s.minutes[m]
	if b == nil && len(s.minutes) < maxMinutes {
		b = &[2]Counts{}
		s.minutes[m] = b
	} else if b == nil {
		s.minutesDropped = true
	}
	if f.Rejected {
		s.Rejected.add(f)
		if b != nil {
			b[1].add(f)
		}
		s.rejSources.add(f.Src, f)
		s.rejPorts.add(portKey{f.DstPort, f.Proto}, f)
	} else {
		s.Accepted.add(f)
		if b != nil {
			b[0].add(f)
		}
	}
	s.sources.add(f.Src, f)
	s.dests.add(f.Dst, f)
	s.pairs.add(pair{f.Src, f.Dst}, f)
	if f.DstPort != 0 {
		s.ports.add(portKey{f.DstPort, f.Proto}, f)
	}
	if f.SrcCountry != "" {
		s.countries.add(f.SrcCountry, f)
	}
	s.addScan(f)
}

func (s *Summary) addScan(f *Flow) {
	st := s.scans[f.Src]
	if st == nil {
		if len(s.scans) >= s.opts.MaxKeys {
			s.pruneScans()
		}
		st = &scanState{ports: map[uint16]struct{}{}, hosts: map[netip.Addr]struct{}{}}
		s.scans[f.Src] = st
	}
	st.flows++
	if f.Rejected {
		st.rejected++
	}
	if len(st.ports) < scanCap {
		st.ports[f.DstPort] = struct{}{}
	}
	if len(st.hosts) < scanCap {
		st.hosts[f.Dst] = struct{}{}
	}
}

// pruneScans drops the half of the sources with the fewest rejected flows:
// a scan is mostly rejected flows.
func (s *Summary) pruneScans() {
	ranks := make([]uint64, 0, len(s.scans))
	for _, st := range s.scans {
		ranks = append(ranks, st.rejected)
	}
	slices.Sort(ranks)
	cut := ranks[len(ranks)/2]
	for k, st := range s.scans {
		if st.rejected <= cut {
			delete(s.scans, k)
		}
	}
	s.scansApprox = true
}

func (s *Summary) addQuality(f *Flow) {
	q := s.quality[f.Iface]
	if q == nil {
		if len(s.quality) >= s.opts.MaxKeys {
			s.qualityApprox = true
			return
		}
		q = &quality{skip: map[window]struct{}{}, nodata: map[window]struct{}{}}
		s.quality[f.Iface] = q
	}
	q.records++
	w := window{f.Start, f.End}
	switch f.Status {
	case "OK":
		q.flows++
	case "SKIPDATA":
		q.skip[w] = struct{}{}
	case "NODATA":
		q.nodata[w] = struct{}{}
	}
}
