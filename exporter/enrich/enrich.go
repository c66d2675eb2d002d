// Package enrich adds what a flow record does not say itself, as typed
// values: the Community ID, the service of a well-known port, the direction
// of the flow, the class of each address, GeoIP location and AS from
// MaxMind-format databases, and the metadata of the interface. Every part is
// optional. Sinks encode the values their own way (ECS for JSON, columns for
// ClickHouse, labels and metadata for Loki).
//
// An Enricher holds the shared, read-only tables; each worker takes a Filler,
// which caches per address, so a record costs no allocation once its
// addresses are in the cache.
package enrich

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/flowlog/flowlog/exporter/enrich/communityid"
	"github.com/flowlog/flowlog/parser"
)

// Config selects the enrichments.
type Config struct {
	CommunityID     bool     `yaml:"community_id"`      // network.community_id (Community ID v1)
	CommunityIDSeed uint16   `yaml:"community_id_seed"` // the seed every tool of a site must share; 0 by default
	Services        bool     `yaml:"services"`          // network.protocol from well-known ports
	AddressClass    bool     `yaml:"address_class"`     // flowlog.source_class / destination_class
	LocalNetworks   []string `yaml:"local_networks"`    // network.direction: inbound, outbound, internal, external
	GeoIP           GeoIP    `yaml:"geoip"`
	Interfaces      string   `yaml:"interfaces"` // YAML or CSV file: interface id → name, vm, data center, tags
	CacheSize       int      `yaml:"cache_size"` // addresses remembered per worker
}

// GeoIP names the MaxMind-format databases to read.
type GeoIP struct {
	City string `yaml:"city"` // GeoLite2-City or GeoIP2-City .mmdb (or Country)
	ASN  string `yaml:"asn"`  // GeoLite2-ASN .mmdb
}

// DefaultConfig turns on what needs no files: Community IDs, services and
// address classes.
func DefaultConfig() Config {
	return Config{CommunityID: true, Services: true, AddressClass: true, CacheSize: 65536}
}

// Values is what enrichment adds to one record. Strings and pointers refer to
// shared data that is never changed (tables, databases' answers, the
// interfaces file): they stay valid for as long as anyone holds them.
type Values struct {
	// Direction is network.direction in ECS terms: ingress or egress when
	// the record says how the interface saw it (AWS flow-direction, IBM
	// direction), else inbound, outbound, internal or external from the
	// local networks; "" when unknown.
	Direction string
	Service   string // network.protocol: "https", "dns", …; "" when not a well-known port
	SrcClass  string // address class of srcaddr (see Class); "" when off or absent
	DstClass  string
	Src, Dst  *Geo       // location and AS of each public address; nil when none is known
	Interface *Interface // metadata of the interface; nil when not in the interfaces file

	communityID [communityid.Len]byte
	hasCID      bool
}

// CommunityID returns network.community_id, or nil. The slice points into v.
func (v *Values) CommunityID() []byte {
	if !v.hasCID {
		return nil
	}
	return v.communityID[:]
}

// Geo is what the databases say about one address.
type Geo struct {
	ContinentCode  string
	CountryISOCode string
	CountryName    string
	CityName       string
	HasLocation    bool
	Lat, Lon       float64
	ASNumber       uint32 // 0 when unknown
	ASOrganization string
}

// HasGeo reports whether g holds a location (country or city).
func (g *Geo) HasGeo() bool {
	return g.CountryISOCode != "" || g.CityName != "" || g.ContinentCode != ""
}

// Enricher holds the tables of one configuration. It is safe for concurrent use.
type Enricher struct {
	cfg        Config
	local      []netip.Prefix
	city, asn  *maxminddb.Reader
	interfaces map[string]*Interface
}

// New loads the configured databases and files.
func New(cfg Config) (*Enricher, error) {
	e := &Enricher{cfg: cfg}
	if e.cfg.CacheSize <= 0 {
		e.cfg.CacheSize = 65536
	}
	for _, n := range cfg.LocalNetworks {
		p, err := netip.ParsePrefix(strings.TrimSpace(n))
		if err != nil {
			return nil, fmt.Errorf("local_networks: %q is not a network like 10.0.0.0/8 or 2001:db8::/32", n)
		}
		e.local = append(e.local, p.Masked())
	}
	var err error
	if cfg.GeoIP.City != "" {
		if e.city, err = maxminddb.Open(cfg.GeoIP.City); err != nil {
			return nil, fmt.Errorf("geoip.city: %w", err)
		}
	}
	if cfg.GeoIP.ASN != "" {
		if e.asn, err = maxminddb.Open(cfg.GeoIP.ASN); err != nil {
			e.Close()
			return nil, fmt.Errorf("geoip.asn: %w", err)
		}
	}
	if cfg.Interfaces != "" {
		if e.interfaces, err = loadInterfaces(cfg.Interfaces); err != nil {
			e.Close()
			return nil, fmt.Errorf("interfaces: %w", err)
		}
	}
	return e, nil
}

// Close releases the databases.
func (e *Enricher) Close() error {
	if e.city != nil {
		e.city.Close()
	}
	if e.asn != nil {
		e.asn.Close()
	}
	return nil
}

// Filler enriches records for one worker. It is not safe for concurrent use.
type Filler struct {
	e   *Enricher
	geo map[netip.Addr]*Geo // nil values cache "nothing known"
}

// NewFiller returns a filler with its own cache.
func (e *Enricher) NewFiller() *Filler {
	return &Filler{e: e, geo: make(map[netip.Addr]*Geo)}
}

// Fill sets v to the enrichment of rec.
func (f *Filler) Fill(v *Values, rec *parser.Record) {
	e := f.e
	*v = Values{}
	hasSrc, hasDst := rec.Has(parser.FieldSrcAddr), rec.Has(parser.FieldDstAddr)
	if hasSrc {
		v.Src = f.lookup(rec.SrcAddr)
	}
	if hasDst {
		v.Dst = f.lookup(rec.DstAddr)
	}
	switch {
	case rec.FlowDirection != parser.FlowDirectionNone:
		v.Direction = rec.FlowDirection.String()
	case len(e.local) > 0 && hasSrc && hasDst:
		v.Direction = direction(e.isLocal(rec.SrcAddr), e.isLocal(rec.DstAddr))
	}
	hasProto := rec.Has(parser.FieldProtocol)
	if e.cfg.Services && hasProto {
		v.Service = service(rec.Protocol, rec.SrcPort, rec.DstPort, rec.Has(parser.FieldSrcPort), rec.Has(parser.FieldDstPort))
	}
	if e.cfg.AddressClass {
		if hasSrc {
			v.SrcClass = Class(rec.SrcAddr)
		}
		if hasDst {
			v.DstClass = Class(rec.DstAddr)
		}
	}
	if e.cfg.CommunityID && hasSrc && hasDst && hasProto &&
		(rec.Has(parser.FieldSrcPort) && rec.Has(parser.FieldDstPort) || !usesPorts(rec.Protocol)) {
		id, ok := communityid.Append(v.communityID[:0], e.cfg.CommunityIDSeed, communityid.Flow{
			Proto: rec.Protocol, Src: rec.SrcAddr, Dst: rec.DstAddr, SrcPort: rec.SrcPort, DstPort: rec.DstPort,
		})
		v.hasCID = ok && len(id) == communityid.Len // not with mixed address families
	}
	if e.interfaces != nil && rec.Has(parser.FieldInterfaceID) {
		v.Interface = e.interfaces[string(rec.InterfaceID)] // no allocation: the compiler keys the map without copying
	}
}

// usesPorts reports whether the Community ID of a protocol includes ports.
func usesPorts(proto uint8) bool {
	switch proto {
	case 1, 6, 17, 58, 132:
		return true
	}
	return false
}

func (e *Enricher) isLocal(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range e.local {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// direction names the way a flow crosses the local networks, as ECS does.
func direction(srcLocal, dstLocal bool) string {
	switch {
	case srcLocal && dstLocal:
		return "internal"
	case srcLocal:
		return "outbound"
	case dstLocal:
		return "inbound"
	}
	return "external"
}

// lookup returns what the databases say about a, cached; nil when nothing.
func (f *Filler) lookup(a netip.Addr) *Geo {
	if f.e.city == nil && f.e.asn == nil {
		return nil
	}
	if g, ok := f.geo[a]; ok {
		return g
	}
	if len(f.geo) >= f.e.cfg.CacheSize {
		clear(f.geo)
	}
	g := f.e.lookup(a)
	f.geo[a] = g
	return g
}

type cityRecord struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type asnRecord struct {
	Number       uint32 `maxminddb:"autonomous_system_number"`
	Organization string `maxminddb:"autonomous_system_organization"`
}

// lookup looks a up in the databases; addresses that are not public get nil.
func (e *Enricher) lookup(a netip.Addr) *Geo {
	a = a.Unmap()
	if Class(a) != "public" {
		return nil
	}
	var g Geo
	if e.city != nil {
		var c cityRecord
		if err := e.city.Lookup(a).Decode(&c); err == nil {
			g.ContinentCode, g.CountryISOCode = c.Continent.Code, c.Country.ISOCode
			g.CountryName, g.CityName = c.Country.Names["en"], c.City.Names["en"]
			if c.Location.Latitude != nil && c.Location.Longitude != nil && g.HasGeo() {
				g.HasLocation, g.Lat, g.Lon = true, *c.Location.Latitude, *c.Location.Longitude
			}
		}
	}
	if e.asn != nil {
		var r asnRecord
		if err := e.asn.Lookup(a).Decode(&r); err == nil && r.Number != 0 {
			g.ASNumber, g.ASOrganization = r.Number, r.Organization
		}
	}
	if !g.HasGeo() && g.ASNumber == 0 {
		return nil
	}
	return &g
}
