package queue

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/flowlog/flowlog/internal/testserver"
	"github.com/flowlog/flowlog/internal/tlsconfig"
)

// TestNATSAuthIntegration: the consumer reaches servers that demand a
// token, a user and password, an NKey, a JWT (operator mode, a .creds
// file) or TLS with a private CA; wrong credentials are refused without
// the secret in the error.
func TestNATSAuthIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server")
	}
	dir := t.TempDir()
	nkeySeed, nkeyConf := nkeyUser(t, dir)
	credsFile, operatorConf := operatorMode(t, dir)
	caFile, tlsConf := serverTLS(t, dir)
	for _, c := range []struct {
		name, conf string
		good, bad  func(*Config)
		secret     string
	}{
		{"token", `authorization { token: "t0ken-s3cret" }`,
			func(c *Config) { c.Token = "t0ken-s3cret" }, func(c *Config) { c.Token = "wr0ng-t0ken" }, "wr0ng-t0ken"},
		{"user", `authorization { user: flowlog, password: "pa55-s3cret" }`,
			func(c *Config) { c.User, c.Password = "flowlog", "pa55-s3cret" }, func(c *Config) { c.User, c.Password = "flowlog", "wr0ng-pa55" }, "wr0ng-pa55"},
		{"nkey", nkeyConf, func(c *Config) { c.NKey = nkeySeed }, func(c *Config) {}, ""},
		{"jwt", operatorConf, func(c *Config) { c.Creds = credsFile }, func(c *Config) {}, ""},
		{"tls", tlsConf, func(c *Config) { c.TLS = tlsconfig.Config{CAFile: caFile} }, func(c *Config) {}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := testserver.StartNATSConf(t, c.conf)
			cfg := Config{Type: "nats", URL: n.URL(), Stream: "FLOWS", Consumer: "flowlog"}
			cfg.SetDefaults()
			c.good(&cfg)
			opts, err := natsOptions(cfg)
			if err != nil {
				t.Fatal(err)
			}
			nc, err := nats.Connect(cfg.URL, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FLOWS", Subjects: []string{"flows"}}); err != nil {
				t.Fatal(err)
			}
			js.Publish(ctx, "flows", []byte("hello"))
			q, err := OpenNATS(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if m := fetchOne(t, q, 10*time.Second); m == nil || string(m.Body()) != "hello" {
				t.Fatalf("message %v", m)
			} else if err := m.Ack(ctx); err != nil {
				t.Fatal(err)
			}
			bad := Config{Type: "nats", URL: n.URL(), Stream: "FLOWS", Consumer: "flowlog"}
			bad.SetDefaults()
			c.bad(&bad)
			_, err = OpenNATS(ctx, bad)
			t.Logf("refused: %v", err)
			if err == nil {
				t.Fatal("opened without the right credentials")
			} else if c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// nkeyUser makes an NKey user: its seed file, and the server's
// authorization for its public key.
func nkeyUser(t *testing.T, dir string) (seedFile, conf string) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	seedFile = filepath.Join(dir, "user.nk")
	os.WriteFile(seedFile, seed, 0o600)
	return seedFile, fmt.Sprintf("authorization { users = [ { nkey: %q } ] }", pub)
}

// operatorMode makes an operator, a system account, an account with
// JetStream and a user of it: the user's .creds file, and the server's
// operator configuration with the accounts preloaded.
func operatorMode(t *testing.T, dir string) (credsFile, conf string) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "flowlog-test"
	sys, _ := nkeys.CreateAccount()
	syspub, _ := sys.PublicKey()
	oc.SystemAccount = syspub
	ojwt, err := oc.Encode(okp)
	must(err)
	account := func(kp nkeys.KeyPair, name string, js bool) string {
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		s, err := ac.Encode(okp)
		must(err)
		return s
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt := account(akp, "flows", true)
	sysjwt := account(sys, "SYS", false)
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "exporter"
	uc.IssuerAccount = ""
	ujwt, err := uc.Encode(akp)
	must(err)
	useed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	must(err)
	credsFile = filepath.Join(dir, "exporter.creds")
	must(os.WriteFile(credsFile, creds, 0o600))
	conf = fmt.Sprintf("operator: %q\nsystem_account: %q\nresolver: MEMORY\nresolver_preload: {\n  %s: %q\n  %s: %q\n}\n",
		ojwt, syspub, apub, ajwt, syspub, sysjwt)
	return credsFile, conf
}

// serverTLS makes a CA and a server certificate for 127.0.0.1: the CA's
// file, and the server's tls configuration.
func serverTLS(t *testing.T, dir string) (caFile, conf string) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowlog test CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	caCert, _ := x509.ParseCertificate(caDER)
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	caFile = filepath.Join(dir, "ca.pem")
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return caFile, fmt.Sprintf("tls { cert_file: %q, key_file: %q }", certFile, keyFile)
}
