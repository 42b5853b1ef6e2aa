// Package bootstrap keeps the join tokens of `dcp token create` as
// Kubernetes keeps bootstrap tokens: a Secret of type
// bootstrap.kubernetes.io/token named bootstrap-token-<id> in kube-system,
// with its ID, secret, description and expiration. kube-controller-manager's
// tokencleaner deletes a token once it has expired; `kubectl -n kube-system
// delete secret bootstrap-token-<id>` revokes one. A token made here is for
// the join only: it carries none of the usages that would let it
// authenticate to the apiserver.
package bootstrap

import (
	"context"
	"time"

	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"

	"github.com/bhojpur/os/dcp/internal/token"
)

// UsageJoin marks a bootstrap token Secret as a DCP join token.
const UsageJoin = "usage-dcp-join"

// Store is the join tokens of a cluster.
type Store struct {
	Client kubernetes.Interface
	Now    func() time.Time // nil: time.Now
}

func (s Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Create stores t (token.NewJoinToken's) as a join token that expires
// after ttl (0: never).
func (s Store) Create(ctx context.Context, t token.Token, ttl time.Duration, description string) error {
	if !token.IsJoinTokenID(t.User) {
		return errors.Errorf("join token ID %q: want six lower-case letters and digits", t.User)
	}
	if ttl < 0 {
		return errors.Errorf("--ttl %s: want 0 (never expires) or more", ttl)
	}
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:     []byte(t.User),
		bootstrapapi.BootstrapTokenSecretKey: []byte(t.Secret),
		UsageJoin:                            []byte("true"),
	}
	if description != "" {
		data[bootstrapapi.BootstrapTokenDescriptionKey] = []byte(description)
	}
	if ttl > 0 {
		data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(s.now().Add(ttl).UTC().Format(time.RFC3339))
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstraputil.BootstrapTokenSecretName(t.User), Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data:       data,
	}
	_, err := s.Client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, sec, metav1.CreateOptions{})
	return errors.Wrapf(err, "create the join token's Secret %s/%s", sec.Namespace, sec.Name)
}

// Secret returns the secret of the join token id, or "" when there is no
// such token, it is not a join token, or it has expired (the join package's
// join.Tokens).
func (s Store) Secret(ctx context.Context, id string) (string, error) {
	sec, err := s.Client.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, bootstraputil.BootstrapTokenSecretName(id), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", errors.WithStack(err)
	}
	d := func(k string) string { return string(sec.Data[k]) }
	if sec.Type != bootstrapapi.SecretTypeBootstrapToken || d(bootstrapapi.BootstrapTokenIDKey) != id || d(UsageJoin) != "true" {
		return "", nil
	}
	if exp := d(bootstrapapi.BootstrapTokenExpirationKey); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil || !s.now().Before(t) {
			return "", nil
		}
	}
	return d(bootstrapapi.BootstrapTokenSecretKey), nil
}
