# digitalocean: a DigitalOcean snapshot of Bhojpur OS made by taking over a
# current Debian droplet: Packer uploads install.sh and the config and runs
# packer/scripts/takeover.sh, the script every takeover template shares.
# The digitalocean builder then shuts the droplet down and snapshots it
# without booting it again, so the snapshot holds Bhojpur OS beside the
# rest of Debian, and the takeover's clean-up runs at the first boot of
# each droplet made from it (which then goes on booting). See
# packer/README.md.

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
  description = "The install-time config; empty: this directory's config.yaml (bos.data_sources: [digitalocean]). A config of your own must list the digitalocean data source too."
}

variable "api_token" {
  type        = string
  default     = env("DIGITALOCEAN_TOKEN")
  sensitive   = true
  description = "A DigitalOcean API token with write scope (default: $DIGITALOCEAN_TOKEN). Never put it in a file that is committed."
}

variable "region" {
  type        = string
  default     = "fra1"
  description = "The region of the build droplet."
}

variable "size" {
  type        = string
  default     = "s-1vcpu-2gb"
  description = "The build droplet's size."
}

variable "image" {
  type        = string
  default     = "debian-12-x64"
  description = "The base image slug (ubuntu-24-04-x64 works too)."
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

source "digitalocean" "bos" {
  api_token     = var.api_token
  region        = var.region
  size          = var.size
  image         = var.image
  ssh_username  = "root"
  snapshot_name = local.snapshot_name
  tags          = ["bhojpur-os"]
}

build {
  sources = ["source.digitalocean.bos"]

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
