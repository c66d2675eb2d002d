package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlog/flowlog/internal/config"
)

func TestExampleConfig(t *testing.T) {
	t.Setenv("FLOWLOG_S3_ACCESS_KEY", "AKIAEXAMPLE")
	t.Setenv("FLOWLOG_S3_SECRET_KEY", "secret: with # yaml")
	cfg, err := Load(filepath.Join("..", "configs", "collector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.FlowLogs) != 3 {
		t.Fatalf("%d flow logs, want 3", len(cfg.FlowLogs))
	}
	f := cfg.FlowLogs[0]
	if f.Name != "webserver01" || f.Rotation != 10*time.Minute || f.Target.AccessKeyID != "AKIAEXAMPLE" ||
		string(f.Target.SecretAccessKey) != "secret: with # yaml" || *f.NFLOGGroup != 5 || cfg.Spool.MaxSize != 1<<30 {
		t.Errorf("first flow log read wrong: %+v", f)
	}
	if s := f.Target.SecretAccessKey.String(); strings.Contains(s, "secret") {
		t.Errorf("secret shows as %q", s)
	}
	if c := cfg.FlowLogs[1]; c.Interfaces != "veth*" || c.ScopeText() != "interfaces veth*" || c.InterfaceID != "" {
		t.Errorf("the pattern flow log read wrong: %+v", c)
	}
	b := cfg.FlowLogs[2]
	if b.Direction != "ingress" || b.Action != "rejected" || b.GzipLevel != DefaultGzipLevel || !*b.Header || b.AccountID != DefaultAccountID {
		t.Errorf("defaults not applied to the second flow log: %+v", b)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	base := `spool: {dir: /tmp/spool}
flow_logs:
  - name: web-1
    interface: eth0
    target: {url: "s3://bucket/prefix"}
`
	tests := []struct{ edit, want string }{
		{"    direction: sideways\n", "direction: \"sideways\" must be ingress, egress or bidirectional"},
		{"    action: maybe\n", "action: \"maybe\" must be accepted, rejected or any"},
		{"    rotation: 7m\n", "rotation: 7m0s must be at least 1s and divide an hour"},
		{"    rotation: 1500ms\n", "rotation: 1.5s must be whole seconds"},
		{"    gzip_level: 11\n", "gzip_level: 11 must be 1 (fastest) to 9"},
		{"    max_flows: -1\n", "max_flows: -1 must be 1 to"},
		{"    interface_id: eni-123\n", "interface_id: \"eni-123\" is not a UUID"},
		{"    account_id: \"a b\"\n", "account_id: \"a b\" must be one word"},
		{"    nflog_group: 70000\n", "nflog_group: 70000 must be 0 to 65535"},
		{"    colour: blue\n", `unknown key "colour"`},
		{"    header: perhaps\n", `flow_logs[0].header: want true or false, got "perhaps"`},
		{"  - name: web-1\n    interface: eth1\n    target: {url: /tmp/x}\n", "flow_logs[1].name: \"web-1\" is used twice"},
		{"  - name: web-2\n    interface: eth0\n    target: {url: /tmp/x}\n", "flow_logs[1].interface: eth0 already has flow log \"web-1\""},
		{"  - name: web/2\n    interface: eth1\n    target: {url: /tmp/x}\n", "flow_logs[1]: name: \"web/2\" must be"},
		{"  - name: web-2\n    interface: eth1\n    target: {url: s3://b/a/b}\n", "prefix \"a/b\" may not contain '/' or '%2F'"},
		{"  - name: web-2\n    interface: eth1\n    target: {url: s3://b/a%2Fb}\n", "prefix \"a%2Fb\" may not contain"},
		{"  - name: web-2\n    interface: eth1\n    target: {url: ftp://b/a}\n", "target.url: scheme \"ftp://\" not supported"},
		{"  - name: web-2\n    interface: eth1\n    target: {url: /tmp/x, endpoint: http://x}\n", "apply to s3:// targets only"},
		{"  - name: web-2\n    interface: eth1\n    target: {url: s3://b, access_key_id: x}\n", "access_key_id and secret_access_key go together"},
		{"  - name: web-2\n    target: {url: s3://b}\n", "give exactly one of interface, interfaces (a name pattern), subnet, host: true"},
		{"    host: true\n", "flow_logs[0]: give exactly one of interface, interfaces"},
		{"  - name: web-2\n    subnet: 10.1.2.300/24\n    target: {url: s3://b}\n", "flow_logs[1]: subnet: \"10.1.2.300/24\": want an address prefix"},
		{"  - name: web-2\n    interfaces: \"veth[\"\n    target: {url: s3://b}\n", "flow_logs[1]: interfaces: \"veth[\": syntax error in pattern"},
		{"  - name: web-2\n    interfaces: veth*\n    interface_id: 7ffd6527-ce80-4e57-a949-f9a45824ebe2\n    target: {url: s3://b}\n", "flow_logs[1]: interface_id: only with interface"},
		{"    target: {url: s3://b, secret_access_key: ${FLOWLOG_TEST_UNSET}}\n", "environment variable FLOWLOG_TEST_UNSET is not set"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(base+tt.edit), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v\nwant it to contain %q", strings.TrimSpace(tt.edit), err, tt.want)
		}
	}
	for _, c := range []struct{ yaml, want string }{
		{"flow_logs: []\nspool: {dir: /x}\n", "flow_logs: at least one flow log is required"},
		{"spool: {dir: /x, max_size: lots}\n", "size \"lots\""},
		{"", "the file is empty"},
	} {
		cfg := DefaultConfig()
		err := config.Decode("c.yaml", []byte(c.yaml), &cfg, os.LookupEnv)
		if err == nil {
			cfg.SetDefaults()
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}
