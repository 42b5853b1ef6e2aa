package datasource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/pkg/errors"
)

// Google Compute Engine metadata server. Every request carries
// "Metadata-Flavor: Google" (the server refuses requests without it) and
// every answer from a real server carries it back: an answer without it is
// not a GCE metadata server. metadata.google.internal is 169.254.169.254;
// the address needs no DNS.
const (
	gcpDefaultURL = "http://169.254.169.254"
	gcpFlavor     = "Metadata-Flavor"
	gcpGoogle     = "Google"
	gcpV1         = "/computeMetadata/v1/"
)

type gcpProvider struct {
	base string
	c    *client
	o    Options
	now  func() time.Time
}

func newGCP(o Options) Provider {
	return &gcpProvider{base: o.baseURL("gcp", gcpDefaultURL), c: newClient(o), o: o, now: time.Now}
}

func (p *gcpProvider) Name() string { return "gcp" }

// get GETs a metadata path; a 404 gives (nil, nil).
func (p *gcpProvider) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	url := p.base + gcpV1 + path
	r, err := p.c.get(ctx, url, map[string]string{gcpFlavor: gcpGoogle}, limit)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r.header.Get(gcpFlavor) != gcpGoogle {
		return nil, errors.Wrapf(ErrUnavailable, "GET %s: the answer lacks %s: %s, so this is no GCE metadata server", url, gcpFlavor, gcpGoogle)
	}
	return r.body, nil
}

func (p *gcpProvider) Fetch(ctx context.Context) (*Data, error) {
	d := &Data{}
	// The hostname is always there on GCE: it also proves the server is one.
	h, err := p.get(ctx, "instance/hostname", maxMetadata)
	if err != nil {
		return nil, err
	}
	d.Hostname = strings.TrimSpace(string(h))

	ud, err := p.get(ctx, "instance/attributes/user-data", p.o.MaxUserData)
	if err != nil {
		return nil, errors.Wrap(err, "userdata")
	}
	if ud != nil {
		enc, err := p.get(ctx, "instance/attributes/user-data-encoding", 256)
		if err != nil {
			return nil, errors.Wrap(err, "user-data-encoding")
		}
		if e := strings.TrimSpace(string(enc)); strings.EqualFold(e, "base64") {
			dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(ud)))
			if err != nil {
				return nil, errors.Wrap(err, "userdata: user-data-encoding is base64 but the value does not decode")
			}
			ud = dec
		}
		d.UserData = ud
	}

	inst, err := p.get(ctx, "instance/attributes/ssh-keys", maxMetadata)
	if err != nil {
		p.o.Log.Printf("datasource: gcp: instance ssh-keys: %v", err)
	}
	d.SSHKeys = append(d.SSHKeys, p.parseKeys(string(inst))...)
	block, err := p.get(ctx, "instance/attributes/block-project-ssh-keys", 256)
	if err != nil {
		p.o.Log.Printf("datasource: gcp: block-project-ssh-keys: %v", err)
	}
	if !strings.EqualFold(strings.TrimSpace(string(block)), "true") {
		proj, err := p.get(ctx, "project/attributes/ssh-keys", maxMetadata)
		if err != nil {
			p.o.Log.Printf("datasource: gcp: project ssh-keys: %v", err)
		}
		d.SSHKeys = append(d.SSHKeys, p.parseKeys(string(proj))...)
	}
	return d, nil
}

// parseKeys reads GCE "USER:KEY" lines. A key managed with an expiry ends
// in `google-ssh {"userName":...,"expireOn":"RFC 3339 time"}`; expired keys
// are dropped.
func (p *gcpProvider) parseKeys(s string) []string {
	var keys []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		_, key, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		if i := strings.Index(key, "google-ssh {"); i >= 0 {
			var meta struct {
				ExpireOn string `json:"expireOn"`
			}
			if json.Unmarshal([]byte(key[i+len("google-ssh "):]), &meta) == nil && meta.ExpireOn != "" {
				if t, err := time.Parse(time.RFC3339, meta.ExpireOn); err == nil && p.now().After(t) {
					continue
				}
			}
		}
		keys = append(keys, key)
	}
	return keys
}
