# gcp: a Compute Engine image of Bhojpur OS made by taking over a current
# Debian instance: Packer uploads install.sh and the config and runs
# packer/scripts/takeover.sh, the script every takeover template shares.
# The googlecompute builder then deletes the instance and makes the image
# from its disk without booting it again, so the image holds Bhojpur OS
# beside the rest of Debian, and the takeover's clean-up runs at the first
# boot of each instance made from it (which then goes on booting). See
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
  description = "The install-time config; empty: this directory's config.yaml (bos.data_sources: [gcp]). A config of your own must list the gcp data source too."
}

variable "project_id" {
  type        = string
  description = "The Google Cloud project to build in (credentials: application default credentials, or account_file)."
}

variable "account_file" {
  type        = string
  default     = ""
  description = "A service account key file (JSON); empty: application default credentials."
}

variable "zone" {
  type        = string
  default     = "europe-west3-a"
  description = "The zone of the build instance."
}

variable "machine_type" {
  type        = string
  default     = "e2-small"
  description = "The build instance's machine type."
}

variable "source_image_family" {
  type        = string
  default     = "debian-12"
  description = "The base image family (in source_image_project_id)."
}

variable "source_image_project_id" {
  type        = string
  default     = "debian-cloud"
  description = "The project of the base image family (ubuntu-os-cloud for Ubuntu)."
}

variable "disk_size" {
  type        = number
  default     = 10
  description = "The disk size in GB."
}

variable "image_name" {
  type        = string
  default     = ""
  description = "The new image's name; empty: bos-amd64-TIMESTAMP."
}

locals {
  config     = var.config_file != "" ? var.config_file : "${path.root}/config.yaml"
  image_name = var.image_name != "" ? var.image_name : "bos-amd64-${formatdate("YYYYMMDDhhmmss", timestamp())}"
}

source "googlecompute" "bos" {
  project_id              = var.project_id
  account_file            = var.account_file
  zone                    = var.zone
  machine_type            = var.machine_type
  source_image_family     = var.source_image_family
  source_image_project_id = [var.source_image_project_id]
  disk_size               = var.disk_size
  ssh_username            = "packer"
  image_name              = local.image_name
  image_family            = "bhojpur-os"
  image_description       = "Bhojpur OS, installed by takeover of ${var.source_image_family}"
  image_labels = {
    os = "bhojpur"
  }
}

build {
  sources = ["source.googlecompute.bos"]

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
      "BOS_TTY=ttyS0",
    ]
    execute_command = "chmod +x {{ .Path }}; sudo {{ .Vars }} sh {{ .Path }}"
  }
}
