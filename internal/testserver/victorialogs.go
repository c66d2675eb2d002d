package testserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// VictoriaLogs is a real VictoriaLogs server on loopback: it takes Loki's
// push API under /insert and answers LogsQL queries.
type VictoriaLogs struct {
	t       testing.TB
	bin     string
	dataDir string
	port    int
	proc    *process
}

// StartVictoriaLogs starts VictoriaLogs with an empty data folder; it stops
// when the test ends.
func StartVictoriaLogs(t testing.TB) *VictoriaLogs {
	t.Helper()
	bin := FindBinary("VICTORIALOGS_BIN", "victoria-logs")
	Require(t, "victoria-logs (go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.1)", bin)
	v := &VictoriaLogs{t: t, bin: bin, dataDir: t.TempDir(), port: FreePort(t)}
	v.Start()
	t.Cleanup(v.Stop)
	return v
}

// URL is the server's address; Loki's push API is under URL()+"/insert".
func (v *VictoriaLogs) URL() string { return "http://127.0.0.1:" + strconv.Itoa(v.port) }

// Start (re)starts the server on its port and data folder and waits until it answers.
func (v *VictoriaLogs) Start() {
	v.t.Helper()
	if v.proc != nil {
		return
	}
	cmd := exec.Command(v.bin, "-httpListenAddr=127.0.0.1:"+strconv.Itoa(v.port), "-storageDataPath="+v.dataDir,
		"-retentionPeriod=100y", "-loki.disableMessageParsing")
	v.proc = startProcess(v.t, "victoria-logs", cmd)
	v.proc.waitHTTP(v.t, "victoria-logs", v.URL()+"/health", 30*time.Second)
}

// Stop stops the server by its process id and waits for it to exit.
func (v *VictoriaLogs) Stop() { v.stop(syscall.SIGTERM) }

// Kill kills the server by its process id, as a crash does.
func (v *VictoriaLogs) Kill() { v.stop(syscall.SIGKILL) }

func (v *VictoriaLogs) stop(sig syscall.Signal) {
	if v.proc != nil {
		v.proc.stop(sig, 20*time.Second)
		v.proc = nil
	}
}

// Query flushes what was pushed and returns the entries LogsQL query q
// finds, each as its fields (_msg, _time, _stream, and one per structured
// metadata and label).
func (v *VictoriaLogs) Query(q string) []map[string]string {
	v.t.Helper()
	resp, err := http.Get(v.URL() + "/internal/force_flush")
	if err != nil {
		v.t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.PostForm(v.URL()+"/select/logsql/query", url.Values{"query": {q}})
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		v.t.Fatalf("query %q: %s: %s", q, resp.Status, b)
	}
	var out []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		m := map[string]string{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			v.t.Fatalf("query %q: %v", q, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		v.t.Fatal(err)
	}
	return out
}

func (v *VictoriaLogs) String() string {
	return fmt.Sprintf("victoria-logs %s pid %d", v.URL(), v.proc.cmd.Process.Pid)
}
