package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowlog/flowlog/internal/gen"
	"github.com/flowlog/flowlog/internal/testserver"
)

// TestExportNATSIntegration: MinIO publishes bucket notifications to
// JetStream; three exporters share one durable consumer; objects are put
// while they run and one exporter is killed with SIGKILL twice mid-way;
// every record reaches the file sink (the file sink holds each object
// once), every message is acknowledged, and a poison message lands in the
// dead letters.
func TestExportNATSIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server and MinIO")
	}
	n := testserver.StartNATS(t)
	m, stream := testserver.NotifyingMinIO(t, n, "flows", "FLOWLOG", "flowlog.objects")
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	config := func(i int) string {
		p := filepath.Join(dir, fmt.Sprintf("exporter-%d.yaml", i))
		os.WriteFile(p, []byte(fmt.Sprintf(`listen: ""
checkpoint: %s/cp-%d.json
dead_letter: %s/dead
source:
  url: s3://flows
  endpoint: %s
  region: us-east-1
  path_style: true
queue:
  type: nats
  url: %s
  stream: FLOWLOG
  consumer: exporters
  ack_wait: 10s
  max_deliver: 3
sinks: ["file://%s"]
`, dir, i, dir, m.Endpoint(), n.URL(), out)), 0o600)
		return p
	}
	exporters := []string{config(0), config(1), config(2)}
	procs := make([]*exec.Cmd, 3)
	logs := make([]*os.File, 3)
	start := func(i int) {
		logs[i], _ = os.Create(filepath.Join(dir, fmt.Sprintf("exporter-%d.log", i)))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "FLOWLOG_MAIN_ARGS="+strings.Join([]string{"export", "-c", exporters[i]}, "\n"))
		cmd.Stderr = logs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = cmd
	}
	for i := range exporters {
		start(i)
	}
	defer func() {
		for i, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- p.Wait() }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				p.Process.Signal(syscall.SIGQUIT)
				<-done
				b, _ := os.ReadFile(logs[i].Name())
				t.Errorf("exporter %d did not stop within 15 s of SIGTERM:\n%s", i, b)
			}
		}
	}()

	gc := gen.DefaultConfig()
	gc.Name, gc.Objects, gc.Records = "web-1", 30, 2000
	g, err := gen.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range gc.Objects {
		m.Put("flows", "logs/"+g.Key(i), g.Object(i))
		if i == 10 || i == 20 { // kill one exporter mid-way, twice
			time.Sleep(300 * time.Millisecond)
			procs[0].Process.Kill()
			procs[0].Wait()
			start(0)
		}
	}
	// A poison message: not a notification.
	if _, err := js.Publish(ctx, "flowlog.objects", []byte("this is not a notification")); err != nil {
		t.Fatal(err)
	}
	want := gc.Objects * gc.Records
	deadline := time.Now().Add(90 * time.Second)
	for countLines(t, out) < want && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if got := countLines(t, out); got != want {
		t.Fatalf("%d documents, want %d", got, want)
	}
	if files := outputFiles(t, out, false); len(files) != gc.Objects {
		t.Errorf("%d output files, want one per object (%d)", len(files), gc.Objects)
	}
	// Every message is settled: nothing pending, nothing awaiting an ack.
	for deadline := time.Now().Add(30 * time.Second); ; {
		info, err := stream.Info(ctx)
		if err == nil && info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages left in the work queue: %+v, %v", info.State, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	dead, _ := filepath.Glob(filepath.Join(dir, "dead", "messages", "*.json"))
	if len(dead) != 1 {
		t.Fatalf("dead-letter messages %v, want the poison one", dead)
	}
	b, _ := os.ReadFile(dead[0])
	if !strings.Contains(string(b), "this is not a notification") || !strings.Contains(string(b), "not an S3 bucket notification") {
		t.Errorf("dead letter %s", b)
	}
}
