package bootstrap

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/bhojpur/os/dcp/internal/token"
)

func TestStore(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	cs := fake.NewClientset()
	s := Store{Client: cs, Now: func() time.Time { return now }}
	ca := []byte("ca")
	day, _ := token.NewJoinToken(ca)
	ever, _ := token.NewJoinToken(ca)
	if err := s.Create(ctx, day, 24*time.Hour, "for edge-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, ever, 0, ""); err != nil {
		t.Fatal(err)
	}
	sec, err := cs.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+day.User, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != "bootstrap.kubernetes.io/token" || string(sec.Data["expiration"]) != "2026-12-04T12:00:00Z" || string(sec.Data["description"]) != "for edge-1" {
		t.Errorf("the Secret is %s %q", sec.Type, sec.Data)
	}
	for k := range sec.Data {
		if k == "usage-bootstrap-authentication" || k == "usage-bootstrap-signing" {
			t.Errorf("a join token has %s", k)
		}
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		id   string
		want string
	}{
		{"a day's token", now, day.User, day.Secret},
		{"a day's token a second before it expires", now.Add(24*time.Hour - time.Second), day.User, day.Secret},
		{"a day's token when it expires", now.Add(24 * time.Hour), day.User, ""},
		{"a token that never expires, in a year", now.AddDate(1, 0, 0), ever.User, ever.Secret},
		{"an unknown ID", now, "zzz999", ""},
	} {
		s.Now = func() time.Time { return tc.at }
		if got, err := s.Secret(ctx, tc.id); err != nil || got != tc.want {
			t.Errorf("%s: Secret() = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	// Bootstrap tokens that are not join tokens are not taken.
	for name, sec := range map[string]*corev1.Secret{
		"no join usage": {Type: "bootstrap.kubernetes.io/token", Data: map[string][]byte{"token-id": []byte("aaa111"), "token-secret": []byte("x")}},
		"another type":  {Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"token-id": []byte("aaa111"), "token-secret": []byte("x"), UsageJoin: []byte("true")}},
		"another ID":    {Type: "bootstrap.kubernetes.io/token", Data: map[string][]byte{"token-id": []byte("bbb222"), "token-secret": []byte("x"), UsageJoin: []byte("true")}},
		"bad expiry":    {Type: "bootstrap.kubernetes.io/token", Data: map[string][]byte{"token-id": []byte("aaa111"), "token-secret": []byte("x"), UsageJoin: []byte("true"), "expiration": []byte("tomorrow")}},
	} {
		sec.Name, sec.Namespace = "bootstrap-token-aaa111", "kube-system"
		_ = cs.CoreV1().Secrets("kube-system").Delete(ctx, sec.Name, metav1.DeleteOptions{})
		if _, err := cs.CoreV1().Secrets("kube-system").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Secret(ctx, "aaa111"); err != nil || got != "" {
			t.Errorf("%s: Secret() = %q, %v; want none", name, got, err)
		}
	}
	if err := s.Create(ctx, token.Token{User: "server", Secret: "x"}, 0, ""); err == nil {
		t.Error("Create took the ID server")
	}
	if err := s.Create(ctx, day, -time.Second, ""); err == nil {
		t.Error("Create took a negative TTL")
	}
}
