# qemu-takeover: the cloud templates' takeover, run locally. A Debian disk
# image stands in for a cloud's base image (make debian-disk builds one:
# images/debian-disk.sh); Packer boots it, logs in as root over SSH with the
# key it hands the guest through QEMU's fw_cfg (the disk holds no key),
# uploads install.sh and the config, and runs packer/scripts/takeover.sh,
# the script every takeover template shares. The shutdown command reboots:
# Bhojpur OS boots from the same disk, deletes what is left of Debian and
# powers off, and Packer keeps the disk. See packer/README.md.

variable "base_image" {
  type        = string
  description = "The disk image to take over: a Debian (or Ubuntu) system with sshd, booting by itself (build/images/debian-takeover.raw)."
}

variable "base_image_checksum" {
  type        = string
  description = "The base image's checksum as Packer takes it: sha256:HEX or file:PATH."
  validation {
    condition     = contains(["file", "sha256"], split(":", var.base_image_checksum)[0])
    error_message = "The base_image_checksum must be sha256:HEX or file:PATH (sha256sum build/images/debian-takeover.raw)."
  }
}

variable "artifacts_dir" {
  type        = string
  description = "A directory holding bos-amd64.iso and sha256sum-amd64.txt (dist/artifacts): Packer's HTTP server hands them to the guest."
}

variable "config_file" {
  type        = string
  description = "The config to install (its SSH key is the one to log in with afterwards)."
}

variable "ssh_private_key_file" {
  type        = string
  description = "The private key Packer logs in to the base image with, as root."
}

variable "ssh_public_key_file" {
  type        = string
  description = "Its public key: QEMU hands it to the guest as fw_cfg opt/net.bhojpur/authorized_keys."
}

variable "output_directory" {
  type        = string
  default     = "output-bos-qemu-takeover"
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

variable "ssh_timeout" {
  type        = string
  default     = "20m"
  description = "How long Packer waits for the base image's sshd."
}

variable "takeover_timeout" {
  type        = string
  default     = "30m"
  description = "How long Packer waits, after the reboot, for Bhojpur OS to clean up and power off."
}

variable "serial_log" {
  type        = string
  default     = ""
  description = "A file for the build VM's serial console (empty: none)."
}

locals {
  serial = var.serial_log == "" ? [] : [["-serial", "file:${var.serial_log}"]]
}

source "qemu" "bos" {
  iso_url              = var.base_image
  iso_checksum         = var.base_image_checksum
  disk_image           = true
  skip_resize_disk     = true # the image keeps the base image's size and partitions
  output_directory     = var.output_directory
  vm_name              = "bos-amd64-takeover.${var.format}"
  format               = var.format
  disk_interface       = "virtio"
  net_device           = "virtio-net"
  accelerator          = var.accelerator
  memory               = var.memory
  headless             = true
  http_directory       = var.artifacts_dir
  http_bind_address    = "127.0.0.1"
  vnc_bind_address     = "127.0.0.1"
  communicator         = "ssh"
  ssh_username         = "root"
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = var.ssh_timeout
  # Reboot into Bhojpur OS: its first boot prunes Debian and powers off
  # (takeover.sh ran the install with BOS_POWEROFF=1), which is the end of
  # the build that Packer waits for.
  shutdown_command = "systemctl reboot"
  shutdown_timeout = var.takeover_timeout
  qemuargs = concat([
    ["-fw_cfg", "name=opt/net.bhojpur/authorized_keys,file=${var.ssh_public_key_file}"],
    # SSH forwarded on loopback only (Packer's default listens everywhere).
    ["-netdev", "user,id=user.0,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22"],
    ["-device", "virtio-rng-pci"],
  ], local.serial)
}

build {
  sources = ["source.qemu.bos"]

  provisioner "file" {
    source      = "${path.root}/../../install.sh"
    destination = "/tmp/bos-install.sh"
  }
  provisioner "file" {
    source      = var.config_file
    destination = "/tmp/bos-config.yaml"
  }
  provisioner "shell" {
    script = "${path.root}/../scripts/takeover.sh"
    environment_vars = [
      "BOS_ISO_URL=http://${build.PackerHTTPAddr}/bos-amd64.iso",
      "BOS_POWEROFF=1",
    ]
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sh {{ .Path }}"
  }
}
