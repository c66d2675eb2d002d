package dashboards

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Kibana installs the saved objects through Kibana's saved-objects API.
type Kibana struct {
	c     *client
	space string
}

var spaceRe = regexp.MustCompile(`^[a-z0-9_-]{1,100}$`)

// NewKibana returns a client of the Kibana at rawURL, for space ("" or
// "default": the default space).
func NewKibana(rawURL, space string, auth Auth, hc *http.Client) (*Kibana, error) {
	c, err := newClient(rawURL, auth, hc)
	if err != nil {
		return nil, fmt.Errorf("kibana: %w", err)
	}
	if space != "" && !spaceRe.MatchString(space) {
		return nil, fmt.Errorf("kibana: space %q: want a space id (a-z, 0-9, _ and -)", space)
	}
	c.headers["kbn-xsrf"] = "flowlog"
	return &Kibana{c: c, space: space}, nil
}

func (k *Kibana) path(p string) string {
	if k.space == "" || k.space == "default" {
		return p
	}
	return "/s/" + k.space + p
}

// KibanaFiles are the saved-objects files: one per target of the
// Elasticsearch sink.
var KibanaFiles = []string{"kibana/flowlog.ndjson", "kibana/flowlog-elastic-aws.ndjson"}

// Install imports the saved objects of each file (by default both: the
// dashboards of each target, each with its own data view), overwriting
// objects of the same ids. Kibana migrates what it imports, so the objects
// it holds never equal the file's: the dashboard's description carries a
// hash of the file instead, and a file whose objects are all there with
// that hash is left alone.
func (k *Kibana) Install(ctx context.Context, names []string) ([]Change, error) {
	if len(names) == 0 {
		names = KibanaFiles
	}
	var changes []Change
	for _, name := range names {
		raw, err := fs.ReadFile(files, name)
		if err != nil {
			return changes, fmt.Errorf("kibana: %s: %w", name, err)
		}
		objs, marked, err := markObjects(raw)
		if err != nil {
			return changes, fmt.Errorf("kibana: %s: %w", name, err)
		}
		ch := Change{Name: name}
		state, err := k.installed(ctx, objs, marked.mark)
		if err != nil {
			return changes, err
		}
		switch state {
		case "same":
			ch.Action = "unchanged"
			changes = append(changes, ch)
			continue
		case "none":
			ch.Action = "created"
		default:
			ch.Action = "updated"
		}
		if err := k.importFile(ctx, name, marked.data, len(objs)); err != nil {
			return changes, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

type idType struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type markedFile struct {
	data []byte // the NDJSON to import
	mark string // in the dashboard's description
}

// markObjects returns the objects of an NDJSON file and the file with the
// dashboard's description marked with the file's hash.
func markObjects(raw []byte) ([]idType, markedFile, error) {
	sum := sha256.Sum256(raw)
	mark := "[flowlog " + hex.EncodeToString(sum[:6]) + "]"
	var objs []idType
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var o map[string]any
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return nil, markedFile{}, err
		}
		t, _ := o["type"].(string)
		id, _ := o["id"].(string)
		objs = append(objs, idType{t, id})
		if t == "dashboard" {
			attrs, _ := o["attributes"].(map[string]any)
			desc, _ := attrs["description"].(string)
			attrs["description"] = strings.TrimSpace(desc + " " + mark)
		}
		b, err := json.Marshal(o)
		if err != nil {
			return nil, markedFile{}, err
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return objs, markedFile{data: out.Bytes(), mark: mark}, sc.Err()
}

// installed says whether objs are in Kibana: "none", "same" (all, the
// dashboard with mark) or "other".
func (k *Kibana) installed(ctx context.Context, objs []idType, mark string) (string, error) {
	var ans struct {
		SavedObjects []struct {
			ID         string         `json:"id"`
			Type       string         `json:"type"`
			Attributes map[string]any `json:"attributes"`
			Error      *struct {
				StatusCode int `json:"statusCode"`
			} `json:"error"`
		} `json:"saved_objects"`
	}
	if err := k.c.do(ctx, http.MethodPost, k.path("/api/saved_objects/_bulk_get"), objs, "", &ans); err != nil {
		return "", fmt.Errorf("kibana: %w", err)
	}
	if len(ans.SavedObjects) != len(objs) {
		return "", fmt.Errorf("kibana: _bulk_get answered %d objects for %d asked", len(ans.SavedObjects), len(objs))
	}
	found, same := 0, true
	for _, o := range ans.SavedObjects {
		if o.Error != nil {
			same = false
			continue
		}
		found++
		if o.Type == "dashboard" {
			desc, _ := o.Attributes["description"].(string)
			same = same && strings.Contains(desc, mark)
		}
	}
	switch {
	case found == 0:
		return "none", nil
	case same:
		return "same", nil
	}
	return "other", nil
}

// importFile imports an NDJSON file with overwrite, and checks that Kibana
// took every object.
func (k *Kibana) importFile(ctx context.Context, name string, data []byte, n int) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", strings.TrimPrefix(name, "kibana/"))
	if err != nil {
		return err
	}
	fw.Write(data)
	if err := mw.Close(); err != nil {
		return err
	}
	var ans struct {
		Success      bool `json:"success"`
		SuccessCount int  `json:"successCount"`
		Errors       []struct {
			ID    string `json:"id"`
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"errors"`
	}
	q := url.Values{"overwrite": {"true"}}
	if err := k.c.do(ctx, http.MethodPost, k.path("/api/saved_objects/_import?"+q.Encode()), body.Bytes(), mw.FormDataContentType(), &ans); err != nil {
		return fmt.Errorf("kibana: importing %s: %w", name, err)
	}
	if !ans.Success || ans.SuccessCount != n {
		var why []string
		for _, e := range ans.Errors {
			why = append(why, fmt.Sprintf("%s %s: %s %s", e.Type, e.ID, e.Error.Type, e.Error.Message))
		}
		return fmt.Errorf("kibana: importing %s: %d of %d objects imported: %s", name, ans.SuccessCount, n, clip([]byte(strings.Join(why, "; "))))
	}
	return nil
}
