package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowlog/flowlog/collector/decode"
	"github.com/flowlog/flowlog/collector/spool"
	"github.com/flowlog/flowlog/internal/pcapgen"
	"github.com/flowlog/flowlog/internal/testserver"
)

func gunzip(t testing.TB, data []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(text)
}

func s3Config(t testing.TB, m *testserver.MinIO, url, spoolDir string) Config {
	cfg := replayConfig(t, url)
	cfg.FlowLogs[0].Target.S3Config = m.S3Config()
	cfg.FlowLogs[0].Target.Timeout = 2 * time.Second
	cfg.Spool.Dir = spoolDir
	cfg.Upload = UploadConfig{RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	return cfg
}

// TestS3Integration writes objects to a real MinIO server: keys and content
// as in a folder; with the server down they wait in the spool; after it
// returns and the collector restarts, each arrives once, unchanged.
func TestS3Integration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "scenario.pcap")
	writeScenario(t, pcap)
	ctx := context.Background()

	// Objects land under prefix/name-<end>.log.gz with the golden content.
	c, err := New(s3Config(t, m, "s3://flows/flowlogs", t.TempDir()), Deps{Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Replay(ctx, []string{pcap}, decode.Local{MAC: pcapgen.LocalMAC}); err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "scenario.golden"))
	if err != nil {
		t.Fatal(err)
	}
	objs := m.Objects("flows")
	var got strings.Builder
	for _, k := range []string{"flowlogs/web-1-1767226200.log.gz", "flowlogs/web-1-1767226800.log.gz"} {
		data, ok := objs[k]
		if !ok {
			t.Fatalf("object %s missing; bucket holds %d objects", k, len(objs))
		}
		got.WriteString("== " + strings.TrimPrefix(k, "flowlogs/") + "\n" + gunzip(t, data))
	}
	if diff := cmp.Diff(string(golden), got.String()); diff != "" {
		t.Errorf("objects in MinIO differ from the golden file (-want +got):\n%s", diff)
	}

	// MinIO down: the objects of a second capture wait in the spool.
	m.Stop()
	spoolDir := t.TempDir()
	random := filepath.Join(dir, "random.pcap")
	f, _ := os.Create(random)
	if err := pcapgen.Random(f, 3, 3000, 100, t0.Add(time.Hour), 25*time.Minute); err != nil {
		t.Fatal(err)
	}
	f.Close()
	reg := prometheus.NewRegistry()
	c2, err := New(s3Config(t, m, "s3://flows/flowlogs", spoolDir), Deps{Hostname: "test", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	st, err := c2.Replay(short, []string{random}, decode.Local{MAC: pcapgen.LocalMAC})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "3 objects not uploaded") {
		t.Fatalf("replay with MinIO down: err = %v, want 3 objects not uploaded", err)
	}
	if retries := testutil.ToFloat64(c2.m.retries.WithLabelValues("web-1")); retries < 1 {
		t.Errorf("upload retries = %v, want at least 1", retries)
	}
	sp, err := spool.Open(spoolDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	pending := sp.Pending("web-1")
	if len(pending) != 3 {
		t.Fatalf("spool holds %d objects, want 3", len(pending))
	}
	spooled := map[string][]byte{}
	for _, e := range pending {
		data, err := os.ReadFile(e.Path)
		if err != nil {
			t.Fatal(err)
		}
		spooled[e.Key] = data
	}
	for _, k := range st.Objects {
		if _, ok := spooled[k]; !ok {
			t.Errorf("object %s not in the spool", k)
		}
	}

	// A full spool refuses new objects loudly instead of growing.
	full := s3Config(t, m, "s3://flows/flowlogs", spoolDir)
	full.Spool.MaxSize = 1
	c3, err := New(full, Deps{Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel = context.WithTimeout(ctx, time.Second)
	_, err = c3.Replay(short, []string{pcap}, decode.Local{})
	cancel()
	if !errors.Is(err, spool.ErrFull) {
		t.Errorf("replay into a full spool: err = %v, want spool full", err)
	}

	// MinIO back, collector restarted on the same spool: every waiting
	// object arrives, once, byte for byte.
	m.Start()
	cfg := s3Config(t, m, "s3://flows/flowlogs", spoolDir)
	cfg.FlowLogs[0].Interface = "lo"
	cfg.FlowLogs[0].Name = "web-1"
	restarted, err := New(cfg, Deps{Hostname: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("the restart captures on lo and needs root")
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- restarted.Run(runCtx) }()
	deadline := time.Now().Add(20 * time.Second)
	for len(sp.Pending("web-1")) > 0 || !hasAll(m.Objects("flows"), spooled) {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
		sp, _ = spool.Open(spoolDir, 0)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	objs = m.Objects("flows")
	for k, want := range spooled {
		if !bytes.Equal(objs[k], want) {
			t.Errorf("object %s: %d bytes in MinIO, want the %d spooled bytes", k, len(objs[k]), len(want))
		}
	}
	if sp, _ = spool.Open(spoolDir, 0); len(sp.Pending("web-1")) != 0 {
		t.Errorf("spool still holds %d objects", len(sp.Pending("web-1")))
	}
}

func hasAll(objs, want map[string][]byte) bool {
	for k := range want {
		if _, ok := objs[k]; !ok {
			return false
		}
	}
	return true
}

// TestS3PermanentErrorsIntegration: a one-shot conversion into a bucket
// that does not exist, or with a wrong secret key, stops after a few
// attempts (instead of retrying for ever), names the objects left in the
// spool, and counts the refusals; an upload that succeeds clears it.
func TestS3PermanentErrorsIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	m := testserver.StartMinIO(t)
	m.CreateBucket("flows")
	pcap := filepath.Join(t.TempDir(), "scenario.pcap")
	writeScenario(t, pcap)
	for name, change := range map[string]func(*Config){
		"missing bucket": func(c *Config) { c.FlowLogs[0].Target.URL = "s3://no-such-bucket/x" },
		"wrong secret":   func(c *Config) { c.FlowLogs[0].Target.SecretAccessKey = "wrong-secret-key" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := s3Config(t, m, "s3://flows/flowlogs", t.TempDir())
			cfg.Upload = UploadConfig{RetryMin: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond}
			change(&cfg)
			reg := prometheus.NewRegistry()
			c, err := New(cfg, Deps{Hostname: "test", Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Replay(context.Background(), []string{pcap}, decode.Local{MAC: pcapgen.LocalMAC})
			var nu *NotUploadedError
			if !errors.As(err, &nu) || len(nu.Keys) != 2 || nu.Spool != cfg.Spool.Dir || time.Since(start) > 30*time.Second {
				t.Fatalf("after %s: %v", time.Since(start), err)
			}
			if strings.Contains(err.Error(), "wrong-secret-key") {
				t.Fatalf("the secret is in the error: %v", err)
			}
			if n := testutil.ToFloat64(c.m.permanent.WithLabelValues("web-1")); n != giveUpAfter {
				t.Errorf("refusals counted: %v, want %d", n, giveUpAfter)
			}
			sp, _ := spool.Open(cfg.Spool.Dir, 0)
			if len(sp.Pending("web-1")) != 2 {
				t.Errorf("spool holds %d objects", len(sp.Pending("web-1")))
			}
			t.Logf("%v", err)

			// The daemon on the same spool keeps trying, and says it is
			// not ready.
			if os.Geteuid() != 0 {
				t.Skip("the daemon captures on lo and needs root")
			}
			cfg.FlowLogs[0].Interface = "lo"
			d, err := New(cfg, Deps{Hostname: "test", Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			d.ShutdownGrace = 300 * time.Millisecond
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			deadline := time.Now().Add(15 * time.Second)
			for d.Ready() == nil || strings.Contains(d.Ready().Error(), "not running") {
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			ready := d.Ready()
			stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if ready == nil || !strings.Contains(ready.Error(), "uploads refused") {
				t.Fatalf("daemon ready: %v", ready)
			}
			if n := testutil.ToFloat64(d.m.permanent.WithLabelValues("web-1")); n < 1 {
				t.Errorf("daemon refusals counted: %v", n)
			}
		})
	}
}
