package datasource

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/pkg/errors"
)

// This file holds the providers whose protocol is a metadata document plus
// a userdata URL, without tokens: DigitalOcean, Hetzner, OpenStack's
// metadata service, Packet (Equinix Metal) and Vultr.

// notThere turns a 404 on a provider's main document into ErrUnavailable:
// some other service answers at that address.
func notThere(name string, err error) error {
	if errors.Is(err, errNotFound) {
		return errors.Wrapf(ErrUnavailable, "%s metadata not served here (%v)", name, err)
	}
	return err
}

// fetchUserdata GETs a userdata URL: a 404 is no userdata.
func fetchUserdata(ctx context.Context, c *client, url string, header map[string]string, max int64) ([]byte, error) {
	r, err := c.optional(ctx, url, header, max)
	if err != nil {
		return nil, errors.Wrap(err, "userdata")
	}
	if r == nil {
		return nil, nil
	}
	return r.body, nil
}

// DigitalOcean: GET /metadata/v1.json gives the whole droplet metadata,
// userdata included (user_data, absent when none).
type doProvider struct {
	base string
	c    *client
}

func newDigitalOcean(o Options) Provider {
	return &doProvider{base: o.baseURL("digitalocean", "http://169.254.169.254"), c: newClient(o)}
}

func (p *doProvider) Name() string { return "digitalocean" }

func (p *doProvider) Fetch(ctx context.Context) (*Data, error) {
	var m struct {
		Hostname   string   `json:"hostname"`
		PublicKeys []string `json:"public_keys"`
		UserData   *string  `json:"user_data"`
	}
	if err := p.c.getJSON(ctx, p.base+"/metadata/v1.json", nil, &m); err != nil {
		return nil, notThere("DigitalOcean", err)
	}
	d := &Data{Hostname: m.Hostname, SSHKeys: m.PublicKeys}
	if m.UserData != nil {
		d.UserData = []byte(*m.UserData)
	}
	return d, nil
}

// Hetzner Cloud: /hetzner/v1/metadata/hostname, .../public-keys (a JSON
// list) and /hetzner/v1/userdata.
type hetznerProvider struct {
	base string
	c    *client
	o    Options
}

func newHetzner(o Options) Provider {
	return &hetznerProvider{base: o.baseURL("hetzner", "http://169.254.169.254"), c: newClient(o), o: o}
}

func (p *hetznerProvider) Name() string { return "hetzner" }

func (p *hetznerProvider) Fetch(ctx context.Context) (*Data, error) {
	r, err := p.c.get(ctx, p.base+"/hetzner/v1/metadata/hostname", nil, maxMetadata)
	if err != nil {
		return nil, notThere("Hetzner", err)
	}
	d := &Data{Hostname: strings.TrimSpace(string(r.body))}
	if d.UserData, err = fetchUserdata(ctx, p.c, p.base+"/hetzner/v1/userdata", nil, p.o.MaxUserData); err != nil {
		return nil, err
	}
	keys, err := p.c.text(ctx, p.base+"/hetzner/v1/metadata/public-keys", nil)
	if err != nil {
		p.o.Log.Printf("datasource: hetzner: public keys: %v", err)
	}
	d.SSHKeys = keyList(keys)
	return d, nil
}

// keyList reads a JSON list of keys, or one key per line.
func keyList(s string) []string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var l []string
		if json.Unmarshal([]byte(s), &l) == nil {
			return l
		}
	}
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// OpenStack metadata service: /openstack/latest/meta_data.json and
// /openstack/latest/user_data. The config drive (cdrom) holds the same files.
type openstackProvider struct {
	base string
	c    *client
	o    Options
}

func newOpenStack(o Options) Provider {
	return &openstackProvider{base: o.baseURL("openstack", "http://169.254.169.254"), c: newClient(o), o: o}
}

func (p *openstackProvider) Name() string { return "openstack" }

func (p *openstackProvider) Fetch(ctx context.Context) (*Data, error) {
	r, err := p.c.get(ctx, p.base+"/openstack/latest/meta_data.json", nil, maxMetadata)
	if err != nil {
		return nil, notThere("OpenStack", err)
	}
	d, err := parseOpenStackMeta(r.body)
	if err != nil {
		return nil, errors.Wrapf(err, "GET %s/openstack/latest/meta_data.json", p.base)
	}
	if d.UserData, err = fetchUserdata(ctx, p.c, p.base+"/openstack/latest/user_data", nil, p.o.MaxUserData); err != nil {
		return nil, err
	}
	return d, nil
}

// parseOpenStackMeta reads meta_data.json: hostname (or name), public_keys
// (name -> key) and keys (a list of {name, type, data}).
func parseOpenStackMeta(b []byte) (*Data, error) {
	var m struct {
		Hostname   string            `json:"hostname"`
		Name       string            `json:"name"`
		PublicKeys map[string]string `json:"public_keys"`
		Keys       []struct {
			Name string `json:"name"`
			Type string `json:"type"`
			Data string `json:"data"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errors.Wrap(err, "decoding meta_data.json")
	}
	d := &Data{Hostname: m.Hostname}
	if d.Hostname == "" {
		d.Hostname = m.Name
	}
	for _, k := range m.Keys {
		if k.Type == "" || k.Type == "ssh" {
			d.SSHKeys = append(d.SSHKeys, k.Data)
		}
	}
	names := make([]string, 0, len(m.PublicKeys))
	for n := range m.PublicKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d.SSHKeys = append(d.SSHKeys, m.PublicKeys[n])
	}
	d.SSHKeys = cleanKeys(d.SSHKeys) // the same keys are often in both
	return d, nil
}

// Packet / Equinix Metal: GET /metadata (JSON: hostname, ssh_keys) and
// GET /userdata, over HTTPS on metadata.platformequinix.com, the older
// metadata.packet.net name tried second.
type packetProvider struct {
	bases []string
	c     *client
	o     Options
}

func newPacket(o Options) Provider {
	bases := []string{"https://metadata.platformequinix.com", "https://metadata.packet.net"}
	if u := o.baseURL("packet", ""); u != "" {
		bases = []string{u}
	}
	return &packetProvider{bases: bases, c: newClient(o), o: o}
}

func (p *packetProvider) Name() string { return "packet" }

func (p *packetProvider) Fetch(ctx context.Context) (*Data, error) {
	var err error
	for _, base := range p.bases {
		var d *Data
		d, err = p.fetch(ctx, base)
		if err == nil || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return d, err
		}
	}
	return nil, err
}

func (p *packetProvider) fetch(ctx context.Context, base string) (*Data, error) {
	var m struct {
		Hostname string   `json:"hostname"`
		SSHKeys  []string `json:"ssh_keys"`
	}
	if err := p.c.getJSON(ctx, base+"/metadata", nil, &m); err != nil {
		return nil, notThere("Equinix Metal", err)
	}
	d := &Data{Hostname: m.Hostname, SSHKeys: m.SSHKeys}
	var err error
	if d.UserData, err = fetchUserdata(ctx, p.c, base+"/userdata", nil, p.o.MaxUserData); err != nil {
		return nil, err
	}
	return d, nil
}

// Vultr: GET /v1.json (hostname, public-keys) and GET /latest/user-data.
type vultrProvider struct {
	base string
	c    *client
	o    Options
}

func newVultr(o Options) Provider {
	return &vultrProvider{base: o.baseURL("vultr", "http://169.254.169.254"), c: newClient(o), o: o}
}

func (p *vultrProvider) Name() string { return "vultr" }

func (p *vultrProvider) Fetch(ctx context.Context) (*Data, error) {
	var m struct {
		Hostname   string   `json:"hostname"`
		PublicKeys []string `json:"public-keys"`
	}
	if err := p.c.getJSON(ctx, p.base+"/v1.json", nil, &m); err != nil {
		return nil, notThere("Vultr", err)
	}
	d := &Data{Hostname: m.Hostname, SSHKeys: m.PublicKeys}
	var err error
	if d.UserData, err = fetchUserdata(ctx, p.c, p.base+"/latest/user-data", nil, p.o.MaxUserData); err != nil {
		return nil, err
	}
	return d, nil
}
