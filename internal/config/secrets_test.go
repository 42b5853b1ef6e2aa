package config

import (
	"strings"
	"testing"
)

// TestMessagesNeverShowASecret: a refused secret (password, passphrase,
// token, environment value, DCP argument, URL credentials) is named by its
// key, never shown.
func TestMessagesNeverShowASecret(t *testing.T) {
	l, err := LoadFile("c.yaml", strings.NewReader(`bos:
  password: 71234567
  token: 81234567
  wifi:
  - {name: a, passphrase: s3cr}
  - {name: b, passphrase: 91234567}
  - {name: c, passphrase: [p4ss]}
  environment: {A: "pr0xy\n"}
  dcp_args: ["--token=T0KEN"]
  server_url: "https://u:hunter2@bad host/"
  install: {config_url: "ftp://u:hunter3@h/c.yaml"}
ssh_authorized_keys: ["https://u:hunter4@"]
`))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ParseCmdline("cmdline", strings.NewReader(`bos.environment[HTTP_PROXY=http://u:hunter5@p bos.server_url=https://u:hunter6@`))
	if err != nil {
		t.Fatal(err)
	}
	msgs := l.Problems.Error() + "\n" + cl.Warnings.Error() + "\n" + cl.Problems.Error()
	for _, key := range []string{"bos.password", "bos.token", "bos.wifi[0].passphrase", "bos.wifi[1].passphrase", "bos.wifi[2].passphrase",
		"bos.environment[A]", "bos.dcp_args[0]", "bos.server_url", "bos.install.config_url", "ssh_authorized_keys[0]"} {
		if !strings.Contains(msgs, ": "+key+": ") {
			t.Errorf("no message names %s:\n%s", key, msgs)
		}
	}
	for _, secret := range []string{"71234567", "81234567", "s3cr", "91234567", "p4ss", "pr0xy", "T0KEN", "hunter"} {
		if strings.Contains(msgs, secret) {
			t.Errorf("a message shows the secret %q:\n%s", secret, msgs)
		}
	}
}
