package enrich

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	sharedSpace   = netip.MustParsePrefix("100.64.0.0/10")
	documentation = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	classE    = netip.MustParsePrefix("240.0.0.0/4")
)

// Class names the kind of an address: public, private, shared (carrier-grade
// NAT), loopback, link-local, multicast, broadcast, documentation,
// unspecified or reserved.
func Class(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		return class4(a.As4())
	}
	switch {
	case !a.IsValid() || a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a == broadcast:
		return "broadcast"
	case a.IsMulticast():
		return "multicast"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsPrivate():
		return "private"
	case sharedSpace.Contains(a):
		return "shared"
	case classE.Contains(a):
		return "reserved"
	}
	for _, p := range documentation {
		if p.Contains(a) {
			return "documentation"
		}
	}
	if a.IsGlobalUnicast() {
		return "public"
	}
	return "reserved"
}

// class4 is Class for IPv4, by octets: it runs twice per record.
func class4(b [4]byte) string {
	switch {
	case b[0] == 10, b[0] == 172 && b[1]&0xf0 == 16, b[0] == 192 && b[1] == 168:
		return "private"
	case b[0] == 127:
		return "loopback"
	case b[0] == 169 && b[1] == 254:
		return "link-local"
	case b[0] == 100 && b[1]&0xc0 == 64:
		return "shared"
	case b[0] >= 224 && b[0] < 240:
		return "multicast"
	case b == [4]byte{255, 255, 255, 255}:
		return "broadcast"
	case b[0] >= 240:
		return "reserved"
	case b == [4]byte{}:
		return "unspecified"
	case b[0] == 0:
		return "reserved"
	case b[0] == 192 && b[1] == 0 && b[2] == 2, b[0] == 198 && b[1] == 51 && b[2] == 100, b[0] == 203 && b[1] == 0 && b[2] == 113:
		return "documentation"
	}
	return "public"
}

// The well-known ports whose names go into network.protocol: for TCP and
// UDP an index into serviceNames per port (0: none), other protocols none.
var (
	serviceNames = []string{""}
	tcpServices  [65536]uint8
	udpServices  [65536]uint8
)

func init() {
	tcp := map[uint16]string{20: "ftp-data", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "dns", 80: "http",
		88: "kerberos", 110: "pop3", 111: "sunrpc", 135: "msrpc", 139: "netbios-ssn", 143: "imap", 179: "bgp", 389: "ldap",
		443: "https", 445: "smb", 465: "smtps", 587: "submission", 636: "ldaps", 873: "rsync", 993: "imaps", 995: "pop3s",
		1433: "mssql", 1521: "oracle", 2049: "nfs", 2379: "etcd", 3306: "mysql", 3389: "rdp", 5432: "postgresql",
		5672: "amqp", 5900: "vnc", 6379: "redis", 6443: "kubernetes-api", 8080: "http-alt", 8443: "https-alt",
		9092: "kafka", 9200: "elasticsearch", 11211: "memcached", 27017: "mongodb"}
	udp := map[uint16]string{53: "dns", 67: "dhcp", 68: "dhcp", 69: "tftp", 123: "ntp", 137: "netbios-ns", 161: "snmp",
		162: "snmp-trap", 443: "quic", 500: "isakmp", 514: "syslog", 1194: "openvpn", 1812: "radius", 4500: "ipsec-nat-t",
		4789: "vxlan", 5353: "mdns", 51820: "wireguard"}
	index := func(table *[65536]uint8, ports map[uint16]string) {
		for p, n := range ports {
			serviceNames = append(serviceNames, n)
			table[p] = uint8(len(serviceNames) - 1)
		}
	}
	index(&tcpServices, tcp)
	index(&udpServices, udp)
}

// service names the service of a flow by its destination port, else its source port.
func service(proto uint8, src, dst uint16, hasSrc, hasDst bool) string {
	var table *[65536]uint8
	switch proto {
	case 6:
		table = &tcpServices
	case 17:
		table = &udpServices
	default:
		return ""
	}
	if hasDst && table[dst] != 0 {
		return serviceNames[table[dst]]
	}
	if hasSrc && table[src] != 0 {
		return serviceNames[table[src]]
	}
	return ""
}

// Interface is what the interfaces file says about one interface. It is
// shared and never changed once loaded.
type Interface struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	VM         string   `yaml:"vm"`
	DataCenter string   `yaml:"data_center"`
	Tags       []string `yaml:"tags"`
}

// loadInterfaces reads a YAML list of Interface or a CSV file with the header
// id,name,vm,data_center,tags (tags separated by ';').
func loadInterfaces(path string) (map[string]*Interface, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []Interface
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		list, err = readCSV(data)
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		err = dec.Decode(&list)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string]*Interface, len(list))
	for i := range list {
		ifc := &list[i]
		if ifc.ID == "" {
			return nil, fmt.Errorf("%s: entry %d has no id", path, i+1)
		}
		if _, dup := out[ifc.ID]; dup {
			return nil, fmt.Errorf("%s: interface %s is listed twice", path, ifc.ID)
		}
		out[ifc.ID] = ifc
	}
	return out, nil
}

func readCSV(data []byte) ([]Interface, error) {
	r := csv.NewReader(bytes.NewReader(data))
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimSpace(h)] = i
	}
	if _, ok := col["id"]; !ok {
		return nil, fmt.Errorf("line 1: the header needs an id column (id,name,vm,data_center,tags)")
	}
	get := func(row []string, name string) string {
		if i, ok := col[name]; ok && i < len(row) {
			return strings.TrimSpace(row[i])
		}
		return ""
	}
	var list []Interface
	for _, row := range rows[1:] {
		ifc := Interface{ID: get(row, "id"), Name: get(row, "name"), VM: get(row, "vm"), DataCenter: get(row, "data_center")}
		for _, t := range strings.Split(get(row, "tags"), ";") {
			if t = strings.TrimSpace(t); t != "" {
				ifc.Tags = append(ifc.Tags, t)
			}
		}
		list = append(list, ifc)
	}
	return list, nil
}
