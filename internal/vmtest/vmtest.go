// Package vmtest is the one QEMU harness of every end-to-end test: it boots
// a VM under TCG (or KVM when a timed probe shows KVM works), captures the
// serial console to a file and to t.Logf, waits for markers on it, types
// on it, reaches the guest over SSH through a forwarded loopback port, and
// always cleans up: QEMU is killed by its process group and temporary files
// go with t.TempDir.
package vmtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Firmware a VM boots with.
type Firmware int

// BIOS boots with SeaBIOS on the pc machine; UEFI with OVMF on q35.
const (
	BIOS Firmware = iota
	UEFI
)

func (f Firmware) String() string {
	if f == UEFI {
		return "uefi"
	}
	return "bios"
}

// OVMF files (Debian's ovmf package).
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// Disk is a drive of the VM.
type Disk struct {
	Path     string
	Format   string // raw (default) or qcow2
	Snapshot bool   // writes go to a temporary overlay
}

// TB is what the harness needs of a test: *testing.T and *testing.B fit,
// and `make bench` passes its own.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
	Skipf(format string, args ...any)
	TempDir() string
	Cleanup(func())
	Failed() bool
}

// Options describe a VM.
type Options struct {
	Firmware Firmware
	Machine  string // QEMU machine type; default pc with BIOS, q35 with UEFI
	MemoryMB int    // default 1024
	CPUs     int    // default 1
	ISO      string
	Kernel   string // direct kernel boot
	Initrd   string
	Append   string
	Disks    []Disk
	SSH      bool          // forward a free 127.0.0.1 port to the guest's 22
	Timeout  time.Duration // the VM is killed after this; default 10 minutes
	Extra    []string      // more QEMU arguments
	// Name tells this VM from the test's others, in its console log's
	// name and its lines in the test log (default: the test's one VM).
	Name string
}

// VM is a running QEMU.
type VM struct {
	t        TB
	Name     string
	Dir      string // temporary directory of this VM
	SSHPort  int
	Console  *Console
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	exited   chan struct{}
	exitErr  error
	Started  time.Time
	killOnce sync.Once
}

// QEMU is the binary the harness runs.
const QEMU = "qemu-system-x86_64"

// Args returns the QEMU argv (without the binary) for opts.
func Args(opts Options, accel, dir string, sshPort int) ([]string, error) {
	mem := opts.MemoryMB
	if mem == 0 {
		mem = 1024
	}
	cpus := opts.CPUs
	if cpus == 0 {
		cpus = 1
	}
	// virtio-rng: like most hypervisors' defaults, the guest gets entropy
	// from the host; under TCG its CRNG would otherwise take seconds to
	// initialise and every program reading random numbers would wait.
	args := []string{"-accel", accel, "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nographic", "-no-reboot", "-serial", "mon:stdio", "-device", "virtio-rng-pci"}
	machine := opts.Machine
	if machine == "" {
		machine = map[Firmware]string{BIOS: "pc", UEFI: "q35"}[opts.Firmware]
	}
	args = append(args, "-machine", machine)
	if opts.Firmware == UEFI {
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		if err := copyFile(OVMFVars, vars); err != nil {
			return nil, err
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	}
	if opts.ISO != "" {
		// index=2 is the machine's default CD-ROM drive (what -cdrom
		// fills): one drive holding the ISO. Without it QEMU added an empty
		// second drive, which the guest probed at every boot (0.5 s).
		args = append(args, "-drive", "file="+opts.ISO+",index=2,media=cdrom,readonly=on")
	}
	for i, d := range opts.Disks {
		f := d.Format
		if f == "" {
			f = "raw"
		}
		spec := fmt.Sprintf("file=%s,format=%s,if=virtio,index=%d", d.Path, f, i)
		if d.Snapshot {
			spec += ",snapshot=on"
		}
		args = append(args, "-drive", spec)
	}
	if opts.Kernel != "" {
		args = append(args, "-kernel", opts.Kernel)
		if opts.Initrd != "" {
			args = append(args, "-initrd", opts.Initrd)
		}
		if opts.Append != "" {
			args = append(args, "-append", opts.Append)
		}
	} else if opts.ISO != "" {
		args = append(args, "-boot", "order=dc")
	}
	if opts.SSH {
		args = append(args, "-nic", fmt.Sprintf("user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:%d-:22", sshPort))
	} else {
		args = append(args, "-nic", "none")
	}
	return append(args, opts.Extra...), nil
}

// Start boots a VM; t.Cleanup kills it and removes its files.
func Start(t TB, opts Options) *VM {
	t.Helper()
	if _, err := exec.LookPath(QEMU); err != nil {
		t.Fatalf("%s not installed (make deps): %v", QEMU, err)
	}
	vm := &VM{t: t, Name: strings.ReplaceAll(t.Name(), "/", "_"), Dir: t.TempDir(), exited: make(chan struct{})}
	if opts.Name != "" {
		vm.Name += "_" + opts.Name
	}
	if opts.SSH {
		vm.SSHPort = FreePort(t)
	}
	args, err := Args(opts, Accel(), vm.Dir, vm.SSHPort)
	if err != nil {
		t.Fatal(err)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	// timeout(1) is the backstop if this test process dies: it kills QEMU.
	argv := append([]string{"-s", "KILL", strconv.Itoa(int(timeout.Seconds())), QEMU}, args...)
	vm.cmd = exec.Command("timeout", argv...)
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logPath := filepath.Join(ArtifactLogDir(), vm.Name+".console.log")
	vm.Console = newConsole(t, logPath)
	if opts.Name != "" {
		vm.Console.label = "console " + opts.Name
	}
	vm.cmd.Stdout, vm.cmd.Stderr = vm.Console, vm.Console
	if vm.stdin, err = vm.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	t.Logf("vmtest: %s %s", QEMU, strings.Join(args, " "))
	t.Logf("vmtest: console log %s", logPath)
	runtime.LockOSThread() // Pdeathsig follows the thread that started QEMU
	err = vm.cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("start %s: %v", QEMU, err)
	}
	vm.Started = time.Now()
	go func() {
		vm.exitErr = vm.cmd.Wait()
		close(vm.exited)
	}()
	t.Cleanup(vm.Kill)
	return vm
}

// Kill stops QEMU (its own process group: timeout and QEMU, nothing
// else) and waits for it.
func (vm *VM) Kill() {
	vm.killOnce.Do(func() {
		if vm.cmd.Process != nil {
			pgid := vm.cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-vm.exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-vm.exited
			}
		}
		vm.Console.close()
	})
}

// Exited is closed when QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// WaitExit waits for QEMU to exit by itself (the guest powered off).
func (vm *VM) WaitExit(timeout time.Duration) error {
	select {
	case <-vm.exited:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", vm.Name, timeout)
	}
}

// WaitFor waits until marker appears on the console, failing the test
// with the console's tail when it does not within timeout or QEMU exits.
func (vm *VM) WaitFor(marker string, timeout time.Duration) time.Duration {
	vm.t.Helper()
	if err := vm.Console.Wait(marker, timeout, vm.exited); err != nil {
		vm.t.Fatalf("%s: %v\n--- console tail ---\n%s", vm.Name, err, vm.Console.Tail(3000))
	}
	return time.Since(vm.Started)
}

// Send types s on the serial console.
func (vm *VM) Send(s string) {
	vm.t.Helper()
	if _, err := io.WriteString(vm.stdin, s); err != nil {
		vm.t.Fatalf("type on the console: %v", err)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TailLines is how many of a console's last lines a failed test logs.
const TailLines = 40

// Console is the captured serial console: all output so far, also written
// to a file. Its lines go to t.Logf as they come only with
// BOS_VMTEST_STREAM=1; otherwise a failed test logs its last TailLines
// lines and the file's path, so that the failures' own messages are not
// lost among thousands of console lines.
type Console struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	line   []byte
	file   *os.File
	path   string
	t      TB
	stream bool
	closed bool
	notify chan struct{}
	start  time.Time
	label  string // what t.Logf calls each line: console, or packer
}

func newConsole(t TB, path string) *Console {
	c := &Console{t: t, path: path, notify: make(chan struct{}), start: time.Now(), label: "console", stream: os.Getenv("BOS_VMTEST_STREAM") == "1"}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		c.file, _ = os.Create(path)
	}
	return c
}

// Write implements io.Writer for QEMU's output.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.file != nil {
		c.file.Write(p)
	}
	for _, b := range p {
		if b == '\n' {
			if c.stream && !c.closed {
				c.t.Logf("%s %6.1fs: %s", c.label, time.Since(c.start).Seconds(), strings.TrimRight(string(c.line), "\r"))
			}
			c.line = c.line[:0]
			continue
		}
		c.line = append(c.line, b)
	}
	close(c.notify)
	c.notify = make(chan struct{})
	return len(p), nil
}

func (c *Console) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && !c.stream && c.t.Failed() {
		c.t.Logf("%s: the last %d lines of %s (%.0fs):\n%s", c.label, TailLines, c.path, time.Since(c.start).Seconds(), lastLines(strings.ReplaceAll(c.buf.String(), "\r", ""), TailLines))
	}
	c.closed = true
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
}

// String is everything the console printed so far.
func (c *Console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Tail is the last n bytes of the console.
func (c *Console) Tail(n int) string {
	s := c.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			if n--; n == 0 {
				return s[i+1:]
			}
		}
	}
	return s
}

// Wait waits for marker to appear, for the timeout, or for done.
func (c *Console) Wait(marker string, timeout time.Duration, done <-chan struct{}) error {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		found := bytes.Contains(c.buf.Bytes(), []byte(marker))
		ch := c.notify
		c.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("no %q on the console after %v", marker, timeout)
		case <-done:
			if strings.Contains(c.String(), marker) {
				return nil
			}
			return fmt.Errorf("QEMU exited before %q appeared on the console", marker)
		}
	}
}

// ArtifactLogDir is where console logs go: BOS_VMTEST_LOGS or
// build/vmtest under the repository.
func ArtifactLogDir() string {
	if d := os.Getenv("BOS_VMTEST_LOGS"); d != "" {
		return d
	}
	if root, err := RepoRoot(); err == nil {
		return filepath.Join(root, "build", "vmtest")
	}
	return os.TempDir()
}

// RepoRoot finds the directory holding go.mod, upwards from here.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Artifacts is dist/artifacts/. Without it a test skips, unless
// BOS_REQUIRE_VM=1 (make test), where it fails.
func Artifacts(t TB, names ...string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "dist", "artifacts")
	for _, n := range append([]string{"bos-amd64.iso"}, names...) {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			if os.Getenv("BOS_REQUIRE_VM") == "1" {
				t.Fatalf("%s missing and BOS_REQUIRE_VM=1: run make iso", filepath.Join(dir, n))
			}
			t.Skipf("%s missing: run make iso (BOS_REQUIRE_VM=1 makes this a failure)", filepath.Join(dir, n))
		}
	}
	if _, err := exec.LookPath(QEMU); err != nil {
		if os.Getenv("BOS_REQUIRE_VM") == "1" {
			t.Fatalf("%s missing and BOS_REQUIRE_VM=1: make deps", QEMU)
		}
		t.Skipf("%s missing", QEMU)
	}
	return dir
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}
