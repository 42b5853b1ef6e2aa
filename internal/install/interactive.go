package install

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pkg/errors"
	"gopkg.in/yaml.v3"

	"github.com/bhojpur/os/internal/account"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/exitcode"
)

// AnswersRef names the config made from the interactive answers.
const AnswersRef = "answers"

// ask prints a question and reads one line; the end of input is bad input
// (nobody is there to answer).
func (in *Installer) ask(q string) (string, error) {
	fmt.Fprint(in.Stdout, q)
	line, err := in.readLine()
	if err != nil {
		fmt.Fprintln(in.Stdout)
		return "", noAnswer(q)
	}
	return strings.TrimSpace(line), nil
}

// readLine reads one line of Stdin; a last line without a newline counts.
func (in *Installer) readLine() (string, error) {
	if in.in == nil {
		in.in = bufio.NewReader(in.Stdin)
	}
	line, err := in.in.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", err
	}
	return line, nil
}

func noAnswer(q string) error {
	return errors.Wrapf(exitcode.ErrBadInput, "no answer to %q (end of input)", strings.TrimSpace(q))
}

// askSecret asks through ReadSecret, which does not show the answer; the
// newline typed after it is not shown either, so one is printed.
func (in *Installer) askSecret(q string) (string, error) {
	if in.ReadSecret == nil {
		return in.ask(q)
	}
	fmt.Fprint(in.Stdout, q)
	a, err := in.ReadSecret()
	fmt.Fprintln(in.Stdout)
	if err != nil {
		return "", noAnswer(q)
	}
	return strings.TrimSpace(a), nil
}

func (in *Installer) confirm(q string) (bool, error) {
	a, err := in.ask(q + " [y/N]: ")
	if err != nil {
		return false, err
	}
	a = strings.ToLower(a)
	return a == "y" || a == "yes", nil
}

// pickDisk lists the disks and asks which one; the only disk is taken
// without asking.
func (in *Installer) pickDisk() (string, error) {
	disks, err := in.Probe().Disks()
	if err != nil {
		return "", err
	}
	describe := func(d Device) string {
		s := d.Arg + "  " + Size(d.Size)
		if d.Model != "" {
			s += "  " + d.Model
		}
		return s
	}
	switch len(disks) {
	case 0:
		return "", bad("no disk to install to was found (the disks in use by the running system are not offered)")
	case 1:
		fmt.Fprintf(in.Stdout, "Installing to the only disk: %s\n", describe(disks[0]))
		return disks[0].Arg, nil
	}
	fmt.Fprintln(in.Stdout, "Disks:")
	tw := tabwriter.NewWriter(in.Stdout, 0, 4, 2, ' ', 0)
	for i, d := range disks {
		fmt.Fprintf(tw, "  %d)\t%s\t%s\t%s\n", i+1, d.Arg, Size(d.Size), d.Model)
	}
	tw.Flush()
	for {
		a, err := in.ask(fmt.Sprintf("Disk to install to [1-%d]: ", len(disks)))
		if err != nil {
			return "", err
		}
		if n, err := strconv.Atoi(a); err == nil && n >= 1 && n <= len(disks) {
			return disks[n-1].Arg, nil
		}
		for _, d := range disks {
			if a == d.Arg || a == d.Name {
				return d.Arg, nil
			}
		}
		fmt.Fprintf(in.Stdout, "%q is not one of the disks above.\n", a)
	}
}

// askConfig asks for a config URL, or builds a config from a few answers.
// What it returns has validated.
func (in *Installer) askConfig(ctx context.Context) (*ConfigFile, error) {
	for {
		ref, err := in.ask("Config URL or path (leave empty to answer a few questions instead): ")
		if err != nil {
			return nil, err
		}
		if ref == "" {
			break
		}
		cfg, err := in.LoadConfig(ctx, ref)
		if err == nil {
			return cfg, nil
		}
		fmt.Fprintf(in.Stdout, "%v\n", err)
	}
	for {
		c, err := in.askQuestions()
		if err != nil {
			return nil, err
		}
		data, err := yaml.Marshal(c)
		if err != nil {
			return nil, errors.Wrap(err, "config from the answers")
		}
		data = append([]byte("# Written by bos-install from the answers to its questions.\n"), data...)
		cfg, err := CheckConfig(AnswersRef, data)
		if err == nil {
			return cfg, nil
		}
		fmt.Fprintf(in.Stdout, "%v\nLet us try again.\n", err)
	}
}

func (in *Installer) askQuestions() (*config.Config, error) {
	c := &config.Config{}
	users, err := in.ask("GitHub users whose SSH keys may log in as bhojpur (space separated, empty for none): ")
	if err != nil {
		return nil, err
	}
	for _, u := range strings.Fields(users) {
		c.SSHAuthorizedKeys = append(c.SSHAuthorizedKeys, "github:"+strings.TrimPrefix(u, "github:"))
	}
	for {
		pw, err := in.askSecret("Password for bhojpur (empty for none): ")
		if err != nil {
			return nil, err
		}
		if pw == "" {
			break
		}
		again, err := in.askSecret("The password again: ")
		if err != nil {
			return nil, err
		}
		if again != pw {
			fmt.Fprintln(in.Stdout, "The passwords differ.")
			continue
		}
		salt, err := account.NewSalt()
		if err == nil {
			pw, err = account.HashSHA512(pw, salt)
		}
		if err != nil {
			return nil, errors.Wrap(err, "hash the password")
		}
		c.Bos.Password = pw
		break
	}
	if len(c.SSHAuthorizedKeys) == 0 && c.Bos.Password == "" {
		fmt.Fprintln(in.Stdout, "No SSH key and no password: only the console will let you in.")
	}
	wifi, err := in.confirm("Configure wifi?")
	if err != nil {
		return nil, err
	}
	if wifi {
		name, err := in.ask("Wifi network name (SSID): ")
		if err != nil {
			return nil, err
		}
		pass, err := in.askSecret("Wifi passphrase (empty for an open network): ")
		if err != nil {
			return nil, err
		}
		c.Bos.Wifi = []config.Wifi{{Name: name, Passphrase: pass}}
	}
	for {
		role, err := in.ask("Run a DCP server, or join a cluster as an agent? [server/agent] (server): ")
		if err != nil {
			return nil, err
		}
		switch strings.ToLower(role) {
		case "", "server", "s":
			token, err := in.askSecret("Cluster secret for other nodes to join with (empty for none): ")
			if err != nil {
				return nil, err
			}
			c.Bos.Token = token
			return c, nil
		case "agent", "a":
			url, err := in.ask("Server URL (https://HOST:6443): ")
			if err != nil {
				return nil, err
			}
			token, err := in.askSecret("Cluster secret or node token: ")
			if err != nil {
				return nil, err
			}
			c.Bos.ServerURL, c.Bos.Token = url, token
			return c, nil
		}
		fmt.Fprintf(in.Stdout, "Answer server or agent.\n")
	}
}
