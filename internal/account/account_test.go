package account

import (
	"os/exec"
	"strings"
	"testing"
)

func TestHashSHA512MatchesOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	for _, tc := range []struct{ password, salt string }{
		{"bhojpur", "saltsalt"},
		{"supersecure", "abcdefghijklmnop"},
		{"with spaces and ' \" $(quotes)", "x./Y9"},
	} {
		out, err := exec.Command(openssl, "passwd", "-6", "-salt", tc.salt, tc.password).Output()
		if err != nil {
			t.Fatalf("openssl passwd -6 -salt %s: %v", tc.salt, err)
		}
		want := strings.TrimSpace(string(out))
		got, err := HashSHA512(tc.password, tc.salt)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("HashSHA512(%q, %q) = %q, want (openssl) %q", tc.password, tc.salt, got, want)
		}
		if !MatchesSHA(got, tc.password) || MatchesSHA(got, tc.password+"x") {
			t.Errorf("MatchesSHA(%q) is wrong", got)
		}
	}
}

func TestIsCryptHash(t *testing.T) {
	for s, want := range map[string]bool{
		"$1$tYtghCfK$QHa51MS6MVAcfUKuOzNKt0": true,
		"$6$saltsalt$abcdefghijklmnopqrstuvwxyz0123456789./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456": true,
		"$5$rounds=10000$salt$hash": true,
		"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7": true,
		"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW":              true,
		"supersecure": false,
		"bhojpur":     false,
		"$notahash":   false,
		"$6$":         false,
		"":            false,
	} {
		if got := IsCryptHash(s); got != want {
			t.Errorf("IsCryptHash(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestSetShadowField(t *testing.T) {
	shadow := "root:*:19000:0:99999:7:::\nbhojpur:!:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"
	got := string(SetShadowField([]byte(shadow), "bhojpur", "$6$s$h"))
	want := "root:*:19000:0:99999:7:::\nbhojpur:$6$s$h:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"
	if got != want {
		t.Errorf("SetShadowField = %q, want %q", got, want)
	}
	got = string(SetShadowField([]byte("root:*:1::::::"), "bhojpur", "$6$s$h"))
	if want := "root:*:1::::::\nbhojpur:$6$s$h:::::::\n"; got != want {
		t.Errorf("SetShadowField(append) = %q, want %q", got, want)
	}
	if f, ok := ShadowField([]byte(want), "bhojpur"); !ok || f != "$6$s$h" {
		t.Errorf("ShadowField = %q, %v", f, ok)
	}
	for field, want := range map[string]bool{"*": true, "!": true, "!$6$x$y": true, "": false, "$6$x$y": false} {
		if Locked(field) != want {
			t.Errorf("Locked(%q) = %v, want %v", field, !want, want)
		}
	}
}

func TestResolveOwner(t *testing.T) {
	users := ParsePasswd([]byte("root:x:0:0:root:/root:/bin/sh\n# comment\nbhojpur:x:1000:1000::/home/bhojpur:/bin/sh\nbroken:x:zz:1::/:/bin/sh\n"))
	groups := ParseGroup([]byte("root:x:0:\nshadow:x:42:\nbhojpur:x:1000:\n"))
	for _, tc := range []struct {
		owner    string
		uid, gid int
		err      bool
	}{
		{"", 0, 0, false},
		{"root", 0, 0, false},
		{"bhojpur", 1000, 1000, false},
		{"bhojpur:shadow", 1000, 42, false},
		{"1000:42", 1000, 42, false},
		{"2000", 2000, 2000, false},
		{"root:7", 0, 7, false},
		{"nosuch", 0, 0, true},
		{"bhojpur:nosuch", 0, 0, true},
		{"broken", 0, 0, true},
	} {
		uid, gid, err := ResolveOwner(tc.owner, users, groups)
		if (err != nil) != tc.err || (!tc.err && (uid != tc.uid || gid != tc.gid)) {
			t.Errorf("ResolveOwner(%q) = %d, %d, %v; want %d, %d, error %v", tc.owner, uid, gid, err, tc.uid, tc.gid, tc.err)
		}
	}
}
