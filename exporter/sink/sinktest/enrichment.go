package sinktest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowlog/flowlog/exporter/enrich"
)

// FullEnrichment turns every enrichment on, with small GeoIP and ASN
// databases that know every public address the generator draws.
func FullEnrichment(t testing.TB) enrich.Config {
	t.Helper()
	dir := t.TempDir()
	city, asn, ifaces := filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "interfaces.csv")
	country := func(iso, name string) mmdbtype.Map {
		return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso), "names": mmdbtype.Map{"en": mmdbtype.String(name)}},
			"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(name + " City")}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(float64(len(name))), "longitude": mmdbtype.Float64(-float64(len(iso)) * 10)}}
	}
	WriteMMDB(t, city, "GeoLite2-City", map[string]mmdbtype.Map{
		"1.0.0.0/8": country("AU", "Australia"), "2.0.0.0/7": country("FR", "France"), "4.0.0.0/6": country("US", "United States"),
		"8.0.0.0/5": country("US", "United States"), "16.0.0.0/4": country("US", "United States"), "32.0.0.0/3": country("DE", "Germany"),
		"64.0.0.0/2": country("GB", "United Kingdom"), "128.0.0.0/2": country("JP", "Japan"), "192.0.0.0/3": country("BR", "Brazil"),
		"2000::/3": country("NL", "Netherlands"),
	})
	as := func(n uint32, org string) mmdbtype.Map {
		return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n), "autonomous_system_organization": mmdbtype.String(org)}
	}
	WriteMMDB(t, asn, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"1.0.0.0/8": as(13335, "Cloudflare"), "2.0.0.0/7": as(3215, "Orange"), "4.0.0.0/6": as(3356, "Level3"), "8.0.0.0/5": as(15169, "Google"),
		"16.0.0.0/4": as(16509, "Amazon"), "32.0.0.0/3": as(3320, "DTAG"), "64.0.0.0/2": as(2856, `British "Telecom"`),
		"128.0.0.0/2": as(2516, "KDDI"), "192.0.0.0/3": as(28573, "Claro"), "2000::/3": as(1136, "KPN"),
	})
	if err := os.WriteFile(ifaces, []byte("id,name,vm,data_center,tags\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := enrich.DefaultConfig()
	e.LocalNetworks = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}
	e.GeoIP = enrich.GeoIP{City: city, ASN: asn}
	e.Interfaces = ifaces
	return e
}

// WriteMMDB writes a MaxMind-format database of entries (CIDR → record).
func WriteMMDB(t testing.TB, path, dbType string, entries map[string]mmdbtype.Map) {
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
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
