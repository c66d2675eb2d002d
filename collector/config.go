package collector

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/collector/scope"
	"github.com/flowlog/flowlog/collector/spool"
	"github.com/flowlog/flowlog/internal/config"
	"github.com/flowlog/flowlog/internal/objstore"
	"github.com/klauspost/compress/gzip"
)

// Config is the whole collector: where it serves metrics, where it spools,
// and the flow logs it writes.
type Config struct {
	Listen string `yaml:"listen"` // address for /metrics, /healthz, /readyz and /flowlogs; "" turns it off
	// ControlToken, when set, is required (Authorization: Bearer) by the
	// /flowlogs endpoints that list, suspend, resume and reload.
	ControlToken config.Secret   `yaml:"control_token"`
	Spool        SpoolConfig     `yaml:"spool"`
	Upload       UploadConfig    `yaml:"upload"`
	FlowLogs     []FlowLogConfig `yaml:"flow_logs"`

	// Redactor hides the values the file took from the environment in
	// errors and logs.
	Redactor *config.Redactor `yaml:"-"`
}

// SpoolConfig is the local folder that holds objects until they are uploaded.
type SpoolConfig struct {
	Dir     string          `yaml:"dir"`
	MaxSize config.ByteSize `yaml:"max_size"` // 0: no limit
}

// UploadConfig bounds the wait between upload attempts.
type UploadConfig struct {
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
}

// TargetConfig is where a flow log's objects go: s3://bucket[/prefix] with
// the options to reach the service, or a local folder.
type TargetConfig struct {
	URL               string `yaml:"url"`
	objstore.S3Config `yaml:",inline"`
}

// FlowLogConfig is one flow log: the traffic of one interface, written as
// objects named [prefix/]<name>-<unix>.log.gz, or of every interface a name
// pattern, a subnet or the host covers, one object per interface and window
// named [prefix/]<name>-<interface>-<unix>.log.gz. An interface several flow
// logs cover is captured once, by the most specific (interface > subnet >
// pattern > host; the first listed among equals).
type FlowLogConfig struct {
	Name        string        `yaml:"name"`
	Interface   string        `yaml:"interface"`  // one interface
	Interfaces  string        `yaml:"interfaces"` // a name pattern: eth*, veth*
	Subnet      string        `yaml:"subnet"`     // interfaces holding an address in it: 10.1.2.0/24
	Host        bool          `yaml:"host"`       // every interface of the host
	Direction   string        `yaml:"direction"`  // ingress | egress | bidirectional
	Action      string        `yaml:"action"`     // accepted | rejected | any
	Target      TargetConfig  `yaml:"target"`
	AccountID   string        `yaml:"account_id"`
	InterfaceID string        `yaml:"interface_id"` // UUID; derived from host and interface when empty
	Rotation    time.Duration `yaml:"rotation"`
	Header      *bool         `yaml:"header"`
	GzipLevel   int           `yaml:"gzip_level"` // 1 (fast) to 9 (small); 0 means the default, 6
	MaxFlows    int           `yaml:"max_flows"`  // flows per window before SKIPDATA
	NFLOGGroup  *int          `yaml:"nflog_group"`
}

// Defaults for a flow log.
const (
	DefaultRotation  = 10 * time.Minute
	DefaultGzipLevel = 6
	DefaultMaxFlows  = 65536
	DefaultAccountID = "000000000000"
)

// DefaultConfig returns a configuration without flow logs.
func DefaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:9108",
		Spool:  SpoolConfig{Dir: "/var/lib/flowlog/spool", MaxSize: 1 << 30},
		Upload: UploadConfig{RetryMin: spool.DefaultBackoff.Min, RetryMax: spool.DefaultBackoff.Max},
	}
}

// Load reads a collector configuration file over the defaults, fills the
// per-flow-log defaults and validates it. Errors never repeat a value the
// file took from the environment.
func Load(path string) (Config, error) {
	cfg := DefaultConfig()
	r, err := config.Load(path, &cfg)
	cfg.Redactor = r
	if err != nil {
		return cfg, err
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, errors.New(r.Redact(fmt.Sprintf("%s: %v", path, err)))
	}
	return cfg, nil
}

// SetDefaults fills what a flow log leaves out.
func (c *Config) SetDefaults() {
	for i := range c.FlowLogs {
		c.FlowLogs[i].SetDefaults()
	}
}

// SetDefaults fills what the flow log leaves out, except the interface id,
// which needs the host name (see Collector).
func (f *FlowLogConfig) SetDefaults() {
	if f.Direction == "" {
		f.Direction = "bidirectional"
	}
	if f.Action == "" {
		f.Action = "any"
	}
	if f.Rotation == 0 {
		f.Rotation = DefaultRotation
	}
	if f.Header == nil {
		t := true
		f.Header = &t
	}
	if f.GzipLevel == 0 {
		f.GzipLevel = DefaultGzipLevel
	}
	if f.MaxFlows == 0 {
		f.MaxFlows = DefaultMaxFlows
	}
	if f.AccountID == "" {
		f.AccountID = DefaultAccountID
	}
}

// Validate names the first field that is wrong, with the values it allows.
func (c *Config) Validate() error {
	if c.Spool.Dir == "" {
		return errors.New("spool.dir: a folder is required")
	}
	if c.Spool.MaxSize < 0 {
		return errors.New("spool.max_size: must not be negative")
	}
	if c.Upload.RetryMin <= 0 || c.Upload.RetryMax < c.Upload.RetryMin {
		return fmt.Errorf("upload: retry_min (%s) must be positive and not above retry_max (%s)", c.Upload.RetryMin, c.Upload.RetryMax)
	}
	if len(c.FlowLogs) == 0 {
		return errors.New("flow_logs: at least one flow log is required")
	}
	names := map[string]bool{}
	ifaces := map[string]string{}
	for i := range c.FlowLogs {
		f := &c.FlowLogs[i]
		if err := f.Validate(); err != nil {
			return fmt.Errorf("flow_logs[%d]: %w", i, err)
		}
		if names[f.Name] {
			return fmt.Errorf("flow_logs[%d].name: %q is used twice; names must be unique", i, f.Name)
		}
		names[f.Name] = true
		if f.Interface == "" {
			continue
		}
		if other, ok := ifaces[f.Interface]; ok {
			return fmt.Errorf("flow_logs[%d].interface: %s already has flow log %q; one flow log per interface", i, f.Interface, other)
		}
		ifaces[f.Interface] = f.Name
	}
	return nil
}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	fieldSafe   = regexp.MustCompile(`^[^\s]+$`)
)

// Validate checks one flow log; the interface itself is checked at start.
func (f *FlowLogConfig) Validate() error {
	if !namePattern.MatchString(f.Name) {
		return fmt.Errorf("name: %q must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", f.Name)
	}
	sc, err := f.Scope()
	if err != nil {
		return err
	}
	if f.InterfaceID != "" && sc.Kind() != scope.Interface {
		return errors.New("interface_id: only with interface (one interface); other scopes derive an id per interface")
	}
	if _, err := ParseDirection(f.Direction); err != nil {
		return err
	}
	if _, err := parseActionFilter(f.Action); err != nil {
		return err
	}
	if err := f.Target.Validate(); err != nil {
		return err
	}
	if !fieldSafe.MatchString(f.AccountID) {
		return fmt.Errorf("account_id: %q must be one word without spaces", f.AccountID)
	}
	if f.InterfaceID != "" && !uuidPattern.MatchString(f.InterfaceID) {
		return fmt.Errorf("interface_id: %q is not a UUID (8-4-4-4-12 hex digits); leave it out to derive one", f.InterfaceID)
	}
	if f.Rotation < time.Second || time.Hour%f.Rotation != 0 && f.Rotation%time.Hour != 0 {
		return fmt.Errorf("rotation: %s must be at least 1s and divide an hour (1m, 5m, 10m, 15m, 1h…) or be whole hours", f.Rotation)
	}
	if f.Rotation%time.Second != 0 {
		return fmt.Errorf("rotation: %s must be whole seconds", f.Rotation)
	}
	if f.GzipLevel < gzip.BestSpeed || f.GzipLevel > gzip.BestCompression {
		return fmt.Errorf("gzip_level: %d must be 1 (fastest) to 9 (smallest)", f.GzipLevel)
	}
	if f.MaxFlows < 1 || f.MaxFlows > 1<<24 {
		return fmt.Errorf("max_flows: %d must be 1 to %d", f.MaxFlows, 1<<24)
	}
	if f.NFLOGGroup != nil && (*f.NFLOGGroup < 0 || *f.NFLOGGroup > 65535) {
		return fmt.Errorf("nflog_group: %d must be 0 to 65535 (the group of the firewall's log rule)", *f.NFLOGGroup)
	}
	return nil
}

// Scope returns what the flow log targets.
func (f *FlowLogConfig) Scope() (scope.Scope, error) {
	sc := scope.Scope{Interface: f.Interface, Pattern: f.Interfaces, Host: f.Host}
	if f.Subnet != "" {
		p, err := netip.ParsePrefix(f.Subnet)
		if err != nil {
			return sc, fmt.Errorf("subnet: %q: want an address prefix such as 10.1.2.0/24 or 2001:db8::/64", f.Subnet)
		}
		sc.Subnet = p.Masked()
	}
	if err := sc.Validate(); err != nil {
		return sc, fmt.Errorf("%w (flow log %q)", err, f.Name)
	}
	return sc, nil
}

// ScopeText says what the flow log targets, for people.
func (f *FlowLogConfig) ScopeText() string {
	switch {
	case f.Interface != "":
		return "interface " + f.Interface
	case f.Interfaces != "":
		return "interfaces " + f.Interfaces
	case f.Subnet != "":
		return "subnet " + f.Subnet
	}
	return "host"
}

// Validate checks the target address and S3 options.
func (t *TargetConfig) Validate() error {
	loc, err := objstore.ParseLocation(t.URL)
	if err != nil {
		return fmt.Errorf("target.url: %w", err)
	}
	if p := loc.Prefix; strings.Contains(p, "/") || strings.Contains(strings.ToUpper(p), "%2F") {
		return fmt.Errorf("target.url: prefix %q may not contain '/' or '%%2F' (one folder level, as IONOS flow logs)", p)
	}
	if !loc.IsS3() && (t.Endpoint != "" || t.Region != "" || t.PathStyle || t.AccessKeyID != "") {
		return fmt.Errorf("target: endpoint, region, path_style and keys apply to s3:// targets only, not folder %s", loc.Dir)
	}
	if err := t.S3Config.Validate(); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	return nil
}

// ParseDirection reads ingress, egress or bidirectional.
func ParseDirection(s string) (decode.Direction, error) {
	switch s {
	case "ingress":
		return decode.Ingress, nil
	case "egress":
		return decode.Egress, nil
	case "bidirectional":
		return decode.Unknown, nil
	}
	return 0, fmt.Errorf("direction: %q must be ingress, egress or bidirectional", s)
}

type actionFilter struct{ accept, reject bool }

func parseActionFilter(s string) (actionFilter, error) {
	switch s {
	case "accepted":
		return actionFilter{accept: true}, nil
	case "rejected":
		return actionFilter{reject: true}, nil
	case "any":
		return actionFilter{accept: true, reject: true}, nil
	}
	return actionFilter{}, fmt.Errorf("action: %q must be accepted, rejected or any", s)
}
