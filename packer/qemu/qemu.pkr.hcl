# qemu: a local disk image (qcow2, or raw) of Bhojpur OS for KVM, Proxmox
# and OpenStack, installed from the ISO unattended. QEMU boots the ISO's
# kernel and initrd (the release artifacts bos-vmlinuz-amd64 and
# bos-initrd-amd64) with the ISO attached and the installer's words on the
# cmdline; the installer fetches config.yaml from Packer's HTTP server,
# installs onto the disk and powers off. Nothing logs in: the communicator
# is none, and Packer waits for the power-off. See packer/README.md.

variable "iso_url" {
  type        = string
  description = "The Bhojpur OS ISO (bos-amd64.iso): a path or an http(s) URL."
  validation {
    condition     = length(var.iso_url) > 0
    error_message = "The iso_url must name the ISO, e.g. dist/artifacts/bos-amd64.iso."
  }
}

variable "iso_checksum" {
  type        = string
  description = "The ISO's checksum as Packer takes it: file:PATH-OR-URL of sha256sum-amd64.txt, or sha256:HEX."
  validation {
    condition     = contains(["file", "sha256"], split(":", var.iso_checksum)[0])
    error_message = "The iso_checksum must be file:.../sha256sum-amd64.txt or sha256:HEX; the ISO is always verified."
  }
}

variable "kernel" {
  type        = string
  description = "The ISO's kernel, the release artifact bos-vmlinuz-amd64 (a local path)."
}

variable "initrd" {
  type        = string
  description = "The ISO's initrd, the release artifact bos-initrd-amd64 (a local path)."
}

variable "config_dir" {
  type        = string
  description = "A directory holding config.yaml, the config to install (served to the installer by Packer's HTTP server on loopback)."
}

variable "output_directory" {
  type        = string
  default     = "output-bos-qemu"
  description = "Where the image is written (Packer refuses an existing one unless -force)."
}

variable "format" {
  type        = string
  default     = "qcow2"
  description = "The image format: qcow2 or raw."
  validation {
    condition     = contains(["qcow2", "raw"], var.format)
    error_message = "The format must be qcow2 or raw."
  }
}

variable "disk_size" {
  type        = string
  default     = "8G"
  description = "The virtual disk's size (at least 3G: BOS_STATE needs 2 GiB)."
}

variable "accelerator" {
  type        = string
  default     = "kvm"
  description = "QEMU's accelerator: kvm, or tcg where KVM does not work."
  validation {
    condition     = contains(["kvm", "tcg", "hvf", "whpx", "none"], var.accelerator)
    error_message = "The accelerator must be kvm, tcg, hvf, whpx or none."
  }
}

variable "memory" {
  type        = number
  default     = 1536
  description = "The build VM's memory in MiB."
}

variable "install_timeout" {
  type        = string
  default     = "30m"
  description = "How long Packer waits for the installer to power the VM off."
}

variable "serial_log" {
  type        = string
  default     = ""
  description = "A file for the build VM's serial console (empty: none)."
}

variable "cmdline" {
  type        = string
  default     = ""
  description = "More kernel cmdline words for the installer (bos.install.force_efi, bos.install.debug, ...)."
}

locals {
  # The installer's words: install mode, no questions, the disk, the config
  # from Packer's HTTP server, power off when done.
  append = join(" ", compact([
    "console=ttyS0,115200 panic=-1",
    "bos.mode=install bos.install.silent bos.install.device=/dev/vda",
    "bos.install.config_url=http://{{ .HTTPIP }}:{{ .HTTPPort }}/config.yaml",
    "bos.install.power_off",
    var.cmdline,
  ]))
  serial = var.serial_log == "" ? [] : [["-serial", "file:${var.serial_log}"]]
}

source "qemu" "bos" {
  iso_url           = var.iso_url
  iso_checksum      = var.iso_checksum
  output_directory  = var.output_directory
  vm_name           = "bos-amd64.${var.format}"
  format            = var.format
  disk_size         = var.disk_size
  disk_interface    = "virtio"
  net_device        = "virtio-net"
  accelerator       = var.accelerator
  memory            = var.memory
  headless          = true
  http_directory    = var.config_dir
  http_bind_address = "127.0.0.1"
  vnc_bind_address  = "127.0.0.1"
  communicator      = "none"
  boot_wait         = "1s"
  shutdown_timeout  = var.install_timeout
  qemuargs = concat([
    ["-kernel", var.kernel],
    ["-initrd", var.initrd],
    ["-append", local.append],
    ["-device", "virtio-rng-pci"],
  ], local.serial)
}

build {
  sources = ["source.qemu.bos"]
}
