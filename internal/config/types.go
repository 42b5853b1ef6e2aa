package config

// Config is the whole Bhojpur OS config. The yaml names are the canonical
// snake_case spellings; `alias` lists other accepted spellings (singular and
// plural); `doc` feeds the JSON Schema; `secret` marks values no message
// shows (of a map: its values; its keys are names).
type Config struct {
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys,omitempty" json:"ssh_authorized_keys,omitempty" alias:"ssh_authorized_key" doc:"SSH public keys for the bhojpur user, or github:USER, gitlab:USER, https:// references fetched at runtime."`
	WriteFiles        []File   `yaml:"write_files,omitempty" json:"write_files,omitempty" alias:"write_file" doc:"Files to write on each boot."`
	Hostname          string   `yaml:"hostname,omitempty" json:"hostname,omitempty" doc:"The system hostname."`
	InitCmd           []string `yaml:"init_cmd,omitempty" json:"init_cmd,omitempty" alias:"init_cmds" doc:"Commands run in the initrd phase, after write_files."`
	BootCmd           []string `yaml:"boot_cmd,omitempty" json:"boot_cmd,omitempty" alias:"boot_cmds" doc:"Commands run in the boot phase, after write_files."`
	RunCmd            []string `yaml:"run_cmd,omitempty" json:"run_cmd,omitempty" alias:"run_cmds" doc:"Commands run in the runtime phase, after write_files."`
	Bos               Bos      `yaml:"bos,omitempty" json:"bos,omitempty" doc:"Bhojpur OS settings."`
}

// File is one write_files entry.
type File struct {
	Encoding    string `yaml:"encoding,omitempty" json:"encoding,omitempty" doc:"Content encoding: empty, b64, base64, gz, gzip, gz+b64, gz+base64, gzip+b64, gzip+base64."`
	Content     string `yaml:"content,omitempty" json:"content,omitempty" doc:"File content, encoded as encoding says."`
	Owner       string `yaml:"owner,omitempty" json:"owner,omitempty" doc:"Owner as user or user:group (names or numbers); default root:root."`
	Path        string `yaml:"path,omitempty" json:"path,omitempty" doc:"Absolute path of the file."`
	Permissions string `yaml:"permissions,omitempty" json:"permissions,omitempty" doc:"Octal mode, for example '0644'; default 0644."`
}

// Bos holds the keys under bos:.
type Bos struct {
	DataSources    []string          `yaml:"data_sources,omitempty" json:"data_sources,omitempty" alias:"data_source" doc:"Cloud data sources to probe in order at runtime."`
	Modules        []string          `yaml:"modules,omitempty" json:"modules,omitempty" alias:"module" doc:"Kernel modules to load, each 'name [param=value ...]'."`
	Sysctls        map[string]string `yaml:"sysctls,omitempty" json:"sysctls,omitempty" alias:"sysctl" doc:"Kernel sysctls, as string values."`
	NTPServers     []string          `yaml:"ntp_servers,omitempty" json:"ntp_servers,omitempty" alias:"ntp_server" doc:"Fallback NTP servers."`
	DNSNameservers []string          `yaml:"dns_nameservers,omitempty" json:"dns_nameservers,omitempty" alias:"dns_nameserver" doc:"Fallback DNS name servers (IP addresses)."`
	Wifi           []Wifi            `yaml:"wifi,omitempty" json:"wifi,omitempty" alias:"wifis" doc:"Wifi networks."`
	Password       string            `yaml:"password,omitempty" json:"password,omitempty" doc:"Password of the bhojpur user: clear text or a crypt hash." secret:"true"`
	ServerURL      string            `yaml:"server_url,omitempty" json:"server_url,omitempty" doc:"URL of the DCP server to join as an agent."`
	Token          string            `yaml:"token,omitempty" json:"token,omitempty" doc:"Cluster secret or node token (K10...::node:...)." secret:"true"`
	Labels         map[string]string `yaml:"labels,omitempty" json:"labels,omitempty" alias:"label" doc:"Kubernetes labels of the node at registration."`
	DCPArgs        []string          `yaml:"dcp_args,omitempty" json:"dcp_args,omitempty" alias:"dcp_arg" merge:"replace" doc:"Exec-style DCP arguments, starting with server or agent." secret:"true"`
	Environment    map[string]string `yaml:"environment,omitempty" json:"environment,omitempty" doc:"Environment of DCP and of the boot commands." secret:"true"`
	Taints         []string          `yaml:"taints,omitempty" json:"taints,omitempty" alias:"taint" doc:"Kubernetes taints key=value:Effect at registration."`
	Install        Install           `yaml:"install,omitempty" json:"install,omitempty" doc:"Settings of the installer."`
	Mode           string            `yaml:"mode,omitempty" json:"mode,omitempty" doc:"Force a boot mode: live, install, disk, local or shell."`
	FallbackMode   string            `yaml:"fallback_mode,omitempty" json:"fallback_mode,omitempty" doc:"Mode used when no valid BOS_STATE is found: install."`
	Debug          bool              `yaml:"debug,omitempty" json:"debug,omitempty" doc:"Verbose boot logs with timings."`
}

// Wifi is one wifi network.
type Wifi struct {
	Name       string `yaml:"name,omitempty" json:"name,omitempty" doc:"SSID."`
	Passphrase string `yaml:"passphrase,omitempty" json:"passphrase,omitempty" doc:"WPA passphrase (8 to 63 characters, or 64 hex digits); empty for an open network." secret:"true"`
}

// Install holds the bos.install keys.
type Install struct {
	ForceEFI  bool   `yaml:"force_efi,omitempty" json:"force_efi,omitempty" alias:"efi" doc:"Install for EFI even when EFI is not detected."`
	Device    string `yaml:"device,omitempty" json:"device,omitempty" doc:"Device to partition and format, for example /dev/vda."`
	ConfigURL string `yaml:"config_url,omitempty" json:"config_url,omitempty" doc:"URL or path of the config installed as /bhojpur/system/config.yaml."`
	Silent    bool   `yaml:"silent,omitempty" json:"silent,omitempty" doc:"Ask no questions."`
	ISOURL    string `yaml:"iso_url,omitempty" json:"iso_url,omitempty" doc:"ISO to install from when not booted from the ISO."`
	NoFormat  bool   `yaml:"no_format,omitempty" json:"no_format,omitempty" doc:"Do not partition and format; the layout exists already."`
	TTY       string `yaml:"tty,omitempty" json:"tty,omitempty" doc:"Console TTY of the installed system, for example ttyS0."`
	Debug     bool   `yaml:"debug,omitempty" json:"debug,omitempty" doc:"More logging during install and bos.debug on the installed system."`
	PowerOff  bool   `yaml:"power_off,omitempty" json:"power_off,omitempty" alias:"poweroff" doc:"Power off after installing instead of rebooting."`
}
