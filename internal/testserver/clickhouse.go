package testserver

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ChDBVersion is the npm package of chDB whose libchdb.so (ClickHouse
// 26.7) the ClickHouse tests run on; make test-deps installs it.
const ChDBVersion = "26.7.3-stable.1"

// ChDBLib returns the path of libchdb.so: $CHDB_LIB (the Makefile sets
// it), else where make test-deps puts it; "" when it is not there.
func ChDBLib() string {
	p := os.Getenv("CHDB_LIB")
	if p == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		p = filepath.Join(dir, "flowlog", "chdb-"+ChDBVersion, "libchdb.so")
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// ClickHouse is the real ClickHouse engine (chDB's libchdb.so) behind
// ClickHouse's HTTP interface on a loopback port: internal/testserver/chserver,
// built on first use.
type ClickHouse struct {
	t       testing.TB
	bin     string
	lib     string
	dataDir string
	port    int
	proc    *process

	User, Password string
}

// StartClickHouse starts the server with an empty data folder; it stops
// when the test ends.
func StartClickHouse(t testing.TB) *ClickHouse {
	t.Helper()
	lib := ChDBLib()
	Require(t, "libchdb.so (make test-deps installs npm @chdb/lib-linux-x64-gnu@"+ChDBVersion+")", lib)
	c := &ClickHouse{t: t, bin: chserverBinary(t), lib: lib, dataDir: t.TempDir(), port: FreePort(t),
		User: "flowlog", Password: "flowlog-test-secret"}
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// Addr returns host:port of the HTTP interface.
func (c *ClickHouse) Addr() string { return "127.0.0.1:" + strconv.Itoa(c.port) }

// Start (re)starts the server on its port and data folder and waits until
// it answers.
func (c *ClickHouse) Start() {
	c.t.Helper()
	if c.proc != nil {
		return
	}
	cmd := exec.Command(c.bin, "-lib", c.lib, "-path", c.dataDir, "-addr", c.Addr(),
		"-user", c.User, "-password", c.Password)
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	c.proc = startProcess(c.t, "chserver", cmd)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), "listening on ") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if ok {
			return
		}
	case <-time.After(60 * time.Second):
	}
	msg := c.proc.output()
	c.Stop()
	c.t.Fatalf("chserver did not start in 60s:\n%s", msg)
}

// Stop stops the server by its process id and waits for it to exit.
func (c *ClickHouse) Stop() {
	if c.proc != nil {
		c.proc.stop(syscall.SIGTERM, 20*time.Second)
		c.proc = nil
	}
}

func (c *ClickHouse) String() string {
	return fmt.Sprintf("chserver %s pid %d", c.Addr(), c.proc.cmd.Process.Pid)
}

var chserver struct {
	once sync.Once
	path string
	err  error
}

// chserverBinary builds the server once per test process (go's build cache
// makes later builds quick) into the flowlog cache folder. It is renamed
// into place, so test processes building at once never see half a file.
func chserverBinary(t testing.TB) string {
	t.Helper()
	chserver.once.Do(func() {
		_, self, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(self), "chserver")
		dir, err := os.UserCacheDir()
		if err != nil {
			chserver.err = err
			return
		}
		dir = filepath.Join(dir, "flowlog", "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			chserver.err = err
			return
		}
		tmp := filepath.Join(dir, fmt.Sprintf(".chserver-%d", os.Getpid()))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			chserver.err = fmt.Errorf("build chserver: %v\n%s", err, out)
			return
		}
		chserver.path = filepath.Join(dir, "chserver")
		chserver.err = os.Rename(tmp, chserver.path)
	})
	if chserver.err != nil {
		t.Fatal(chserver.err)
	}
	return chserver.path
}
