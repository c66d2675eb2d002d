package main

import (
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	lumberlog "github.com/elastic/go-lumber/log"
	server "github.com/elastic/go-lumber/server/v2"
)

type quietLumber struct{}

func (quietLumber) Printf(string, ...any) {}
func (quietLumber) Println(...any)        {}
func (quietLumber) Print(...any)          {}

// TestExportKilledLogstashIntegration kills export into a beats input
// (go-lumber's own server) with SIGKILL while it sends, then lets it catch
// up: every record arrives, at least once, with its event.id as
// @metadata._id for Logstash to keep Elasticsearch free of repeats.
func TestExportKilledLogstashIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills child processes")
	}
	lumberlog.Logger = quietLumber{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewWithListener(ln)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ids := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range srv.ReceiveChan() {
			mu.Lock()
			for _, e := range b.Events {
				md, _ := e.(map[string]any)["@metadata"].(map[string]any)
				id, _ := md["_id"].(string)
				ids[id]++
			}
			mu.Unlock()
			b.ACK()
		}
	}()
	defer func() { srv.Close(); <-done }()
	distinct := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(ids)
	}
	dir := t.TempDir()
	bucket := genSettled(t, dir, 40, 4000)
	const want = 40 * 4000
	args := []string{"export", "--source", bucket, "--sink", "logstash://" + ln.Addr().String(), "--checkpoint", filepath.Join(dir, "cp.json"),
		"--poll", "1s", "--lookback", "87600h", "--listen", ""}
	kills := killWhileWorking(t, args, distinct, want, 4, 100*time.Millisecond)
	if kills < 4 {
		t.Errorf("only %d kills fell while sending", kills)
	}
	cmd := child(t, args...)
	deadline := time.Now().Add(90 * time.Second)
	for distinct() < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("export after SIGTERM: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	repeats := 0
	for _, n := range ids {
		repeats += n - 1
	}
	t.Logf("%d kills; %d records, %d repeats (dropped downstream by @metadata._id)", kills, len(ids), repeats)
	if len(ids) != want || ids[""] != 0 {
		t.Errorf("%d distinct records (%d without _id), want %d", len(ids), ids[""], want)
	}
}
