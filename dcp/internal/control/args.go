// Package control prepares the control plane of a DCP server: the cluster's
// PKI and token, the components' kubeconfigs and configuration files, and
// the upstream argv of kube-apiserver, kube-controller-manager and
// kube-scheduler. It starts nothing itself: the server hands the argv to an
// executor, so a test can diff them.
package control

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/pki"
)

// Component names, as upstream names its commands and as the
// --<name>-arg flags say them.
const (
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
)

// APIServerArgs is kube-apiserver's argv (without the command name).
func APIServerArgs(c *config.Config) []string {
	issuer := "https://kubernetes.default.svc." + c.ClusterDomain
	return withExtra(c, APIServer, map[string]string{
		"advertise-address":                  c.AdvertiseIP().String(),
		"bind-address":                       c.BindAddress.String(),
		"secure-port":                        fmt.Sprint(c.HTTPSPort),
		"etcd-servers":                       fmt.Sprintf("https://127.0.0.1:%d", c.EtcdClientPort),
		"etcd-cafile":                        c.TLS("etcd/server-ca.crt"),
		"etcd-certfile":                      c.TLS("etcd/client.crt"),
		"etcd-keyfile":                       c.TLS("etcd/client.key"),
		"client-ca-file":                     c.TLS("client-ca.crt"),
		"tls-cert-file":                      c.TLS("serving-kube-apiserver.crt"),
		"tls-private-key-file":               c.TLS("serving-kube-apiserver.key"),
		"service-cluster-ip-range":           c.ServiceCIDR.String(),
		"service-account-issuer":             issuer,
		"api-audiences":                      issuer,
		"service-account-key-file":           c.TLS("service.key.pub"),
		"service-account-signing-key-file":   c.TLS("service.key"),
		"authorization-mode":                 "Node,RBAC",
		"authentication-config":              authenticationConfigPath(c),
		"enable-admission-plugins":           "NodeRestriction",
		"encryption-provider-config":         c.EncryptionConfig(),
		"requestheader-client-ca-file":       c.TLS("request-header-ca.crt"),
		"requestheader-allowed-names":        "system:auth-proxy",
		"requestheader-username-headers":     "X-Remote-User",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"proxy-client-cert-file":             c.TLS("client-auth-proxy.crt"),
		"proxy-client-key-file":              c.TLS("client-auth-proxy.key"),
		"kubelet-client-certificate":         c.TLS("client-kube-apiserver.crt"),
		"kubelet-client-key":                 c.TLS("client-kube-apiserver.key"),
		"kubelet-certificate-authority":      c.TLS("server-ca.crt"),
		"kubelet-preferred-address-types":    "InternalIP,Hostname",
		"allow-privileged":                   "true",
		"profiling":                          "false",
		"anonymous-auth":                     "",
		"storage-backend":                    "etcd3",
		"enable-priority-and-fairness":       "false",
		"event-ttl":                          "1h",
		"endpoint-reconciler-type":           "lease",
		"service-node-port-range":            "30000-32767",
		"egress-selector-config-file":        "",
		"permit-port-sharing":                "false",
	})
}

// ControllerManagerArgs is kube-controller-manager's argv.
func ControllerManagerArgs(c *config.Config) []string {
	kc := c.Cred("controller")
	return withExtra(c, ControllerManager, map[string]string{
		"kubeconfig":                       kc,
		"authentication-kubeconfig":        kc,
		"authorization-kubeconfig":         kc,
		"bind-address":                     "127.0.0.1",
		"secure-port":                      "10257",
		"allocate-node-cidrs":              "true",
		"cluster-cidr":                     c.ClusterCIDR.String(),
		"service-cluster-ip-range":         c.ServiceCIDR.String(),
		"node-cidr-mask-size":              "24",
		"cluster-signing-cert-file":        c.TLS("client-ca.crt"),
		"cluster-signing-key-file":         c.TLS("client-ca.key"),
		"root-ca-file":                     c.TLS("server-ca.crt"),
		"service-account-private-key-file": c.TLS("service.key"),
		"use-service-account-credentials":  "true",
		"leader-elect":                     "false",
		"profiling":                        "false",
		"controllers":                      "*,tokencleaner",
	})
}

// SchedulerArgs is kube-scheduler's argv.
func SchedulerArgs(c *config.Config) []string {
	kc := c.Cred("scheduler")
	return withExtra(c, Scheduler, map[string]string{
		"kubeconfig":                kc,
		"authentication-kubeconfig": kc,
		"authorization-kubeconfig":  kc,
		"bind-address":              "127.0.0.1",
		"secure-port":               "10259",
		"leader-elect":              "false",
		"profiling":                 "false",
	})
}

// withExtra is config.Flags with the component's --<component>-arg values.
func withExtra(c *config.Config, component string, flags map[string]string) []string {
	return config.Flags(flags, c.ExtraArgs[component])
}

func authenticationConfigPath(c *config.Config) string {
	return c.CredDir() + "/authentication-config.yaml"
}

// authenticationConfig lets anonymous requests reach the health endpoints
// and nothing else.
const authenticationConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
anonymous:
  enabled: true
  conditions:
  - path: /livez
  - path: /readyz
  - path: /healthz
`

// WriteConfigFiles writes the apiserver's authentication configuration and,
// on first start only, the secrets encryption configuration with a new
// AES-GCM key (0600). A later start keeps the key: the secrets in etcd are
// encrypted with it.
func WriteConfigFiles(c *config.Config) error {
	if err := pki.WriteFile(authenticationConfigPath(c), []byte(authenticationConfig), 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(c.EncryptionConfig()); err == nil {
		return nil
	} else if !os.IsNotExist(err) {
		return errors.WithStack(err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return errors.Wrap(err, "encryption key")
	}
	cfg := fmt.Sprintf(`{"kind":"EncryptionConfiguration","apiVersion":"apiserver.config.k8s.io/v1","resources":[{"resources":["secrets"],"providers":[{"aesgcm":{"keys":[{"name":"dcp-1","secret":%q}]}},{"identity":{}}]}]}`+"\n", base64.StdEncoding.EncodeToString(key))
	return pki.WriteFile(c.EncryptionConfig(), []byte(cfg), 0o600)
}
