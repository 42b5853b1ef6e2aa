package account

import (
	"crypto/rand"
	"regexp"

	"github.com/go-crypt/crypt/algorithm/shacrypt"
	"github.com/pkg/errors"
)

// Rounds is the SHA-512 crypt cost used for clear-text passwords: glibc's
// default (what `openssl passwd -6` and `mkpasswd -m sha-512` write), so the
// hash is encoded without a rounds= parameter. /etc is ephemeral and the
// password is hashed again at every boot; who wants a higher cost sets
// bos.password to a ready-made hash (for example from mkpasswd -m yescrypt).
const Rounds = 5000

// cryptHash matches the crypt(3) formats shadow understands: $id$...
// (MD5 $1$, bcrypt $2a$/$2b$/$2y$, SHA-256 $5$, SHA-512 $6$, yescrypt $y$,
// gost-yescrypt $gy$, scrypt $7$, sunmd5 $md5...).
var cryptHash = regexp.MustCompile(`^\$(1|2[abxy]?|5|6|7|y|gy|md5|sha1)[$,][./0-9A-Za-z$,=]+$`)

// IsCryptHash tells a ready-made crypt hash from a clear-text password.
func IsCryptHash(s string) bool { return cryptHash.MatchString(s) }

const saltChars = shacrypt.SaltCharSet

// NewSalt returns a random 16-character crypt salt.
func NewSalt() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", errors.Wrap(err, "read random salt")
	}
	for i := range b {
		b[i] = saltChars[int(b[i])%len(saltChars)]
	}
	return string(b), nil
}

// HashSHA512 returns the SHA-512 crypt ($6$) hash of password with salt,
// the same string `openssl passwd -6 -salt SALT PASSWORD` prints.
func HashSHA512(password, salt string) (string, error) {
	h, err := shacrypt.New(shacrypt.WithSHA512(), shacrypt.WithIterations(Rounds))
	if err != nil {
		return "", errors.Wrap(err, "sha512 crypt")
	}
	d, err := h.HashWithSalt(password, []byte(salt))
	if err != nil {
		return "", errors.Wrap(err, "sha512 crypt")
	}
	return d.Encode(), nil
}

// MatchesSHA tells whether hash is a SHA-256 or SHA-512 crypt hash of
// password; any other format (or a broken hash) is reported as no match.
func MatchesSHA(hash, password string) bool {
	d, err := shacrypt.Decode(hash)
	if err != nil {
		return false
	}
	return d.Match(password)
}
