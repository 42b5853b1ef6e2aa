package datasource

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/logger"
)

// Scaleway instance metadata: GET /conf?format=json (hostname,
// ssh_public_keys [{key, ...}]) and the cloud-init userdata at
// GET /user_data/cloud-init. Scaleway serves user_data only to requests
// from a source port below 1024 (so only root can read it): that request
// goes through a dialer that binds a privileged local port.
const scalewayDefaultURL = "http://169.254.42.42"

type scalewayProvider struct {
	base string
	c    *client // metadata
	ud   *client // user_data, from a privileged port
	o    Options
}

func newScaleway(o Options) Provider {
	p := &scalewayProvider{base: o.baseURL("scaleway", scalewayDefaultURL), c: newClient(o), o: o}
	if o.Transport != nil {
		p.ud = p.c
	} else {
		p.ud = newClientWith(o, newTransport(o.AttemptTimeout, privilegedDial(o.AttemptTimeout, o.Log)))
	}
	return p
}

func (p *scalewayProvider) Name() string { return "scaleway" }

func (p *scalewayProvider) Fetch(ctx context.Context) (*Data, error) {
	var m struct {
		Hostname      string `json:"hostname"`
		SSHPublicKeys []struct {
			Key string `json:"key"`
		} `json:"ssh_public_keys"`
	}
	if err := p.c.getJSON(ctx, p.base+"/conf?format=json", nil, &m); err != nil {
		return nil, notThere("Scaleway", err)
	}
	d := &Data{Hostname: m.Hostname}
	for _, k := range m.SSHPublicKeys {
		d.SSHKeys = append(d.SSHKeys, k.Key)
	}
	ud, err := fetchUserdata(ctx, p.ud, p.base+"/user_data/cloud-init", nil, p.o.MaxUserData)
	if code := statusOf(err); code == http.StatusForbidden || code == http.StatusUnauthorized {
		return nil, errors.Wrap(err, "Scaleway serves user_data only to a source port below 1024; is this run as root?")
	}
	if err != nil {
		return nil, err
	}
	d.UserData = ud
	return d, nil
}

// privilegedDial dials from a random local port in 512..1023, trying a few
// ports when one is taken. Without the privilege to bind one (not root),
// it logs that and dials from an ordinary port.
func privilegedDial(timeout time.Duration, log logger.Logger) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var last error
		for i := 0; i < 8; i++ {
			port := 512 + rand.IntN(512)
			d := net.Dialer{
				Timeout:   timeout,
				LocalAddr: &net.TCPAddr{Port: port},
				Control: func(_, _ string, c syscall.RawConn) error {
					var serr error
					err := c.Control(func(fd uintptr) {
						serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
					})
					if err != nil {
						return err
					}
					return serr
				},
			}
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				return conn, nil
			}
			last = err
			switch {
			case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
				log.Printf("datasource: scaleway: cannot bind a port below 1024 (%v); user_data will likely be refused", rootCause(err))
				return (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
			case errors.Is(err, syscall.EADDRINUSE):
				continue
			}
			return nil, err
		}
		return nil, last
	}
}
