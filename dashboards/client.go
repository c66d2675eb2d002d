package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxAnswer is the most of a server's answer read: answers are hostile
// input, and none of ours is larger.
const maxAnswer = 32 << 20

// Auth is how a client proves who it is: a bearer token (Grafana service
// account), an API key (Kibana), or a user and password.
type Auth struct {
	Token    string // Grafana: "Authorization: Bearer"
	APIKey   string // Kibana: "Authorization: ApiKey" (the encoded key)
	User     string
	Password string
}

func (a Auth) apply(r *http.Request) {
	switch {
	case a.Token != "":
		r.Header.Set("Authorization", "Bearer "+a.Token)
	case a.APIKey != "":
		r.Header.Set("Authorization", "ApiKey "+a.APIKey)
	case a.User != "":
		r.SetBasicAuth(a.User, a.Password)
	}
}

// client is what the Grafana and Kibana clients share: a base URL, auth,
// and JSON requests whose errors name the request and quote the server.
type client struct {
	base    *url.URL
	auth    Auth
	http    *http.Client
	headers map[string]string
}

func newClient(rawURL string, auth Auth, hc *http.Client) (*client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: want http(s)://host[:port][/path]", redactURL(rawURL))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: put no credentials in the URL; give them through the environment", redactURL(rawURL))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if hc == nil {
		hc = http.DefaultClient
	}
	return &client{base: u, auth: auth, http: hc, headers: map[string]string{}}, nil
}

// statusError is an answer other than 2xx.
type statusError struct {
	Method, Path string
	Code         int
	Body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Code, http.StatusText(e.Code), e.Body)
}

// do sends a request with a JSON body (when in is not nil; []byte is sent
// as is) and decodes a JSON answer into out (when not nil).
func (c *client) do(ctx context.Context, method, path string, in any, contentType string, out any) error {
	var body io.Reader
	switch b := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	c.auth.apply(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("%s %s: the answer is larger than %d MiB", method, path, maxAnswer>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{Method: method, Path: path, Code: resp.StatusCode, Body: clip(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the JSON expected: %v (%s)", method, path, err, clip(data))
		}
	}
	return nil
}

// clip is a server's answer as one short line of valid UTF-8.
func clip(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD")), " ")
	if len(s) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		return "(empty answer)"
	}
	return s
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	return p.Redacted()
}

func isStatus(err error, code int) bool {
	se, ok := err.(*statusError)
	return ok && se.Code == code
}
