package clickhouse

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/flowlog/flowlog/exporter/sink"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/tlsconfig"
	"github.com/flowlog/flowlog/parser"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowlog-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestOptions checks what the sink asks of clickhouse-go: the native
// protocol with LZ4 by default, TLS that verifies, CA and client
// certificates. (The native protocol has no server to talk to here.)
func TestOptions(t *testing.T) {
	c, err := ParseURL("clickhouse://ingest:pw@db1,db2/flows")
	if err != nil {
		t.Fatal(err)
	}
	o, err := options(c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Protocol != clickhouse.Native || o.Compression == nil || o.Compression.Method != clickhouse.CompressionLZ4 || o.TLS != nil ||
		strings.Join(o.Addr, ",") != "db1:9000,db2:9000" || o.Auth.Username != "ingest" || o.Auth.Password != "pw" || o.Auth.Database != "flows" {
		t.Errorf("native defaults: %+v", o)
	}
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	c = DefaultConfig()
	c.Protocol, c.Compression = "http", "gzip"
	c.TLS = TLS{Enabled: true, Config: tlsconfig.Config{CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "db.internal"}}
	if o, err = options(c); err != nil {
		t.Fatal(err)
	}
	if o.Protocol != clickhouse.HTTP || o.Compression.Method != clickhouse.CompressionGZIP || o.TLS == nil || o.TLS.InsecureSkipVerify ||
		o.TLS.RootCAs == nil || len(o.TLS.Certificates) != 1 || o.TLS.ServerName != "db.internal" {
		t.Errorf("http with TLS: %+v / %+v", o, o.TLS)
	}
	for _, bad := range []struct {
		tls  TLS
		want string
	}{
		{TLS{Enabled: true, Config: tlsconfig.Config{CAFile: filepath.Join(dir, "missing.pem")}}, "tls.ca_file"},
		{TLS{Enabled: true, Config: tlsconfig.Config{CAFile: key}}, "holds no PEM certificate"},
		{TLS{Enabled: true, Config: tlsconfig.Config{CertFile: cert, KeyFile: cert}}, "tls.cert_file"},
	} {
		c.TLS = bad.tls
		if _, err := options(c); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.tls, err, bad.want)
		}
	}
	// The sink's name never holds the password.
	c = DefaultConfig()
	c.Password = config.Secret("hunter2")
	s, err := New(c, sinkDeps())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	if strings.Contains(s.Name(), "hunter2") {
		t.Errorf("name %q shows the password", s.Name())
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"clickhouse://h", "clickhouse://u:p@h1,h2:9440/db?secure=true", "clickhouse://[::1]:8123?protocol=http&compression=gzip",
		"clickhouse://h?cluster=a", "clickhouse://%zz", "clickhouse://h/db/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseURL(s)
		if err != nil {
			if u, perr := url.Parse(s); perr == nil && u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) >= 4 && strings.Contains(err.Error(), p) {
					t.Errorf("error shows the password: %v", err)
				}
			}
			return
		}
		if c.Validate() == nil {
			if _, err := options(c); err != nil && !strings.Contains(err.Error(), "tls.ca_file") {
				t.Errorf("valid configuration %q: options: %v", s, err)
			}
		}
	})
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a'b", `c\d`, "e\nf\x00", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := quote(s)
		if len(q) < 2 || q[0] != '\'' || q[len(q)-1] != '\'' {
			t.Fatalf("quote(%q) = %s: not a literal", s, q)
		}
		// Read it back as ClickHouse reads a string literal.
		var out []byte
		body := q[1 : len(q)-1]
		for i := 0; i < len(body); i++ {
			c := body[i]
			switch {
			case c == '\'':
				t.Fatalf("quote(%q) = %s: a bare quote ends the literal early", s, q)
			case c < 0x20 || c == 0x7f:
				t.Fatalf("quote(%q) = %s: a raw control byte", s, q)
			case c == '\\':
				i++
				switch body[i] {
				case 'x':
					var b byte
					for _, h := range body[i+1 : i+3] {
						b = b<<4 | byte(strings.IndexByte("0123456789abcdef", byte(h)))
					}
					out = append(out, b)
					i += 2
				default:
					out = append(out, body[i])
				}
			default:
				out = append(out, c)
			}
		}
		if string(out) != s {
			t.Fatalf("quote(%q) = %s reads back as %q", s, q, out)
		}
	})
}

func sinkDeps() sink.Deps { return sink.Deps{} }

// TestToken: the deduplication token names the object version and the
// lines of the part; the same rows give the same token on every try.
func TestToken(t *testing.T) {
	s, err := New(DefaultConfig(), sinkDeps())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	o := &sink.Object{Bucket: "b", Key: "k", ETag: `"1"`}
	part := func(o *sink.Object, lines ...int) *writer {
		w := s.newWriter(o)
		b := sink.NewBatch(nil)
		b.Reset(o, 0)
		for _, l := range lines {
			r := b.Add(&parser.Record{})
			r.Line = l
		}
		w.add(b)
		return w
	}
	a, a2 := part(o, 1, 2, 3), part(o, 1, 2, 3)
	other := &sink.Object{Bucket: "b", Key: "k", ETag: `"2"`}
	for name, w := range map[string]*writer{"next part": part(o, 4, 5, 6), "another version": part(other, 1, 2, 3), "fewer rows": part(o, 1, 2)} {
		if token([]*writer{w}) == token([]*writer{a}) {
			t.Errorf("%s: same token as the first part", name)
		}
	}
	if token([]*writer{a}) != token([]*writer{a2}) {
		t.Error("the same rows give another token")
	}
	a.kept = 2
	if token([]*writer{a}) == token([]*writer{a2}) {
		t.Error("fewer rows kept give the same token")
	}
}
