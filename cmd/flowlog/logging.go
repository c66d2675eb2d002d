package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

// logOptions are the logging flags of the long-running commands.
type logOptions struct {
	format string
	level  string
}

func (o *logOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.format, "log-format", "text", "log format: text or json (json: summaries and progress are log records too)")
	f.StringVar(&o.level, "log-level", "info", "log level: debug (a line per object), info, warn or error")
}

func (o *logOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.level)); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", o.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch o.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError("--log-format %q: want text or json", o.format)
}

// errf is a failure at run time: exit status 2, without the usage hint.
func errf(format string, a ...any) error {
	return &exitError{code: exitFailure, err: fmt.Errorf(format, a...)}
}
