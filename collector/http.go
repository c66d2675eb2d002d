package collector

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
)

// Routes are the ops listener's control endpoints:
//
//	GET  /flowlogs              the flow logs, their state, interfaces (and why), counters
//	POST /flowlogs/NAME/suspend write NAME's open windows, then capture nothing
//	POST /flowlogs/NAME/resume  capture again
//	POST /flowlogs/reload       read the configuration file again (as SIGHUP)
//
// With a token, each needs "Authorization: Bearer <token>". Answers are
// JSON: {"flow_logs": [...]} or {"error": "..."}.
func (c *Collector) Routes(token string) map[string]http.Handler {
	guard := func(h func(r *http.Request) ([]FlowLogStatus, error)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if token != "" {
				got := r.Header.Get("Authorization")
				if subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+token)) != 1 {
					w.WriteHeader(http.StatusUnauthorized)
					json.NewEncoder(w).Encode(map[string]string{"error": "a control token is required: Authorization: Bearer <token>"})
					return
				}
			}
			st, err := h(r)
			if err != nil {
				code := http.StatusInternalServerError
				switch {
				case errors.Is(err, ErrUnknownFlowLog):
					code = http.StatusNotFound
				case errors.Is(err, ErrNotRunning):
					code = http.StatusServiceUnavailable
				}
				w.WriteHeader(code)
				json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"flow_logs": st})
		})
	}
	return map[string]http.Handler{
		"GET /flowlogs": guard(func(r *http.Request) ([]FlowLogStatus, error) { return c.Status(r.Context()) }),
		"POST /flowlogs/{name}/suspend": guard(func(r *http.Request) ([]FlowLogStatus, error) {
			return c.Suspend(r.Context(), r.PathValue("name"))
		}),
		"POST /flowlogs/{name}/resume": guard(func(r *http.Request) ([]FlowLogStatus, error) {
			return c.Resume(r.Context(), r.PathValue("name"))
		}),
		"POST /flowlogs/reload": guard(func(r *http.Request) ([]FlowLogStatus, error) { return c.Reload(r.Context()) }),
	}
}
