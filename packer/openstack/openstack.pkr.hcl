# openstack: an OpenStack (Glance) image of Bhojpur OS made by taking over
# a current Debian server: Packer uploads install.sh and the config and
# runs packer/scripts/takeover.sh, the script every takeover template
# shares. The openstack builder then stops the server and makes the image
# without booting it again, so the image holds Bhojpur OS beside the rest
# of Debian, and the takeover's clean-up runs at the first boot of each
# server made from it (which then goes on booting). See packer/README.md.
# (For an image installed from the ISO instead, build packer/qemu and
# upload its qcow2.)

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
  description = "The install-time config; empty: this directory's config.yaml (bos.data_sources: [openstack]). A config of your own must list the openstack data source too."
}

variable "identity_endpoint" {
  type        = string
  default     = env("OS_AUTH_URL")
  description = "The Keystone URL (default: $OS_AUTH_URL)."
}

variable "username" {
  type        = string
  default     = env("OS_USERNAME")
  description = "The OpenStack user (default: $OS_USERNAME)."
}

variable "password" {
  type        = string
  default     = env("OS_PASSWORD")
  sensitive   = true
  description = "The user's password (default: $OS_PASSWORD). Never put it in a file that is committed."
}

variable "domain_name" {
  type        = string
  default     = env("OS_USER_DOMAIN_NAME")
  description = "The user's domain (default: $OS_USER_DOMAIN_NAME)."
}

variable "tenant_name" {
  type        = string
  default     = env("OS_PROJECT_NAME")
  description = "The project to build in (default: $OS_PROJECT_NAME)."
}

variable "region" {
  type        = string
  default     = env("OS_REGION_NAME")
  description = "The region (default: $OS_REGION_NAME)."
}

variable "flavor" {
  type        = string
  description = "The build server's flavor (x86_64, at least 1 GiB of memory and a 10 GB disk)."
}

variable "source_image_name" {
  type        = string
  description = "The name of the Debian (or Ubuntu) base image in Glance."
}

variable "networks" {
  type        = list(string)
  default     = []
  description = "Network UUIDs for the build server (empty: the project's default)."
}

variable "floating_ip_network" {
  type        = string
  default     = ""
  description = "A network to take a floating IP from when the server is not reachable otherwise."
}

variable "ssh_username" {
  type        = string
  default     = "debian"
  description = "The base image's login user: debian on Debian, ubuntu on Ubuntu."
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

source "openstack" "bos" {
  identity_endpoint   = var.identity_endpoint
  username            = var.username
  password            = var.password
  domain_name         = var.domain_name
  tenant_name         = var.tenant_name
  region              = var.region
  flavor              = var.flavor
  source_image_name   = var.source_image_name
  networks            = var.networks
  floating_ip_network = var.floating_ip_network
  ssh_username        = var.ssh_username
  image_name          = local.image_name
  metadata = {
    os = "bhojpur"
  }
}

build {
  sources = ["source.openstack.bos"]

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
    execute_command = "chmod +x {{ .Path }}; sudo {{ .Vars }} sh {{ .Path }}"
  }
}
