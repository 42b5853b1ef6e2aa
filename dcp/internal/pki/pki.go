// Package pki creates the cluster's certificate authorities, certificates
// and keys on first start and reuses them afterwards. A CA is never
// replaced once it exists (every node's token pins it); a leaf certificate
// is issued again when it is missing, expires within RenewBefore, no longer
// matches its key or CA, or lacks a name or address it must now carry.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pkg/errors"
)

// Lifetimes.
const (
	CALifetime   = 10 * 365 * 24 * time.Hour
	LeafLifetime = 365 * 24 * time.Hour
	RenewBefore  = 90 * 24 * time.Hour
)

// Usage says what a leaf certificate is for.
type Usage int

// Usages.
const (
	Client Usage = 1 << iota
	Server
)

// Authority is a CA with its key.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte // the certificate as written to disk
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CN    string
	Orgs  []string
	DNS   []string
	IPs   []net.IP
	Usage Usage
}

// LoadOrCreateCA reads dir/name.crt and dir/name.key, or creates a new CA
// there when neither exists. One without the other is an error: a half
// written CA is never silently replaced.
func LoadOrCreateCA(dir, name, cn string, now time.Time) (*Authority, error) {
	crtPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	crt, key, err := readPair(crtPath, keyPath)
	switch {
	case err == nil:
		if !crt.IsCA {
			return nil, errors.Errorf("%s: not a CA certificate", crtPath)
		}
		pemBytes, _ := os.ReadFile(crtPath)
		return &Authority{Cert: crt, Key: key, PEM: pemBytes}, nil
	case !os.IsNotExist(errors.Cause(err)):
		return nil, err
	}
	if exists(crtPath) || exists(keyPath) {
		return nil, errors.Errorf("%s and %s: only one of them exists; restore the other or remove both to create a new CA (every node token pins the old one)", crtPath, keyPath)
	}
	key, err = NewKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, errors.Wrapf(err, "create CA %s", cn)
	}
	crt, _ = x509.ParseCertificate(der)
	if err := writePair(crtPath, keyPath, der, key); err != nil {
		return nil, err
	}
	pemBytes, err := os.ReadFile(crtPath)
	if err != nil {
		return nil, errors.Wrap(err, "read back the CA")
	}
	return &Authority{Cert: crt, Key: key, PEM: pemBytes}, nil
}

// Ensure makes dir/name.crt and dir/name.key a certificate for l signed by
// ca, reusing the existing pair when it is still good. It reports whether it
// issued a new certificate.
func (ca *Authority) Ensure(dir, name string, l Leaf, now time.Time) (bool, error) {
	crtPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	crt, key, err := readPair(crtPath, keyPath)
	if err == nil && ca.covers(crt, key, l, now) {
		return false, nil
	}
	if key == nil {
		if key, err = NewKey(); err != nil {
			return false, err
		}
	}
	crtPEM, err := ca.Sign(key.Public(), l, now)
	if err != nil {
		return false, errors.Wrapf(err, "issue %s", name)
	}
	if err := writeKey(keyPath, key); err != nil {
		return false, err
	}
	return true, WriteFile(crtPath, crtPEM, 0o644)
}

// Sign issues a certificate of ca for l to the holder of pub, valid from
// an hour before now for LeafLifetime, and returns it PEM encoded. Every
// name in it is l's: the caller decides them, whatever a request asked for.
func (ca *Authority) Sign(pub crypto.PublicKey, l Leaf, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: l.CN, Organization: l.Orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(LeafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     l.DNS,
		IPAddresses:  l.IPs,
	}
	if l.Usage&Client != 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if l.Usage&Server != 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, errors.Wrapf(err, "sign a certificate for %s", l.CN)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// covers reports whether crt (with key) is a current certificate of ca that
// carries everything l asks for.
func (ca *Authority) covers(crt *x509.Certificate, key crypto.Signer, l Leaf, now time.Time) bool {
	if crt.CheckSignatureFrom(ca.Cert) != nil || now.Add(RenewBefore).After(crt.NotAfter) {
		return false
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(crt.PublicKey) {
		return false
	}
	if crt.Subject.CommonName != l.CN || !slices.Equal(crt.Subject.Organization, l.Orgs) {
		return false
	}
	for _, d := range l.DNS {
		if !slices.Contains(crt.DNSNames, d) {
			return false
		}
	}
	for _, ip := range l.IPs {
		if !slices.ContainsFunc(crt.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// EnsureKey makes path a PEM ECDSA private key (the service-account signing
// key), creating it when missing. The public half goes to path with .pub.
func EnsureKey(path string) error {
	if _, err := readKey(path); err == nil {
		return nil
	} else if !os.IsNotExist(errors.Cause(err)) {
		return err
	}
	key, err := NewKey()
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return errors.Wrap(err, "marshal public key")
	}
	if err := WriteFile(path+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}
	return writeKey(path, key)
}

// CertPool returns a pool with the CAs in pemBytes.
func CertPool(pemBytes []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no certificate in the CA bundle")
	}
	return p, nil
}

func readPair(crtPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	b, err := os.ReadFile(crtPath)
	if err != nil {
		return nil, nil, errors.WithStack(err)
	}
	crt, err := ParseCertPEM(b)
	if err != nil {
		return nil, nil, errors.Wrapf(err, "%s", crtPath)
	}
	key, err := readKey(keyPath)
	if err != nil {
		return crt, nil, err
	}
	return crt, key, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.WithStack(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.Errorf("%s: no PEM key", path)
	}
	k, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.Wrapf(err, "%s", path)
	}
	return k, nil
}

// ParseCertPEM parses the first PEM certificate in b.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	crt, err := x509.ParseCertificate(blk.Bytes)
	return crt, errors.WithStack(err)
}

func writePair(crtPath, keyPath string, der []byte, key crypto.Signer) error {
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	return WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKey(path string, key crypto.Signer) error {
	b, err := KeyPEM(key)
	if err != nil {
		return err
	}
	return WriteFile(path, b, 0o600)
}

// KeyPEM encodes a key of NewKey as the PEM that the key files hold.
func KeyPEM(key crypto.Signer) ([]byte, error) {
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.Errorf("a %T key: want ECDSA", key)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, errors.Wrap(err, "marshal key")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// NewKey generates a private key of the kind every key here is (ECDSA P-256).
func NewKey() (crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return k, errors.Wrap(err, "generate key")
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// WriteFile writes data to path atomically (a fresh temp file in the same
// directory, synced, renamed, the directory synced), with mode perm, and
// creates the directory (0700) when missing. Unchanged content is left alone.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return nil
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errors.Wrapf(err, "create %s", dir)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return errors.Wrapf(err, "write %s", path)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return errors.Wrapf(err, "chmod %s", tmp)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return errors.Wrapf(err, "write %s", tmp)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return errors.Wrapf(err, "sync %s", tmp)
	}
	if err := f.Close(); err != nil {
		return errors.Wrapf(err, "close %s", tmp)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Wrapf(err, "rename %s", tmp)
	}
	d, err := os.Open(dir)
	if err != nil {
		return errors.WithStack(err)
	}
	defer d.Close()
	return errors.Wrapf(d.Sync(), "sync %s", dir)
}
