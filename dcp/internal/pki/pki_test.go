package pki

import (
	"crypto"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestCAIsCreatedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir, "ca", "test-ca", now.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(again.PEM) != string(ca.PEM) {
		t.Error("a second start made a new CA; want the first one reused")
	}
	if fi, _ := os.Stat(filepath.Join(dir, "ca.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v, want 0600", fi.Mode().Perm())
	}
	if err := os.Remove(filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir, "ca", "test-ca", now); err == nil || !strings.Contains(err.Error(), "only one of them exists") {
		t.Errorf("CA without its key: %v, want a refusal to replace it", err)
	}
}

func TestLeafReuseAndRenewal(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	leaf := Leaf{CN: "kube-apiserver", DNS: []string{"kubernetes"}, IPs: []net.IP{net.IPv4(10, 43, 0, 1)}, Usage: Server}
	for _, tc := range []struct {
		name    string
		leaf    Leaf
		at      time.Time
		wantNew bool
	}{
		{"first start", leaf, now, true},
		{"restart", leaf, now.Add(time.Hour), false},
		{"a new address", Leaf{CN: leaf.CN, DNS: leaf.DNS, IPs: append(leaf.IPs, net.IPv4(192, 168, 1, 5)), Usage: Server}, now.Add(2 * time.Hour), true},
		{"close to expiry", Leaf{CN: leaf.CN, DNS: leaf.DNS, IPs: append(leaf.IPs, net.IPv4(192, 168, 1, 5)), Usage: Server}, now.Add(LeafLifetime - RenewBefore + 3*time.Hour), true},
	} {
		issued, err := ca.Ensure(dir, "serving", tc.leaf, tc.at)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if issued != tc.wantNew {
			t.Errorf("%s: Ensure issued a new certificate = %v, want %v", tc.name, issued, tc.wantNew)
		}
	}
	crt, _, err := readPair(filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := crt.Verify(x509.VerifyOptions{Roots: pool, DNSName: "kubernetes", CurrentTime: now.Add(LeafLifetime - RenewBefore + 4*time.Hour)}); err != nil {
		t.Errorf("the renewed serving certificate does not verify for kubernetes: %v", err)
	}
}

func TestLeafOfAnotherCAIsReplaced(t *testing.T) {
	dir := t.TempDir()
	a, _ := LoadOrCreateCA(dir, "a", "a", now)
	b, _ := LoadOrCreateCA(dir, "b", "b", now)
	l := Leaf{CN: "x", Usage: Client}
	if _, err := a.Ensure(dir, "leaf", l, now); err != nil {
		t.Fatal(err)
	}
	if issued, err := b.Ensure(dir, "leaf", l, now); err != nil || !issued {
		t.Errorf("Ensure by another CA = %v, %v; want a new certificate", issued, err)
	}
}

func TestEnsureKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "service.key")
	if err := EnsureKey(p); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(p)
	if err := EnsureKey(p); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(p)
	if string(first) != string(second) {
		t.Error("EnsureKey replaced an existing key")
	}
	if _, err := os.Stat(p + ".pub"); err != nil {
		t.Errorf("public key: %v", err)
	}
}

func TestSignIssuesForAGivenKey(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "ca", "test-ca", now)
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	crtPEM, err := ca.Sign(key.Public(), Leaf{CN: "system:node:a", Orgs: []string{"system:nodes"}, Usage: Client}, now)
	if err != nil {
		t.Fatal(err)
	}
	crt, err := ParseCertPEM(crtPEM)
	if err != nil {
		t.Fatal(err)
	}
	if crt.Subject.CommonName != "system:node:a" || len(crt.Subject.Organization) != 1 || crt.Subject.Organization[0] != "system:nodes" {
		t.Errorf("subject %v, want CN system:node:a O system:nodes", crt.Subject)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := crt.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("a client certificate of Sign does not verify for client auth: %v", err)
	}
	if _, err := crt.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("a client certificate of Sign verifies for server auth")
	}
	// KeyPEM writes what the key files hold: readKey takes it back.
	b, err := KeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "k.key")
	if err := WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := readKey(p)
	if err != nil || !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(crt.PublicKey) {
		t.Errorf("the key back from KeyPEM: %v, want the certificate's key", err)
	}
	if _, err := ParseCertPEM([]byte("not PEM")); err == nil {
		t.Error("ParseCertPEM(not PEM) = nil error")
	}
}
