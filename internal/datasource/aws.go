package datasource

import (
	"context"
	"net/http"
	"strings"

	"github.com/pkg/errors"
)

// AWS EC2 instance metadata service (IMDS). IMDSv2: a session token from
// PUT /latest/api/token (header X-aws-ec2-metadata-token-ttl-seconds), then
// GETs carrying X-aws-ec2-metadata-token. A token PUT answered 403, 404 or
// 405 (IMDSv1 only, or an EC2-compatible service without tokens) falls back
// to plain IMDSv1 GETs. A 401 on a GET means the token expired: one new
// token is fetched.
const (
	awsDefaultURL   = "http://169.254.169.254"
	awsTokenHeader  = "X-aws-ec2-metadata-token"
	awsTTLHeader    = "X-aws-ec2-metadata-token-ttl-seconds"
	awsTokenTTL     = "300"
	awsTokenPath    = "/latest/api/token"
	awsUserdataPath = "/latest/user-data"
	awsMetaPath     = "/latest/meta-data/"
)

type awsProvider struct {
	base string
	c    *client
	o    Options
}

func newAWS(o Options) Provider {
	return &awsProvider{base: o.baseURL("aws", awsDefaultURL), c: newClient(o), o: o}
}

func (p *awsProvider) Name() string { return "aws" }

// imdsSession holds the token, or none for IMDSv1.
type imdsSession struct {
	p      *awsProvider
	token  string
	v1     bool
	renews int
}

func (p *awsProvider) newToken(ctx context.Context) (string, error) {
	r, err := p.c.do(ctx, http.MethodPut, p.base+awsTokenPath, map[string]string{awsTTLHeader: awsTokenTTL}, 4096)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(r.body))
	if t == "" {
		return "", errors.Errorf("PUT %s%s: empty token", p.base, awsTokenPath)
	}
	return t, nil
}

func (s *imdsSession) header() map[string]string {
	if s.v1 {
		return nil
	}
	return map[string]string{awsTokenHeader: s.token}
}

// get GETs a path, renewing the token once on 401.
func (s *imdsSession) get(ctx context.Context, path string, limit int64) (*reply, error) {
	r, err := s.p.c.optional(ctx, s.p.base+path, s.header(), limit)
	if statusOf(err) == http.StatusUnauthorized && !s.v1 && s.renews == 0 {
		s.renews++
		s.p.o.Log.Printf("datasource: aws: token refused (HTTP 401); asking for a new one")
		t, terr := s.p.newToken(ctx)
		if terr != nil {
			return nil, errors.Wrap(terr, "renewing the IMDSv2 token")
		}
		s.token = t
		r, err = s.p.c.optional(ctx, s.p.base+path, s.header(), limit)
	}
	return r, err
}

func (s *imdsSession) text(ctx context.Context, path string) (string, error) {
	r, err := s.get(ctx, path, maxMetadata)
	if err != nil || r == nil {
		return "", err
	}
	return strings.TrimSpace(string(r.body)), nil
}

func (p *awsProvider) Fetch(ctx context.Context) (*Data, error) {
	s := &imdsSession{p: p}
	t, err := p.newToken(ctx)
	switch code := statusOf(err); {
	case err == nil:
		s.token = t
	case code == http.StatusForbidden || code == http.StatusMethodNotAllowed || errors.Is(err, errNotFound):
		p.o.Log.Printf("datasource: aws: IMDSv2 token refused (%v); using IMDSv1", err)
		s.v1 = true
	default:
		return nil, err
	}

	d := &Data{}
	r, err := s.get(ctx, awsUserdataPath, p.o.MaxUserData)
	if err != nil {
		return nil, errors.Wrap(err, "userdata")
	}
	if r != nil {
		d.UserData = r.body
	}

	for _, item := range []string{"hostname", "local-hostname"} {
		h, err := s.text(ctx, awsMetaPath+item)
		if err != nil {
			p.o.Log.Printf("datasource: aws: %s: %v", item, err)
			continue
		}
		if h != "" {
			d.Hostname = h
			break
		}
	}

	keys, err := s.keys(ctx)
	if err != nil {
		p.o.Log.Printf("datasource: aws: public keys: %v", err)
	}
	d.SSHKeys = keys
	return d, nil
}

// keys lists meta-data/public-keys/ ("0=name" lines) and reads each
// index's openssh-key.
func (s *imdsSession) keys(ctx context.Context) ([]string, error) {
	list, err := s.text(ctx, awsMetaPath+"public-keys/")
	if err != nil || list == "" {
		return nil, err
	}
	var keys []string
	for _, line := range strings.Split(list, "\n") {
		idx, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		idx = strings.TrimSuffix(idx, "/")
		if idx == "" || strings.ContainsAny(idx, "/?#") {
			continue
		}
		k, err := s.text(ctx, awsMetaPath+"public-keys/"+idx+"/openssh-key")
		if err != nil {
			return keys, err
		}
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys, nil
}
