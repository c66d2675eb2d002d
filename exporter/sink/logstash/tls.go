package logstash

import (
	"crypto/tls"
	"net"
)

func tlsClient(c net.Conn, t *tls.Config) *tls.Conn { return tls.Client(c, t) }
