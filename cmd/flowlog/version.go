package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time (make build: -ldflags "-X main.version=…").
// Left empty, the module version of "go install …@v1.2.3" is used, else "dev".
var version string

// buildInfo is what "flowlog version" prints.
type buildInfo struct {
	Version, Commit, Time, Go string
	Modified                  bool
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
		if b.Commit != "" {
			b.Version += "-" + short(b.Commit)
		}
	}
	return b
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// versionLine is the one-line form of --version.
func (b buildInfo) versionLine() string {
	s := b.Version
	if b.Commit != "" {
		s += " (commit " + short(b.Commit)
		if b.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + b.Go
}

func newVersionCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this flowlog",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := readBuildInfo()
			fmt.Fprintf(s.out, "flowlog %s\n", b.Version)
			if b.Commit != "" {
				mod := ""
				if b.Modified {
					mod = " (with uncommitted changes)"
				}
				fmt.Fprintf(s.out, "commit  %s%s\n", b.Commit, mod)
			}
			if b.Time != "" {
				fmt.Fprintf(s.out, "built   from a commit of %s\n", b.Time)
			}
			fmt.Fprintf(s.out, "go      %s %s/%s\n", b.Go, runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
