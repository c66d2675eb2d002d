package enrich

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowlog/flowlog/parser"
)

// writeMMDB builds a small MaxMind-format database for the tests.
func writeMMDB(t testing.TB, path, dbType string, entries map[string]mmdbtype.Map) {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, v := range entries {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Insert(n, v); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
}

func testEnricher(t testing.TB) *Enricher {
	t.Helper()
	dir := t.TempDir()
	city, asn := filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	writeMMDB(t, city, "GeoLite2-City", map[string]mmdbtype.Map{
		"81.2.69.0/24": {
			"continent": mmdbtype.Map{"code": mmdbtype.String("EU")},
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String("GB"), "names": mmdbtype.Map{"en": mmdbtype.String("United Kingdom")}},
			"city":      mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("London")}},
			"location":  mmdbtype.Map{"latitude": mmdbtype.Float64(51.5142), "longitude": mmdbtype.Float64(-0.0931)},
		},
		"2a02:8800::/21": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE"), "names": mmdbtype.Map{"en": mmdbtype.String("Germany")}}},
	})
	writeMMDB(t, asn, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"81.2.64.0/19": {"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String(`Andrews & "Arnold"`)},
	})
	ifaces := filepath.Join(dir, "interfaces.csv")
	os.WriteFile(ifaces, []byte("id,name,vm,data_center,tags\neni-1,eth0,webserver01,de/fra,web;prod\n"), 0o600)
	cfg := DefaultConfig()
	cfg.LocalNetworks = []string{"10.0.0.0/8", "2001:db8::/32"}
	cfg.GeoIP.City, cfg.GeoIP.ASN, cfg.Interfaces = city, asn, ifaces
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func doc(t testing.TB, f *Filler, line string) map[string]any {
	t.Helper()
	var rec parser.Record
	if err := parser.ParseLine(&rec, []byte(line)); err != nil {
		t.Fatal(err)
	}
	var v Values
	f.Fill(&v, &rec)
	// The names the ECS encoder gives these values.
	flat := map[string]any{}
	set := func(k string, val any, ok bool) {
		if ok {
			flat[k] = val
		}
	}
	set("network.direction", v.Direction, v.Direction != "")
	set("network.protocol", v.Service, v.Service != "")
	set("network.community_id", string(v.CommunityID()), v.CommunityID() != nil)
	set("flowlog.source_class", v.SrcClass, v.SrcClass != "")
	set("flowlog.destination_class", v.DstClass, v.DstClass != "")
	for side, g := range map[string]*Geo{"source": v.Src, "destination": v.Dst} {
		if g == nil {
			continue
		}
		set(side+".geo.country_iso_code", g.CountryISOCode, g.CountryISOCode != "")
		set(side+".geo.country_name", g.CountryName, g.CountryName != "")
		set(side+".geo.city_name", g.CityName, g.CityName != "")
		set(side+".geo.continent_code", g.ContinentCode, g.ContinentCode != "")
		set(side+".geo.location.lat", g.Lat, g.HasLocation)
		set(side+".geo.location.lon", g.Lon, g.HasLocation)
		set(side+".as.number", float64(g.ASNumber), g.ASNumber != 0)
		set(side+".as.organization.name", g.ASOrganization, g.ASOrganization != "")
	}
	if ifc := v.Interface; ifc != nil {
		set("host.name", ifc.VM, ifc.VM != "")
		set("labels.interface_name", ifc.Name, ifc.Name != "")
		set("labels.data_center", ifc.DataCenter, ifc.DataCenter != "")
		tags := make([]any, len(ifc.Tags))
		for i, t := range ifc.Tags {
			tags[i] = t
		}
		set("tags", tags, len(tags) > 0)
	}
	return flat
}

func TestFill(t *testing.T) {
	f := testEnricher(t).NewFiller()
	got := doc(t, f, "2 123 eni-1 10.1.2.3 81.2.69.160 40000 443 6 10 5000 1700000000 1700000060 ACCEPT OK")
	for k, want := range map[string]any{
		"network.direction":                "outbound",
		"network.protocol":                 "https",
		"flowlog.source_class":             "private",
		"flowlog.destination_class":        "public",
		"destination.geo.country_iso_code": "GB",
		"destination.geo.country_name":     "United Kingdom",
		"destination.geo.city_name":        "London",
		"destination.geo.continent_code":   "EU",
		"destination.geo.location.lat":     51.5142,
		"destination.geo.location.lon":     -0.0931,
		"destination.as.number":            20712.0,
		"destination.as.organization.name": `Andrews & "Arnold"`,
		"host.name":                        "webserver01",
		"labels.interface_name":            "eth0",
		"labels.data_center":               "de/fra",
		"network.community_id":             "1:ZHWhNxbDiq/XZxLh2kGmmmmhjUE=",
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got["source.geo.country_iso_code"]; ok {
		t.Error("a private address got a country")
	}
	for line, want := range map[string]string{
		"2 1 eni-2 81.2.69.160 10.0.0.1 53 33000 17 1 80 1700000000 1700000060 ACCEPT OK":     "inbound",
		"2 1 eni-2 10.0.0.2 10.0.0.1 5000 5001 17 1 80 1700000000 1700000060 ACCEPT OK":       "internal",
		"2 1 eni-2 2a02:8800::1 81.2.69.1 5000 5001 17 1 80 1700000000 1700000060 REJECT OK":  "external",
		"2 1 eni-2 2001:db8::1 2a02:8800::1 5000 123 17 1 80 1700000000 1700000060 ACCEPT OK": "outbound",
	} {
		if d := doc(t, f, line); d["network.direction"] != want {
			t.Errorf("%s: direction %v, want %s", line, d["network.direction"], want)
		}
	}
	if d := doc(t, f, "2 1 eni-2 81.2.69.160 10.0.0.1 53 33000 17 1 80 1700000000 1700000060 ACCEPT OK"); d["network.protocol"] != "dns" || d["host.name"] != nil {
		t.Errorf("dns from source port, unknown interface: %v", d)
	}
	if d := doc(t, f, "2 1 eni-2 2001:db8::1 2a02:8800::1 5000 123 17 1 80 1700000000 1700000060 ACCEPT OK"); d["destination.geo.country_iso_code"] != "DE" || d["flowlog.source_class"] != "documentation" {
		t.Errorf("IPv6: %v", d)
	}
	if d := doc(t, f, "2 1 eni-1 - - - - - - - 1700000000 1700000060 - NODATA"); d["network.direction"] != nil || d["host.name"] != "webserver01" {
		t.Errorf("NODATA: %v", d)
	}
}

func TestFillDoesNotAllocate(t *testing.T) {
	f := testEnricher(t).NewFiller()
	var rec parser.Record
	parser.ParseLine(&rec, []byte("2 123 eni-1 10.1.2.3 81.2.69.160 40000 443 6 10 5000 1700000000 1700000060 ACCEPT OK"))
	var v Values
	f.Fill(&v, &rec) // fills the cache
	if n := testing.AllocsPerRun(100, func() { f.Fill(&v, &rec) }); n != 0 {
		t.Errorf("%v allocations per record with the addresses cached", n)
	}
}

func TestInterfacesYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "interfaces.yaml")
	os.WriteFile(path, []byte("- id: eni-9\n  name: ens3\n  vm: db01\n  data_center: de/txl\n  tags: [db, \"pci\"]\n"), 0o600)
	cfg := DefaultConfig()
	cfg.Interfaces = path
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := doc(t, e.NewFiller(), "2 1 eni-9 10.0.0.1 10.0.0.2 1 5432 6 1 40 1700000000 1700000060 ACCEPT OK")
	if d["host.name"] != "db01" || d["labels.interface_name"] != "ens3" || d["labels.data_center"] != "de/txl" || d["network.protocol"] != "postgresql" {
		t.Errorf("%v", d)
	}
	if tags, ok := d["tags"].([]any); !ok || len(tags) != 2 || tags[1] != "pci" {
		t.Errorf("tags = %v", d["tags"])
	}
}

func TestClass(t *testing.T) {
	for addr, want := range map[string]string{"8.8.8.8": "public", "10.1.1.1": "private", "192.168.0.1": "private",
		"172.16.0.1": "private", "100.64.1.1": "shared", "127.0.0.1": "loopback", "169.254.1.1": "link-local",
		"224.0.0.1": "multicast", "255.255.255.255": "broadcast", "0.0.0.0": "unspecified", "192.0.2.1": "documentation",
		"::1": "loopback", "fe80::1": "link-local", "fd00::1": "private", "ff02::1": "multicast", "2001:db8::1": "documentation",
		"2a00::1": "public", "::ffff:10.0.0.1": "private", "240.0.0.1": "reserved", "1.1.1.1": "public"} {
		if got := Class(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "i.yaml")
	os.WriteFile(bad, []byte("- {id: a, colour: red}\n"), 0o600)
	dup := filepath.Join(dir, "d.csv")
	os.WriteFile(dup, []byte("id,name\na,x\na,y\n"), 0o600)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{LocalNetworks: []string{"10.0.0.0/33"}}, `local_networks: "10.0.0.0/33"`},
		{Config{GeoIP: GeoIP{City: filepath.Join(dir, "none.mmdb")}}, "geoip.city:"},
		{Config{Interfaces: bad}, "field colour not found"},
		{Config{Interfaces: dup}, "interface a is listed twice"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}

// TestDirectionFromRecord: a direction the record carries (AWS flow-direction,
// IBM direction) wins over the one the local networks give.
func TestDirectionFromRecord(t *testing.T) {
	f := testEnricher(t).NewFiller()
	r := parser.NewReader(strings.NewReader("version srcaddr dstaddr flow-direction\n2 10.0.0.1 8.8.8.8 ingress\n2 10.0.0.1 8.8.8.8 -\n"), "x", parser.Options{})
	for _, want := range []string{"ingress", "outbound"} {
		rec, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		var v Values
		f.Fill(&v, rec)
		if v.Direction != want {
			t.Errorf("direction %q, want %q", v.Direction, want)
		}
	}
}

// BenchmarkFill enriches one record with the default configuration plus
// local networks (Community ID, service, direction, address classes).
func BenchmarkFill(b *testing.B) {
	cfg := DefaultConfig()
	cfg.LocalNetworks = []string{"10.0.0.0/8", "172.16.0.0/12"}
	e, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	f := e.NewFiller()
	var rec parser.Record
	parser.ParseLine(&rec, []byte("2 123 eni-1 10.1.2.3 81.2.69.160 40000 443 6 10 5000 1700000000 1700000060 ACCEPT OK"))
	var v Values
	b.ReportAllocs()
	for b.Loop() {
		f.Fill(&v, &rec)
	}
}
