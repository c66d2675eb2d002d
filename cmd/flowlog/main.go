// Command flowlog brings cloud network flow logs into the tools security
// teams use: collect writes them from a host's traffic, export and backfill
// deliver them from buckets, parse and gen read and make them. Run
// "flowlog --help".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses shared by all commands.
const (
	exitOK       = 0
	exitRejected = 1 // some input lines were rejected; everything else was done
	exitFailure  = 2 // usage, I/O or decompression error
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// streams are a command's standard input and outputs.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// run executes one command line and returns its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(streams{stdin, stdout, stderr})
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "flowlog: %v\n", ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself (unknown command or flag) are usage errors.
	fmt.Fprintf(stderr, "flowlog: %v\nRun 'flowlog --help' for usage.\n", err)
	return exitFailure
}

// exitError carries an exit status; err, if set, is printed first.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks a command line that cannot be run.
func usageError(format string, a ...any) error {
	return &exitError{code: exitFailure, err: fmt.Errorf(format+"\nRun 'flowlog --help' for usage.", a...)}
}

func newRoot(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "flowlog",
		Short: "Cloud network flow logs for the tools security teams use",
		Long: `flowlog brings network flow logs (the version-2 records of AWS, IONOS, IBM and
Tencent Flow Logs: one line per flow, gzip objects named [prefix/]<name>-<unix-ts>.log.gz)
into the tools security teams use: it writes them from any Linux host's traffic,
and delivers them from buckets to files and SIEMs.

  flowlog collect -c FILE                capture this host's traffic into objects (daemon)
  flowlog collect --pcap F --out DIR     convert a capture file into objects
  flowlog collect ctl status -c FILE     a running collector's flow logs; suspend, resume, reload
  flowlog export --source S --sink K     deliver new objects from a bucket or folder, once
  flowlog backfill --source S --since T --until T --sink K
                                         deliver a time range of objects, once
  flowlog parse FILE...                  print records as JSON, ECS or v2
  flowlog gen --out DIR                  write realistic synthetic objects (or --pcap)
  flowlog setup clickhouse -c FILE       create or migrate the ClickHouse tables (--print: show the DDL)
  flowlog setup elasticsearch -c FILE    install the Elasticsearch templates and ILM policy (--print)
  flowlog dashboards install --grafana URL | --kibana URL
                                         install the bundled dashboards (export DIR: write them)
  flowlog report --out F.html PATH...    one self-contained HTML page summarising objects or NDJSON

  flowlog version                        version, commit and Go version

Exit status: 0 done; 1 done, but some input lines or records were rejected
or objects were damaged (the rest was delivered; see the log and the dead
letters); 2 usage or configuration error, or work left undone (run again).`,
		Version:       readBuildInfo().versionLine(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c.HasParent() {
			return usageError("%s: %v", c.Name(), err)
		}
		return usageError("%v", err)
	})
	root.AddCommand(newParseCmd(s), newGenCmd(s), newCollectCmd(s), newExportCmd(s), newBackfillCmd(s), newSetupCmd(s), newDashboardsCmd(s), newReportCmd(s), newVersionCmd(s))
	return root
}
