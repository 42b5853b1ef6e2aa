package token

import (
	"strings"
	"testing"

	"github.com/pkg/errors"
)

var hash = CAHash([]byte("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"))

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Token
		wantErr bool
	}{
		{in: "K10" + hash + "::server:s3cret", want: Token{CAHash: hash, User: "server", Secret: "s3cret"}},
		{in: "K10" + strings.ToUpper(hash) + "::node:x", want: Token{CAHash: hash, User: "node", Secret: "x"}},
		{in: "mysecret", want: Token{Secret: "mysecret"}},
		{in: "K10notahash::server:s", wantErr: true},
		{in: "K10" + hash + "::server", wantErr: true},
		{in: "K10" + hash + "::server:", wantErr: true},
		{in: "K10" + hash + ":::s", wantErr: true},
		{in: "K10" + hash[:63] + "g::server:s", wantErr: true},
		{in: "K10" + hash + "::server:a b", wantErr: true},
		{in: "", wantErr: true},
		{in: "two words", wantErr: true},
	} {
		got, err := Parse(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in && got.IsNodeToken() && !strings.EqualFold(got.String(), tc.in) {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
	if _, err := Parse("K10" + hash + "::server"); !errors.Is(err, ErrFormat) {
		t.Errorf("a malformed node token: %v, want ErrFormat", err)
	}
}

func TestVerifyCA(t *testing.T) {
	ca := []byte("the CA")
	tok := Token{CAHash: CAHash(ca), User: "server", Secret: "s"}
	if err := tok.VerifyCA(ca); err != nil {
		t.Errorf("VerifyCA(the pinned CA) = %v", err)
	}
	err := tok.VerifyCA([]byte("another CA"))
	if err == nil || !strings.Contains(err.Error(), "wrong server or wrong token") {
		t.Errorf("VerifyCA(another CA) = %v, want a mismatch", err)
	}
	if err := (Token{Secret: "s"}).VerifyCA([]byte("anything")); err != nil {
		t.Errorf("a cluster secret pins nothing: %v", err)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if len(a) != 32 || a == b {
		t.Errorf("NewSecret() = %q, %q: want 32 random hex digits", a, b)
	}
}

func TestNewJoinToken(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
	a, err := NewJoinToken(ca)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewJoinToken(ca)
	if a.User == b.User || a.Secret == b.Secret {
		t.Errorf("two join tokens share an ID or a secret: %s, %s", a, b)
	}
	if !IsJoinTokenID(a.User) || len(a.Secret) != 16 || a.VerifyCA(ca) != nil {
		t.Errorf("join token %s: want a 6-character ID, 16 characters of secret and the CA's hash", a)
	}
	// It is a node token: what an agent is given parses back.
	got, err := ParseNode(a.String())
	if err != nil || got != a {
		t.Errorf("ParseNode(%s) = %+v, %v", a, got, err)
	}
	for _, id := range []string{"server", "node", "ABCDEF", "abc.de", "abcdefg", ""} {
		if IsJoinTokenID(id) {
			t.Errorf("IsJoinTokenID(%q) = true", id)
		}
	}
}
