# hetzner: a Hetzner Cloud snapshot of Bhojpur OS made by taking over a
# current Debian server: Packer uploads install.sh and the config and runs
# packer/scripts/takeover.sh, the script every takeover template shares.
# The hcloud builder then shuts the server down and snapshots it without
# booting it again, so the snapshot holds Bhojpur OS beside the rest of
# Debian, and the takeover's clean-up runs at the first boot of each server
# made from it (which then goes on booting). See packer/README.md.

variable "bos_iso_url" {
  type        = string
  description = "The Bhojpur OS ISO to install, an https URL with sha256sum-amd64.txt beside it (a release's bos-amd64.iso)."
  validation {
    condition     = substr(var.bos_iso_url, 0, 8) == "https://"
    error_message = "The bos_iso_url must be an https:// URL of bos-amd64.iso."
  }
}

variable "config_file" {
  type        = string
  default     = ""
  description = "The install-time config; empty: this directory's config.yaml (bos.data_sources: [hetzner]). A config of your own must list the hetzner data source too."
}

variable "hcloud_token" {
  type        = string
  default     = env("HCLOUD_TOKEN")
  sensitive   = true
  description = "A Hetzner Cloud API token with read and write rights (default: $HCLOUD_TOKEN). Never put it in a file that is committed."
}

variable "location" {
  type        = string
  default     = "fsn1"
  description = "The location of the build server."
}

variable "server_type" {
  type        = string
  default     = "cx22"
  description = "The build server's type (x86_64)."
}

variable "image" {
  type        = string
  default     = "debian-12"
  description = "The base image (ubuntu-24.04 works too)."
}

variable "snapshot_name" {
  type        = string
  default     = ""
  description = "The snapshot's name; empty: bos-amd64-TIMESTAMP."
}

locals {
  config        = var.config_file != "" ? var.config_file : "${path.root}/config.yaml"
  snapshot_name = var.snapshot_name != "" ? var.snapshot_name : "bos-amd64-${formatdate("YYYYMMDDhhmmss", timestamp())}"
}

source "hcloud" "bos" {
  token         = var.hcloud_token
  location      = var.location
  server_type   = var.server_type
  image         = var.image
  ssh_username  = "root"
  snapshot_name = local.snapshot_name
  snapshot_labels = {
    os = "bhojpur"
  }
}

build {
  sources = ["source.hcloud.bos"]

  provisioner "file" {
    source      = "${path.root}/../../install.sh"
    destination = "/tmp/bos-install.sh"
  }
  provisioner "file" {
    source      = local.config
    destination = "/tmp/bos-config.yaml"
  }
  provisioner "shell" {
    script = "${path.root}/../scripts/takeover.sh"
    environment_vars = [
      "BOS_ISO_URL=${var.bos_iso_url}",
    ]
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sh {{ .Path }}"
  }
}
