// Package enrich adds what a flow record does not say itself: the service of
// a well-known port, the direction relative to the local networks, the class
// of each address, GeoIP city/country and AS from MaxMind-format databases,
// and the metadata of the interface. Every part is optional.
//
// An Enricher holds the shared, read-only tables; each worker takes a Filler,
// which caches per address and reuses its buffers, so a record costs no
// allocation once its addresses are in the cache.
package enrich

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/flowlog/flowlog/exporter/enrich/ecs"
	"github.com/flowlog/flowlog/internal/jsonenc"
	"github.com/flowlog/flowlog/parser"
)

// Config selects the enrichments.
type Config struct {
	Services      bool     `yaml:"services"`       // network.protocol from well-known ports
	AddressClass  bool     `yaml:"address_class"`  // flowlog.source_class / destination_class
	LocalNetworks []string `yaml:"local_networks"` // network.direction: inbound, outbound, internal, external
	GeoIP         struct {
		City string `yaml:"city"` // GeoLite2-City or GeoIP2-City .mmdb (or Country)
		ASN  string `yaml:"asn"`  // GeoLite2-ASN .mmdb
	} `yaml:"geoip"`
	Interfaces string `yaml:"interfaces"` // YAML or CSV file: interface id → name, vm, data center, tags
	CacheSize  int    `yaml:"cache_size"` // addresses remembered per worker
}

// DefaultConfig turns on what needs no files: services and address classes.
func DefaultConfig() Config {
	return Config{Services: true, AddressClass: true, CacheSize: 65536}
}

// Enricher holds the tables of one configuration. It is safe for concurrent use.
type Enricher struct {
	cfg        Config
	local      []netip.Prefix
	city, asn  *maxminddb.Reader
	interfaces map[string][]byte // interface id → rendered top-level members
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
	e    *Enricher
	geo  map[netip.Addr][]byte // address → rendered geo/as members ("" when none)
	src  []byte
	dst  []byte
	net  []byte
	flow []byte
}

// NewFiller returns a filler with its own cache.
func (e *Enricher) NewFiller() *Filler {
	return &Filler{e: e, geo: make(map[netip.Addr][]byte)}
}

// Fill sets the enrichment members of x for rec. The slices it sets are
// valid until the next call. A direction already in x (from the record's
// source) is kept.
func (f *Filler) Fill(x *ecs.Extra, rec *parser.Record) {
	e := f.e
	hasSrc, hasDst := rec.Has(parser.FieldSrcAddr), rec.Has(parser.FieldDstAddr)
	f.src, f.dst, f.net, f.flow = f.src[:0], f.dst[:0], f.net[:0], f.flow[:0]
	if hasSrc {
		f.src = append(f.src, f.lookup(rec.SrcAddr)...)
	}
	if hasDst {
		f.dst = append(f.dst, f.lookup(rec.DstAddr)...)
	}
	if len(e.local) > 0 && hasSrc && hasDst && x.Direction == "" {
		x.Direction = direction(e.isLocal(rec.SrcAddr), e.isLocal(rec.DstAddr))
	}
	if e.cfg.Services && rec.Has(parser.FieldProtocol) {
		if name := service(rec.Protocol, rec.SrcPort, rec.DstPort, rec.Has(parser.FieldSrcPort), rec.Has(parser.FieldDstPort)); name != "" {
			f.net = appendMember(f.net, `"protocol":"`, name)
		}
	}
	if e.cfg.AddressClass {
		if hasSrc {
			f.flow = appendMember(f.flow, `"source_class":"`, Class(rec.SrcAddr))
		}
		if hasDst {
			f.flow = appendMember(f.flow, `"destination_class":"`, Class(rec.DstAddr))
		}
	}
	x.Source, x.Destination, x.Network, x.Flowlog = f.src, f.dst, f.net, f.flow
	x.Top = nil
	if e.interfaces != nil && rec.Has(parser.FieldInterfaceID) {
		x.Top = e.interfaces[string(rec.InterfaceID)] // no allocation: the compiler keys the map without copying
	}
}

func appendMember(dst []byte, keyQuote, value string) []byte {
	if len(dst) > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, keyQuote...)
	dst = append(dst, value...)
	return append(dst, '"')
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

// lookup returns the rendered geo and as members of a, cached.
func (f *Filler) lookup(a netip.Addr) []byte {
	if f.e.city == nil && f.e.asn == nil {
		return nil
	}
	if m, ok := f.geo[a]; ok {
		return m
	}
	if len(f.geo) >= f.e.cfg.CacheSize {
		clear(f.geo)
	}
	m := f.e.render(a)
	f.geo[a] = m
	return m
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

// render looks a up in the databases and renders the ECS members
// "geo":{…} and "as":{…}; addresses that are not public get none.
func (e *Enricher) render(a netip.Addr) []byte {
	a = a.Unmap()
	if Class(a) != "public" {
		return nil
	}
	var out []byte
	if e.city != nil {
		var c cityRecord
		if err := e.city.Lookup(a).Decode(&c); err == nil && (c.Country.ISOCode != "" || c.City.Names["en"] != "") {
			out = append(out, `"geo":{`...)
			sep := false
			field := func(k, v string) {
				if v == "" {
					return
				}
				if sep {
					out = append(out, ',')
				}
				out = append(out, '"')
				out = append(out, k...)
				out = append(out, `":`...)
				out = jsonenc.Str(out, v)
				sep = true
			}
			field("continent_code", c.Continent.Code)
			field("country_iso_code", c.Country.ISOCode)
			field("country_name", c.Country.Names["en"])
			field("city_name", c.City.Names["en"])
			if c.Location.Latitude != nil && c.Location.Longitude != nil {
				if sep {
					out = append(out, ',')
				}
				out = fmt.Appendf(out, `"location":{"lat":%g,"lon":%g}`, *c.Location.Latitude, *c.Location.Longitude)
			}
			out = append(out, '}')
		}
	}
	if e.asn != nil {
		var r asnRecord
		if err := e.asn.Lookup(a).Decode(&r); err == nil && r.Number != 0 {
			if len(out) > 0 {
				out = append(out, ',')
			}
			out = fmt.Appendf(out, `"as":{"number":%d`, r.Number)
			if r.Organization != "" {
				out = append(out, `,"organization":{"name":`...)
				out = jsonenc.Str(out, r.Organization)
				out = append(out, '}')
			}
			out = append(out, '}')
		}
	}
	return out
}
