// Package tlsconfig is the TLS settings of a client that reaches a server
// (ClickHouse, Loki): verification on unless told, a CA file, a client
// certificate.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Config is how to reach a server over TLS.
type Config struct {
	CAFile             string `yaml:"ca_file"`   // PEM; default the system's roots
	CertFile           string `yaml:"cert_file"` // client certificate, PEM
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`          // when the address is not the certificate's name
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // never in production
}

// Validate names what is wrong.
func (c Config) Validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	return nil
}

// Build reads the files and returns the client's TLS configuration.
func (c Config) Build() (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}
