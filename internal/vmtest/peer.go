package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// NoCloudSeed writes a NoCloud volume (an ISO labelled cidata) with
// userData as its user-data, for a VM's second CD-ROM drive (SeedDrive).
func NoCloudSeed(t TB, userData string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "cidata")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"user-data": userData, "meta-data": "instance-id: " + filepath.Base(dir) + "\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seed := filepath.Join(dir, "seed.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", "cidata", "-R", "-J", "-o", seed, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	return seed
}

// SeedDrive is the QEMU arguments of a NoCloud seed as a CD-ROM.
func SeedDrive(seed string) []string {
	return []string{"-drive", "file=" + seed + ",media=cdrom,if=ide,index=1,readonly=on"}
}

// Two VMs share a private L2 network through a QEMU socket: one listens on
// a loopback port, the other connects to it. Each keeps its user-mode NIC
// (eth0, ssh from the host); the private one is eth1.
const (
	PeerListen  = "listen"
	PeerConnect = "connect"
)

// PeerNIC is the QEMU arguments of a NIC with mac on the private network
// of port, as mode (PeerListen for the first VM, PeerConnect for the other).
func PeerNIC(mode string, port int, mac string) []string {
	return []string{"-netdev", fmt.Sprintf("socket,id=peer,%s=127.0.0.1:%d", mode, port), "-device", "virtio-net-pci,netdev=peer,mac=" + mac}
}

// PeerAddress is a write_files entry (cloud-config YAML, at the list's
// indentation) of a connman provisioning file that gives the NIC with mac
// the address ip/24 on the private network.
func PeerAddress(mac, ip string) string {
	return "- path: /var/lib/connman/peer.config\n  content: |\n" +
		"    [service_peer]\n    Type = ethernet\n    MAC = " + mac + "\n    IPv4 = " + ip + "/255.255.255.0\n"
}
