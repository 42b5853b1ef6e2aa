// Package datasource fetches cloud userdata, SSH keys and the hostname from
// the metadata service of the cloud a node runs on (aws, gcp, digitalocean,
// hetzner, openstack, packet, scaleway, vultr) or from a config drive or
// NoCloud volume (cdrom), and writes what it finds under the target root:
// run/config/userdata, run/config/ssh/authorized_keys and
// run/config/local_hostname, where the config loader picks them up.
//
// Each provider speaks its cloud's own published protocol. Base URLs come
// from Options (the command reads BOS_DATASOURCE_URL_<NAME> at its edge),
// so tests and private clouds can point a provider at another server.
//
// Metadata requests go through a client of their own, not fetch.Fetcher:
// they send headers and PUTs (aws's token), read small bodies into
// memory, take a 404 as "absent", take nothing listening as "not this
// cloud" at once rather than after retries, and never use a proxy (the
// service is link-local and knows the caller by its address). Only the
// retry loop is fetch's (fetch.Retry.Do): timeouts, dropped connections,
// 429 and 5xx are tried Options.Attempts times with a doubling backoff.
// Every request is bounded in size and time (AttemptTimeout per attempt,
// Timeout for the whole probe); a redirect never lowers https to http.
package datasource

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/logger"
)

// Data is what one provider gives. UserData is the raw payload as served
// (it may be gzip-compressed); nil means the provider has none.
type Data struct {
	UserData []byte
	Hostname string
	SSHKeys  []string
}

// empty says the provider answered but gave nothing usable.
func (d *Data) empty() bool {
	return d == nil || (d.UserData == nil && d.Hostname == "" && len(d.SSHKeys) == 0)
}

// Provider is one data source.
type Provider interface {
	// Name is the name used in bos.data_sources.
	Name() string
	// Fetch asks the source for its data. It returns an error wrapping
	// ErrUnavailable when the source is not there at all (nothing
	// listening, no such volume, not this cloud).
	Fetch(ctx context.Context) (*Data, error)
}

// Sentinel errors; check them with errors.Is.
var (
	// ErrUnknownSource is returned for a name that is no provider.
	ErrUnknownSource = errors.New("unknown data source")
	// ErrUnavailable says the source is not present on this machine.
	ErrUnavailable = errors.New("not available")
	// errNotFound is a 404: the item does not exist (for userdata: none).
	errNotFound = errors.New("not found")
	// errTooLarge is a payload over its size bound.
	errTooLarge = errors.New("too large")
)

// Defaults of Options.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultAttemptTimeout = 2 * time.Second
	DefaultAttempts       = 3
	DefaultBackoff        = 250 * time.Millisecond
	DefaultMaxUserData    = 1 << 20 // 1 MiB, before and after decompression
	maxMetadata           = 1 << 20 // metadata documents (JSON, key lists)
)

// Options tune a probe. The zero value is usable: every field has a default.
type Options struct {
	// URLs overrides the base URL of a provider by name ("aws" ->
	// "http://127.0.0.1:8080"). See URLsFromEnv.
	URLs map[string]string
	// Timeout bounds the whole probe (default 30s).
	Timeout time.Duration
	// AttemptTimeout bounds one HTTP attempt, connecting included
	// (default 2s: metadata services are link-local and answer fast).
	AttemptTimeout time.Duration
	// Attempts is how often a timed-out or 5xx request is tried (default 3).
	Attempts int
	// Backoff is the wait before the second attempt; it doubles after.
	Backoff time.Duration
	// MaxUserData bounds userdata as served and after decompression (1 MiB).
	MaxUserData int64
	// Devices lists and opens block devices for the cdrom source; nil
	// means the block devices of the target root (see BlockDevices).
	Devices Devices
	// Transport carries HTTP requests; nil means a transport without
	// proxies whose dial timeout is AttemptTimeout. Scaleway's userdata
	// always uses its own transport (it needs a privileged source port)
	// unless this is set.
	Transport http.RoundTripper
	// Log receives progress lines; never userdata contents.
	Log logger.Logger
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxUserData <= 0 {
		o.MaxUserData = DefaultMaxUserData
	}
	if o.Log == nil {
		o.Log = logger.Discard
	}
	return o
}

// baseURL is the override for name, or def.
func (o Options) baseURL(name, def string) string {
	if u := strings.TrimSpace(o.URLs[name]); u != "" {
		return strings.TrimRight(u, "/")
	}
	return def
}

// constructors of the providers, by name.
var providers = map[string]func(Options) Provider{
	"aws":          newAWS,
	"gcp":          newGCP,
	"digitalocean": newDigitalOcean,
	"hetzner":      newHetzner,
	"openstack":    newOpenStack,
	"packet":       newPacket,
	"scaleway":     newScaleway,
	"vultr":        newVultr,
	"cdrom":        newCDROM,
}

// Names lists the known providers, sorted.
func Names() []string {
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New returns the provider called name (case-insensitive).
func New(name string, opts Options) (Provider, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	mk, ok := providers[n]
	if !ok {
		return nil, errors.Wrapf(ErrUnknownSource, "%q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return mk(opts.withDefaults()), nil
}

// EnvPrefix starts the environment variables that override base URLs.
const EnvPrefix = "BOS_DATASOURCE_URL_"

// URLsFromEnv picks the BOS_DATASOURCE_URL_<NAME>=URL entries out of an
// environment (os.Environ()) as a map keyed by lower-case provider name.
func URLsFromEnv(environ []string) map[string]string {
	urls := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) || v == "" {
			continue
		}
		urls[strings.ToLower(strings.TrimPrefix(k, EnvPrefix))] = v
	}
	return urls
}
