package scope

import (
	"net/netip"
	"strings"
	"testing"
)

func TestResolvePrecedence(t *testing.T) {
	logs := []FlowLog{
		{"all", Scope{Host: true}},
		{"veths", Scope{Pattern: "veth*"}},
		{"web-subnet", Scope{Subnet: netip.MustParsePrefix("10.1.2.0/24")}},
		{"db", Scope{Interface: "veth-db"}},
		{"veths-again", Scope{Pattern: "veth*"}},
	}
	a := func(s string) []netip.Addr { return []netip.Addr{netip.MustParseAddr(s)} }
	ifaces := []Iface{
		{Name: "eth0", Addrs: a("192.0.2.1")},
		{Name: "veth-web", Addrs: a("10.1.2.7")},
		{Name: "veth-db", Addrs: a("10.1.2.8")},
		{Name: "veth-cache", Addrs: a("10.9.0.1")},
		{Name: "lo", Addrs: a("127.0.0.1")},
	}
	got := Resolve(logs, ifaces)
	want := map[string]string{"eth0": "all", "veth-web": "web-subnet", "veth-db": "db", "veth-cache": "veths", "lo": "all"}
	for ifc, w := range want {
		if got[ifc].FlowLog != w {
			t.Errorf("%s: owned by %q (%s), want %q", ifc, got[ifc].FlowLog, got[ifc].Why, w)
		}
	}
	if w := got["veth-web"].Why; !strings.Contains(w, "subnet 10.1.2.0/24 holds 10.1.2.7") || !strings.Contains(w, "veths (pattern)") {
		t.Errorf("why: %s", w)
	}
	if w := got["veth-cache"].Why; !strings.Contains(w, "veths-again (pattern)") {
		t.Errorf("the first of two equal patterns wins, and says so: %s", w)
	}
	// Without the host flow log, eth0 is nobody's.
	if _, ok := Resolve(logs[1:], ifaces)["eth0"]; ok {
		t.Error("eth0 owned without a host flow log")
	}
}

func TestValidate(t *testing.T) {
	for _, bad := range []Scope{{}, {Interface: "a", Host: true}, {Pattern: "[x"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	for _, good := range []Scope{{Interface: "eth0"}, {Pattern: "veth*"}, {Subnet: netip.MustParsePrefix("fd00::/64")}, {Host: true}} {
		if err := good.Validate(); err != nil {
			t.Errorf("%+v: %v", good, err)
		}
	}
}

// FuzzResolve: an interface some flow log covers has one owner, which
// covers it, and no flow log covering it is more specific, nor of the same
// kind and listed before it.
func FuzzResolve(f *testing.F) {
	f.Add("eth*", "10.0.0.0/8", "eth1", "eth0", "10.1.1.1", uint8(15))
	f.Fuzz(func(t *testing.T, pattern, subnet, exact, name, addr string, use uint8) {
		p, err1 := netip.ParsePrefix(subnet)
		a, err2 := netip.ParseAddr(addr)
		if err1 != nil || err2 != nil || name == "" {
			return
		}
		all := []FlowLog{{"h", Scope{Host: true}}, {"p", Scope{Pattern: pattern}}, {"s", Scope{Subnet: p.Masked()}}, {"i", Scope{Interface: exact}}}
		var logs []FlowLog
		for i, l := range all {
			if use&(1<<i) != 0 && (l.Scope.Kind() != Interface || exact != "") {
				logs = append(logs, l)
			}
		}
		ifc := Iface{Name: name, Addrs: []netip.Addr{a}}
		o, ok := Resolve(logs, []Iface{ifc})[name]
		covering := 0
		for _, l := range logs {
			if l.Scope.covers(ifc) {
				covering++
				if ok && l.Scope.Kind() > o.Kind {
					t.Fatalf("%s owned by %s (%s) though %s (%s) covers it", name, o.FlowLog, o.Kind, l.Name, l.Scope.Kind())
				}
			}
		}
		if ok != (covering > 0) {
			t.Fatalf("%s: owned %v, covered by %d", name, ok, covering)
		}
		if ok {
			for _, l := range logs {
				if l.Name == o.FlowLog && !l.Scope.covers(ifc) {
					t.Fatalf("%s owned by %s, which does not cover it", name, o.FlowLog)
				}
			}
		}
	})
}
