// Package kubeconfig writes the kubeconfig files of the components and of
// the cluster's users, with their client certificates embedded.
package kubeconfig

import (
	"os"

	"github.com/pkg/errors"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bhojpur/os/dcp/internal/pki"
)

// Write writes path: a kubeconfig for server (https URL) trusting the CA
// in caFile, authenticated by the certificate pair certFile/keyFile. The
// file is mode perm (0600 for anything with a key) and owned by uid:gid
// when uid >= 0.
func Write(path, server, caFile, certFile, keyFile string, perm os.FileMode, uid, gid int) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return errors.WithStack(err)
	}
	crt, err := os.ReadFile(certFile)
	if err != nil {
		return errors.WithStack(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return errors.WithStack(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return errors.Wrapf(err, "kubeconfig %s", path)
	}
	if err := pki.WriteFile(path, b, perm); err != nil {
		return err
	}
	if uid >= 0 {
		return errors.Wrapf(os.Chown(path, uid, gid), "chown %s", path)
	}
	return nil
}
