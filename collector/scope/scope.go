// Package scope decides which flow log captures which interface when flow
// logs target interfaces by name, by name pattern, by subnet or the whole
// host, as IBM Cloud Flow Logs target VPCs, subnets, instances and
// interfaces: each interface is captured once, by the most specific flow
// log that covers it ("finest granularity wins": interface > subnet >
// pattern > host).
package scope

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"sort"
)

// Kind is how a flow log targets interfaces, from the least specific.
type Kind int

// Kinds, in order of precedence: a later kind wins over an earlier one.
const (
	Host Kind = iota
	Pattern
	Subnet
	Interface
)

func (k Kind) String() string {
	switch k {
	case Host:
		return "host"
	case Pattern:
		return "pattern"
	case Subnet:
		return "subnet"
	}
	return "interface"
}

// Scope is what one flow log targets: exactly one of its fields is set.
type Scope struct {
	Interface string       // one interface, by name
	Pattern   string       // interfaces whose names match (path.Match: eth*, veth*)
	Subnet    netip.Prefix // interfaces holding an address inside it
	Host      bool         // every interface of the host
}

// Kind returns the scope's kind.
func (s Scope) Kind() Kind {
	switch {
	case s.Interface != "":
		return Interface
	case s.Subnet.IsValid():
		return Subnet
	case s.Pattern != "":
		return Pattern
	}
	return Host
}

// Validate says what is wrong: none or several targets, a bad pattern.
func (s Scope) Validate() error {
	n := 0
	for _, set := range []bool{s.Interface != "", s.Pattern != "", s.Subnet.IsValid(), s.Host} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of interface, interfaces (a name pattern), subnet, host: true")
	}
	if s.Pattern != "" {
		if _, err := path.Match(s.Pattern, ""); err != nil {
			return fmt.Errorf("interfaces: %q: %w", s.Pattern, err)
		}
	}
	return nil
}

// covers says whether the scope takes ifc.
func (s Scope) covers(ifc Iface) bool {
	switch s.Kind() {
	case Interface:
		return s.Interface == ifc.Name
	case Pattern:
		ok, _ := path.Match(s.Pattern, ifc.Name)
		return ok
	case Subnet:
		for _, a := range ifc.Addrs {
			if s.Subnet.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return true
}

// FlowLog is a flow log's name and scope, in configuration order.
type FlowLog struct {
	Name  string
	Scope Scope
}

// Iface is an interface of the host.
type Iface struct {
	Name  string
	Addrs []netip.Addr
}

// Owner is the flow log that captures an interface, and why.
type Owner struct {
	FlowLog string
	Kind    Kind
	Why     string // "interface eth0", "subnet 10.1.2.0/24 holds 10.1.2.7", …, and what it won over
}

// Resolve returns, for each interface some flow log covers, the flow log
// that captures it: the most specific; between flow logs of the same kind,
// the first in the configuration.
func Resolve(logs []FlowLog, ifaces []Iface) map[string]Owner {
	out := map[string]Owner{}
	for _, ifc := range ifaces {
		best, bestKind := -1, Host
		var others []string
		for i, l := range logs {
			if !l.Scope.covers(ifc) {
				continue
			}
			k := l.Scope.Kind()
			switch {
			case best < 0:
				best, bestKind = i, k
			case k > bestKind:
				others = append(others, logs[best].Name+" ("+bestKind.String()+")")
				best, bestKind = i, k
			default:
				others = append(others, l.Name+" ("+k.String()+")")
			}
		}
		if best < 0 {
			continue
		}
		why := reason(logs[best].Scope, ifc)
		if len(others) > 0 {
			sort.Strings(others)
			why += fmt.Sprintf("; more specific than, or listed before, %v", others)
		}
		out[ifc.Name] = Owner{FlowLog: logs[best].Name, Kind: bestKind, Why: why}
	}
	return out
}

func reason(s Scope, ifc Iface) string {
	switch s.Kind() {
	case Interface:
		return "interface " + ifc.Name
	case Pattern:
		return fmt.Sprintf("%s matches %q", ifc.Name, s.Pattern)
	case Subnet:
		for _, a := range ifc.Addrs {
			if s.Subnet.Contains(a.Unmap()) {
				return fmt.Sprintf("subnet %s holds %s", s.Subnet, a)
			}
		}
	}
	return "host: every interface"
}
