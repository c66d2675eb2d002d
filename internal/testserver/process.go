package testserver

import (
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// process is a test server's process: its own process group, its output
// in a temporary file, stopped by its process id.
type process struct {
	cmd *exec.Cmd
	log *os.File
}

// startProcess starts cmd with its output in a temporary log file.
func startProcess(t testing.TB, name string, cmd *exec.Cmd) *process {
	t.Helper()
	logf, err := os.CreateTemp("", name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Stdout == nil {
		cmd.Stdout = logf
	}
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.Remove(logf.Name())
		t.Fatalf("start %s: %v", name, err)
	}
	return &process{cmd: cmd, log: logf}
}

// output returns what the process wrote so far.
func (p *process) output() string {
	out, _ := os.ReadFile(p.log.Name())
	return string(out)
}

// waitHTTP waits until url answers 200, or fails the test after d.
func (p *process) waitHTTP(t testing.TB, name, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			out := p.output()
			p.stop(syscall.SIGKILL, time.Second)
			t.Fatalf("%s did not become ready in %s: %v\n%s", name, d, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig to the process group and waits for the process to exit,
// killing it after grace; the log file is removed.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	pid := p.cmd.Process.Pid
	syscall.Kill(-pid, sig)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	p.log.Close()
	os.Remove(p.log.Name())
}
