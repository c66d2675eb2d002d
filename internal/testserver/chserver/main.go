// Command chserver is a test-only server: it serves the part of ClickHouse's
// HTTP interface that clickhouse-go's HTTP mode uses and runs every request
// on the real ClickHouse engine of chDB's libchdb.so. No ClickHouse server is
// obtainable on the machines flowlog is tested on; the engine is (npm package
// @chdb/lib-linux-x64-gnu). Tests start it through internal/testserver.
//
// What it does not do, and says so with HTTP 400 rather than ignoring: query
// parameters (param_*), settings other than the few clickhouse-go always
// sends (put settings in the query's SETTINGS clause instead), LZ4/ZSTD
// native compression. The database parameter is ignored: qualify table
// names.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

func main() {
	lib := flag.String("lib", "", "path of libchdb.so")
	dataDir := flag.String("path", "", "data folder (kept across restarts)")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	user := flag.String("user", "default", "user name clients must give")
	password := flag.String("password", "", "password clients must give (empty: none)")
	flag.Parse()
	if *lib == "" || *dataDir == "" {
		log.Fatal("chserver: -lib and -path are required")
	}
	eng, err := openEngine(*lib, *dataDir)
	if err != nil {
		log.Fatalf("chserver: %v", err)
	}
	s := &server{eng: eng, user: *user, password: *password, tmp: filepath.Join(*dataDir, "chserver-tmp")}
	if err := os.MkdirAll(s.tmp, 0o700); err != nil {
		log.Fatalf("chserver: %v", err)
	}
	if err := s.loadHello(); err != nil {
		log.Fatalf("chserver: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("chserver: %v", err)
	}
	// The harness waits for this line.
	fmt.Printf("listening on %s\n", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ln.Close()
		eng.close()
		os.Exit(0)
	}()
	if err := http.Serve(ln, s); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Fatalf("chserver: %v", err)
	}
}

type server struct {
	eng            *engine
	tmp            string // insert data files
	user, password string
	hello          []byte // the answer to clickhouse-go's first query
}

const helloQuery = "SELECT displayName(), version(), revision(), timezone()"

// loadHello prepares the answer to clickhouse-go's first query. The client
// decodes that answer in the Native layout of its own protocol revision,
// then every later answer in the layout of the revision the server names.
// The engine writes Native in the layout of revision 0, so the answer says
// revision 0 and is encoded here in the client's layout.
func (s *server) loadHello() error {
	out, err := s.eng.query([]byte("SELECT displayName(), version(), timezone()"), "TabSeparated")
	if err != nil {
		return fmt.Errorf("server info: %w", err)
	}
	f := strings.Split(strings.TrimRight(string(out), "\n"), "\t")
	if len(f) != 3 {
		return fmt.Errorf("server info: unexpected answer %q", out)
	}
	var b proto.Block
	for _, c := range []struct{ name, typ string }{
		{"displayName()", "String"}, {"version()", "String"}, {"revision()", "UInt32"}, {"timezone()", "String"},
	} {
		if err := b.AddColumn(c.name, column.Type(c.typ)); err != nil {
			return err
		}
	}
	if err := b.Append(f[0], f[1], uint32(0), f[2]); err != nil {
		return err
	}
	var buf chproto.Buffer
	if err := b.Encode(&buf, clickhouse.ClientTCPProtocolVersion); err != nil {
		return err
	}
	s.hello = buf.Buf
	return nil
}

// params clickhouse-go sends that need nothing here (max_execution_time is
// its default timeout; tests bound their own time).
var ignored = map[string]bool{"default_format": true, "client_protocol_version": true, "database": true,
	"query_id": true, "quota_key": true, "max_execution_time": true}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ping" {
		io.WriteString(w, "Ok.\n")
		return
	}
	if !s.authorized(r) {
		fail(w, http.StatusUnauthorized, "Code: 516. DB::Exception: "+s.userName(r)+": Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)")
		return
	}
	params := r.URL.Query()
	for k := range params {
		if k != "query" && !ignored[k] {
			fail(w, http.StatusBadRequest, "Code: 115. DB::Exception: test server: parameter "+k+" is not supported; put settings in the query. (UNKNOWN_SETTING)")
			return
		}
	}
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			fail(w, http.StatusBadRequest, "Code: 354. DB::Exception: gzip: "+err.Error()+". (ZLIB_INFLATE_FAILED)")
			return
		}
		body = zr
	default:
		fail(w, http.StatusBadRequest, "Code: 1. DB::Exception: test server: Content-Encoding "+enc+" is not supported. (UNSUPPORTED_METHOD)")
		return
	}
	data, err := io.ReadAll(body)
	if err != nil {
		fail(w, http.StatusBadRequest, "Code: 1. DB::Exception: read body: "+err.Error()+". (CANNOT_READ_ALL_DATA)")
		return
	}
	q := data
	if uq := params.Get("query"); uq != "" && len(data) > 0 {
		// An insert's data. The engine reads inline data only up to the
		// first line end, so the data goes through a file.
		f, err := os.CreateTemp(s.tmp, "insert-*.bin")
		if err == nil {
			_, err = f.Write(data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			defer os.Remove(f.Name())
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, "Code: 1. DB::Exception: test server: "+err.Error()+". (CANNOT_WRITE_TO_FILE_DESCRIPTOR)")
			return
		}
		iq, ok := fromInfile(uq, f.Name())
		if !ok {
			fail(w, http.StatusBadRequest, "Code: 62. DB::Exception: test server: data comes only with INSERT INTO table [(columns)] … FORMAT. (SYNTAX_ERROR)")
			return
		}
		q = []byte(iq)
	} else if uq != "" {
		q = []byte(uq)
	}
	if strings.TrimSpace(string(q)) == helloQuery {
		w.Write(s.hello)
		return
	}
	out, err := s.eng.query(q, "Native")
	if err != nil {
		fail(w, statusOf(err.Error()), err.Error())
		return
	}
	w.Write(out)
}

func (s *server) userName(r *http.Request) string {
	if u := r.Header.Get("X-ClickHouse-User"); u != "" {
		return u
	}
	if u, _, ok := r.BasicAuth(); ok {
		return u
	}
	return "default"
}

func (s *server) authorized(r *http.Request) bool {
	user, pass := s.userName(r), r.Header.Get("X-ClickHouse-Key")
	if _, p, ok := r.BasicAuth(); ok {
		pass = p
	}
	return user == s.user && pass == s.password
}

var codeRe = regexp.MustCompile(`Code: (\d+)\.`)

// statusOf maps an engine error to the HTTP status the real server uses
// for it (the common ones; 500 otherwise).
func statusOf(msg string) int {
	m := codeRe.FindStringSubmatch(msg)
	if m == nil {
		return http.StatusInternalServerError
	}
	switch code, _ := strconv.Atoi(m[1]); code {
	case 62, 27, 26, 6, 41, 72, 117: // syntax, cannot parse
		return http.StatusBadRequest
	case 60, 81, 47, 16: // unknown table, database, identifier, column
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func fail(w http.ResponseWriter, status int, msg string) {
	if m := codeRe.FindStringSubmatch(msg); m != nil {
		w.Header().Set("X-ClickHouse-Exception-Code", m[1])
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	io.Copy(w, bytes.NewReader([]byte(strings.TrimSpace(msg)+"\n")))
}

var insertRe = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+(?:TABLE\s+)?[A-Za-z0-9_.` + "`" + `]+\s*(\([^)]*\))?`)

// fromInfile turns "INSERT INTO t (cols) [SETTINGS …] FORMAT f" into the
// same insert reading its data from path.
func fromInfile(q, path string) (string, bool) {
	loc := insertRe.FindStringIndex(q)
	if loc == nil {
		return "", false
	}
	return q[:loc[1]] + " FROM INFILE '" + path + "'" + q[loc[1]:], true
}
