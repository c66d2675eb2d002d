// Package gen writes realistic synthetic flow-log objects: one host's flow
// log over consecutive windows, with IPv4 and IPv6, TCP, UDP and ICMP,
// accepted and rejected traffic, a few heavy talkers among many peers, and
// the odd NODATA or SKIPDATA record. The same configuration and seed always
// give the same bytes.
package gen

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/flowlog/flowlog/internal/atomicfile"
	"github.com/flowlog/flowlog/internal/ifaceid"
	"github.com/flowlog/flowlog/internal/objkey"
	"github.com/flowlog/flowlog/parser"
)

// Config says what to generate.
type Config struct {
	Name        string        // flow-log name: the key is <Name>-<unix>.log.gz
	Objects     int           // number of consecutive windows, one object each
	Records     int           // records per object
	Seed        uint64        // same seed, same objects
	Start       time.Time     // start of the first window
	Interval    time.Duration // window length
	Header      bool          // write a header line first
	AccountID   string        // account-id of every record
	InterfaceID string        // interface-id; derived from Name and Seed when empty
}

// DefaultStart is the default start of the first window. It is fixed, not
// "now", so that a seed alone determines the output.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultConfig returns an hour of ten-minute windows of 1000 records each.
func DefaultConfig() Config {
	return Config{
		Name:      "flowlog",
		Objects:   6,
		Records:   1000,
		Seed:      1,
		Start:     DefaultStart,
		Interval:  10 * time.Minute,
		Header:    true,
		AccountID: "12345678",
	}
}

// Validate names the first field that cannot be used.
func (c Config) Validate() error {
	switch {
	case c.Name == "" || strings.ContainsAny(c.Name, "/ ") || strings.Contains(strings.ToUpper(c.Name), "%2F"):
		return fmt.Errorf("name %q: want a non-empty name without '/', '%%2F' or spaces", c.Name)
	case c.Objects < 1:
		return fmt.Errorf("objects %d: want at least 1", c.Objects)
	case c.Records < 1:
		return fmt.Errorf("records %d: want at least 1", c.Records)
	case c.Interval < time.Second || c.Interval%time.Second != 0:
		return fmt.Errorf("interval %s: want whole seconds, at least 1s", c.Interval)
	case c.Start.Unix() < 0:
		return fmt.Errorf("start %d: want a unix time after 1970", c.Start.Unix())
	case c.AccountID == "" || strings.ContainsAny(c.AccountID, " \t\r\n"):
		return fmt.Errorf("account id %q: want a non-empty value without spaces", c.AccountID)
	case strings.ContainsAny(c.InterfaceID, " \t\r\n"):
		return fmt.Errorf("interface id %q: want a value without spaces", c.InterfaceID)
	}
	return nil
}

// Generator produces the objects of a Config.
type Generator struct {
	cfg   Config
	iface string
	local [2]netip.Addr // the host's IPv4 and IPv6 address
	peers peerPool
}

// New checks cfg and returns its generator.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	g := &Generator{cfg: cfg, iface: cfg.InterfaceID}
	if g.iface == "" {
		g.iface = ifaceid.Derive(cfg.Name, strconv.FormatUint(cfg.Seed, 10))
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x666c6f776c6f67))
	g.local[0] = netip.AddrFrom4([4]byte{172, 17, byte(rng.IntN(256)), byte(2 + rng.IntN(250))})
	g.local[1] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x17, 0, 1, 15: byte(2 + rng.IntN(250))})
	g.peers = newPeerPool(rng)
	return g, nil
}

// Window returns the start and end of window i.
func (g *Generator) Window(i int) (start, end time.Time) {
	start = g.cfg.Start.Add(time.Duration(i) * g.cfg.Interval)
	return start, start.Add(g.cfg.Interval)
}

// Key returns the object key of window i: <name>-<unix end>.log.gz.
func (g *Generator) Key(i int) string {
	_, end := g.Window(i)
	return objkey.Format("", g.cfg.Name, end.Unix())
}

// WriteObject writes window i as a gzip object to w.
func (g *Generator) WriteObject(w io.Writer, i int) error {
	zw := gzip.NewWriter(w)
	var buf []byte
	if g.cfg.Header {
		buf = parser.AppendHeader(buf)
	}
	for _, rec := range g.records(i) {
		buf = parser.AppendRecord(buf, &rec)
	}
	if _, err := zw.Write(buf); err != nil {
		return err
	}
	return zw.Close()
}

// Object returns window i as gzip bytes.
func (g *Generator) Object(i int) []byte {
	var b bytes.Buffer
	if err := g.WriteObject(&b, i); err != nil {
		panic(err) // writing to a bytes.Buffer does not fail
	}
	return b.Bytes()
}

// WriteDir writes every object into dir, each atomically (a temporary file
// renamed into place), and returns their paths in window order.
func WriteDir(dir string, cfg Config) ([]string, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("gen: %w", err)
	}
	paths := make([]string, 0, cfg.Objects)
	for i := range cfg.Objects {
		path := filepath.Join(dir, g.Key(i))
		if err := atomicfile.Write(path, 0o666, func(w io.Writer) error { return g.WriteObject(w, i) }); err != nil {
			return paths, fmt.Errorf("gen: object %s: %w", path, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// records returns the records of window i, ordered by start time.
func (g *Generator) records(i int) []parser.Record {
	rng := rand.New(rand.NewPCG(g.cfg.Seed, uint64(i)+1))
	start, _ := g.Window(i)
	popular := rand.NewZipf(rng, 1.2, 2, poolSize-1)
	recs := make([]parser.Record, g.cfg.Records)
	for j := range recs {
		g.record(rng, popular, &recs[j], start.Unix())
	}
	slices.SortStableFunc(recs, func(a, b parser.Record) int { return cmp.Compare(a.Start, b.Start) })
	return recs
}

// Well-known ports the traffic mix draws from.
var (
	clientPorts  = []uint16{443, 443, 443, 443, 80, 80, 22, 8080, 993, 587}
	servicePorts = []uint16{443, 443, 443, 80, 22}
	scanPorts    = []uint16{22, 23, 3389, 445, 5900, 1433, 3306, 8080, 6379, 9200}
	eastWest     = []uint16{5432, 6379, 9200, 9000, 8080, 3306}
)

func (g *Generator) record(rng *rand.Rand, popular *rand.Zipf, r *parser.Record, windowStart int64) {
	r.Reset()
	r.Version = 2
	r.AccountID = []byte(g.cfg.AccountID)
	r.InterfaceID = []byte(g.iface)
	interval := int64(g.cfg.Interval / time.Second)
	r.Start = windowStart + rng.Int64N(interval)
	r.End = min(r.Start+rng.Int64N(120), windowStart+interval-1)

	if p := rng.IntN(1000); p < 10 { // 0.5% NODATA, 0.5% SKIPDATA
		r.Mark(parser.FieldVersion, parser.FieldAccountID, parser.FieldInterfaceID,
			parser.FieldStart, parser.FieldEnd, parser.FieldLogStatus)
		r.LogStatus = parser.LogStatusNoData
		if p >= 5 {
			r.LogStatus = parser.LogStatusSkipData
		}
		return
	}
	r.MarkFlow()
	r.LogStatus = parser.LogStatusOK
	r.Action = parser.ActionAccept
	v6 := rng.IntN(5) == 0
	local := g.local[0]
	if v6 {
		local = g.local[1]
	}
	peer := g.peers.pick(popular, v6)
	ephemeral := uint16(32768 + rng.IntN(28232))

	switch k := rng.IntN(100); {
	case k < 45: // the host as a client
		r.SrcAddr, r.DstAddr = local, peer
		r.SrcPort, r.DstPort = ephemeral, clientPorts[rng.IntN(len(clientPorts))]
		r.Protocol = 6
		if rng.IntN(5) == 0 {
			r.Protocol, r.DstPort = 17, []uint16{53, 123, 443}[rng.IntN(3)]
		}
	case k < 72: // clients of the host's services
		r.SrcAddr, r.DstAddr = peer, local
		r.SrcPort, r.DstPort = ephemeral, servicePorts[rng.IntN(len(servicePorts))]
		r.Protocol = 6
	case k < 82: // scans, dropped by the firewall
		r.SrcAddr, r.DstAddr = peer, local
		r.SrcPort, r.DstPort = ephemeral, scanPorts[rng.IntN(len(scanPorts))]
		r.Protocol, r.Action = 6, parser.ActionReject
		r.Packets = uint64(1 + rng.IntN(3))
		r.Bytes = r.Packets * 60 // SYNs with options
	case k < 87: // ping, either way; flow logs carry no ICMP ports
		r.SrcAddr, r.DstAddr = peer, local
		if rng.IntN(2) == 0 {
			r.SrcAddr, r.DstAddr = local, peer
		}
		r.SrcPort, r.DstPort = 0, 0
		r.Protocol = 1
		if v6 {
			r.Protocol = 58
		}
	default: // east-west inside the data center
		r.SrcAddr, r.DstAddr = local, g.peers.internal(rng, v6)
		r.SrcPort, r.DstPort = ephemeral, eastWest[rng.IntN(len(eastWest))]
		r.Protocol = 6
	}
	if r.Packets == 0 {
		r.Packets = 1 + uint64(rng.ExpFloat64()*40)
		if rng.IntN(50) == 0 {
			r.Packets *= 1000 // a few elephant flows
		}
	}
	if r.Bytes == 0 {
		r.Bytes = r.Packets * uint64(40+rng.IntN(1461))
	}
}

// peerPool holds the remote addresses of the traffic. Peers are drawn with
// a Zipf distribution, so the first few are heavy talkers.
type peerPool struct {
	v4, v6 []netip.Addr
}

const poolSize = 2000

func newPeerPool(rng *rand.Rand) peerPool {
	p := peerPool{v4: make([]netip.Addr, poolSize), v6: make([]netip.Addr, poolSize)}
	for i := range poolSize {
		p.v4[i] = publicIPv4(rng)
		var a [16]byte
		a[0], a[1] = 0x2a, byte(rng.IntN(16))
		for j := 2; j < 16; j++ {
			a[j] = byte(rng.Uint32())
		}
		p.v6[i] = netip.AddrFrom16(a)
	}
	return p
}

func (p *peerPool) pick(popular *rand.Zipf, v6 bool) netip.Addr {
	i := popular.Uint64()
	if v6 {
		return p.v6[i]
	}
	return p.v4[i]
}

func (p *peerPool) internal(rng *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x17, 0, 2, 15: byte(1 + rng.IntN(20))})
	}
	return netip.AddrFrom4([4]byte{10, 17, 0, byte(1 + rng.IntN(20))})
}

// publicIPv4 draws a unicast address outside the private, shared, loopback,
// link-local and multicast ranges.
func publicIPv4(rng *rand.Rand) netip.Addr {
	for {
		u := rng.Uint32()
		a := netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
		if a.IsGlobalUnicast() && !a.IsPrivate() && !shared.Contains(a) && u>>24 != 0 {
			return a
		}
	}
}

var shared = netip.MustParsePrefix("100.64.0.0/10")
