// Package token reads and writes DCP join tokens. A node token is
// K10<sha256 of the server CA, hex>::<user>:<secret>: the hash pins the CA
// that a joining node must see before it trusts the server. Anything else
// given as a token is a cluster secret, which pins nothing.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"github.com/pkg/errors"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

// Prefix starts every node token.
const Prefix = "K10"

// ErrFormat is returned for a value that claims to be a node token (it
// starts with K10 and has "::") but is malformed.
var ErrFormat = errors.New("not a node token: want K10<64 hex digits of the CA's sha256>::<user>:<secret>")

// Token is a parsed node token.
type Token struct {
	CAHash string // 64 lower-case hex digits; "" for a cluster secret
	User   string
	Secret string
}

// String formats t as a node token, or returns the secret for a cluster secret.
func (t Token) String() string {
	if t.CAHash == "" {
		return t.Secret
	}
	return Prefix + t.CAHash + "::" + t.User + ":" + t.Secret
}

// IsNodeToken reports whether t pins a CA.
func (t Token) IsNodeToken() bool { return t.CAHash != "" }

// LooksLikeNodeToken reports whether s is meant as a node token: it starts
// with the prefix and has the "::" separator. Such a value that does not
// parse is an error, never silently taken as a cluster secret.
func LooksLikeNodeToken(s string) bool {
	return strings.HasPrefix(s, Prefix) && strings.Contains(s, "::")
}

// ParseNode parses a node token strictly.
func ParseNode(s string) (Token, error) {
	if !strings.HasPrefix(s, Prefix) {
		return Token{}, ErrFormat
	}
	hash, cred, ok := strings.Cut(s[len(Prefix):], "::")
	if !ok || len(hash) != 64 {
		return Token{}, ErrFormat
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return Token{}, ErrFormat
	}
	user, secret, ok := strings.Cut(cred, ":")
	if !ok || user == "" || secret == "" || strings.ContainsAny(cred, " \t\r\n") {
		return Token{}, ErrFormat
	}
	return Token{CAHash: strings.ToLower(hash), User: user, Secret: secret}, nil
}

// Parse takes a node token or a cluster secret. A value that looks like a
// node token must be a valid one.
func Parse(s string) (Token, error) {
	if s == "" {
		return Token{}, errors.New("empty token")
	}
	if LooksLikeNodeToken(s) {
		return ParseNode(s)
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Token{}, errors.New("a cluster secret may not contain white space")
	}
	return Token{Secret: s}, nil
}

// CAHash is the hash a node token carries for a CA bundle: the sha256 of
// the PEM bytes exactly as the server serves them.
func CAHash(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// VerifyCA checks that caPEM is the CA that t pins. A cluster secret pins
// nothing and always passes; the caller logs that.
func (t Token) VerifyCA(caPEM []byte) error {
	if !t.IsNodeToken() {
		return nil
	}
	got := CAHash(caPEM)
	if subtle.ConstantTimeCompare([]byte(got), []byte(t.CAHash)) != 1 {
		return errors.Errorf("the server's CA has sha256 %s, the token pins %s: wrong server or wrong token", got, t.CAHash)
	}
	return nil
}

// NewSecret returns a random secret of 32 hex digits.
func NewSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", errors.Wrap(err, "random secret")
	}
	return hex.EncodeToString(b), nil
}

// ServerUser is the user of the server's own node token (server/token).
const ServerUser = "server"

// IsJoinTokenID reports whether id is the form of a join token's ID (six
// lower-case letters and digits, and not ServerUser): `dcp token create`
// gives its tokens the bootstrap tokens' form, ID and secret, as
// Kubernetes stores them.
func IsJoinTokenID(id string) bool {
	return id != ServerUser && bootstraputil.IsValidBootstrapTokenID(id)
}

// NewJoinToken returns a new join token for the CA of caPEM: a node token
// whose user is a random ID (IsJoinTokenID) and whose secret is 16
// random lower-case letters and digits.
func NewJoinToken(caPEM []byte) (Token, error) {
	s, err := bootstraputil.GenerateBootstrapToken()
	if err != nil {
		return Token{}, errors.Wrap(err, "random join token")
	}
	id, secret, _ := strings.Cut(s, ".")
	if !IsJoinTokenID(id) {
		return NewJoinToken(caPEM) // "server": one in 36^6
	}
	return Token{CAHash: CAHash(caPEM), User: id, Secret: secret}, nil
}
