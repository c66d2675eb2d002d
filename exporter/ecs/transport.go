package ecs

// Transport returns the ECS network.transport name of an IANA protocol
// number (lower-case IANA keywords, as Elastic's tools write them), or "" for
// numbers without a well-known name.
func Transport(proto uint8) string { return transports[proto] }

var transports = [256]string{
	0: "hopopt", 1: "icmp", 2: "igmp", 3: "ggp", 4: "ipv4", 5: "st", 6: "tcp", 8: "egp", 9: "igp",
	17: "udp", 27: "rdp", 33: "dccp", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp",
	47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp", 59: "ipv6-nonxt", 60: "ipv6-opts", 88: "eigrp",
	89: "ospf", 94: "ipip", 97: "etherip", 98: "encap", 103: "pim", 108: "ipcomp", 112: "vrrp",
	115: "l2tp", 124: "isis", 132: "sctp", 136: "udplite", 137: "mpls-in-ip", 143: "ethernet",
}
