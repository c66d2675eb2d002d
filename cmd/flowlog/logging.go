package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/flowlog/flowlog/internal/config"
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

// redacting hides the values a configuration took from the environment in
// every log record: a secret given in the wrong field is not printed.
func redacting(log *slog.Logger, r *config.Redactor) *slog.Logger {
	if r.Empty() {
		return log
	}
	return slog.New(redactHandler{log.Handler(), r})
}

type redactHandler struct {
	slog.Handler
	r *config.Redactor
}

func (h redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Redact(v.String()))
	case slog.KindAny:
		if s := fmt.Sprint(v.Any()); h.r.Redact(s) != s {
			return slog.String(a.Key, h.r.Redact(s))
		}
	case slog.KindGroup:
		var attrs []any
		for _, g := range v.Group() {
			attrs = append(attrs, h.attr(g))
		}
		return slog.Group(a.Key, attrs...)
	}
	return a
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = h.attr(a)
	}
	return redactHandler{h.Handler.WithAttrs(out), h.r}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h.Handler.WithGroup(name), h.r}
}

// redactErr hides the values from the environment in an error to be printed.
func redactErr(err error, r *config.Redactor) error {
	var ee *exitError
	if err == nil || r.Empty() || !errors.As(err, &ee) || ee.err == nil {
		return err
	}
	return &exitError{code: ee.code, err: errors.New(r.Redact(ee.err.Error()))}
}

// errf is a failure at run time: exit status 2, without the usage hint.
func errf(format string, a ...any) error {
	return &exitError{code: exitFailure, err: fmt.Errorf(format, a...)}
}
