# aws: an AMI of Bhojpur OS made by taking over a current Debian (or Ubuntu)
# instance: Packer uploads install.sh and the config, runs
# packer/scripts/takeover.sh (the script every takeover template shares),
# and reboots the instance. Bhojpur OS boots, deletes what is left of
# Debian and powers the instance off; Packer waits for it to stop (it does
# not stop it itself) and snapshots the clean volume. See packer/README.md.

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
  description = "The install-time config; empty: this directory's config.yaml (bos.data_sources: [aws]). A config of your own must list the aws data source too."
}

variable "region" {
  type        = string
  description = "The AWS region to build in (credentials come from the usual AWS environment, profile or instance role)."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "The build instance's type (x86_64, at least 1 GiB of memory)."
}

variable "source_ami_name" {
  type        = string
  default     = "debian-12-amd64-*"
  description = "The name filter of the base AMI; the newest match is used."
}

variable "source_ami_owners" {
  type        = list(string)
  default     = ["136693071363"]
  description = "Owners of the base AMI: Debian's account by default (Canonical's is 099720109477, with ssh_username ubuntu)."
}

variable "ssh_username" {
  type        = string
  default     = "admin"
  description = "The base image's login user: admin on Debian, ubuntu on Ubuntu."
}

variable "root_device_name" {
  type        = string
  default     = "/dev/xvda"
  description = "The base AMI's root device name (Debian /dev/xvda, Ubuntu /dev/sda1)."
}

variable "volume_size" {
  type        = number
  default     = 8
  description = "The root volume's size in GiB (BOS_STATE needs 2 GiB, the takeover room for the ISO beside Debian)."
}

variable "ami_name" {
  type        = string
  default     = ""
  description = "The new AMI's name; empty: bos-amd64-TIMESTAMP."
}

locals {
  config   = var.config_file != "" ? var.config_file : "${path.root}/config.yaml"
  ami_name = var.ami_name != "" ? var.ami_name : "bos-amd64-${formatdate("YYYYMMDDhhmmss", timestamp())}"
}

source "amazon-ebs" "bos" {
  region        = var.region
  instance_type = var.instance_type
  source_ami_filter {
    filters = {
      name                = var.source_ami_name
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = var.source_ami_owners
    most_recent = true
  }
  ssh_username = var.ssh_username
  launch_block_device_mappings {
    device_name           = var.root_device_name
    volume_size           = var.volume_size
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }
  # The first boot of Bhojpur OS powers off: Packer waits for the stop.
  disable_stop_instance = true
  shutdown_behavior     = "stop"
  aws_polling {
    delay_seconds = 15
    max_attempts  = 120
  }
  ami_name        = local.ami_name
  ami_description = "Bhojpur OS, installed by takeover of ${var.source_ami_name}"
  tags = {
    Name = local.ami_name
    os   = "bhojpur"
  }
}

build {
  sources = ["source.amazon-ebs.bos"]

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
      "BOS_POWEROFF=1",
      "BOS_TTY=ttyS0",
    ]
    execute_command = "chmod +x {{ .Path }}; sudo {{ .Vars }} sh {{ .Path }}"
  }
  # Into Bhojpur OS: the connection drops, and the instance stops by itself.
  provisioner "shell" {
    inline            = ["sudo systemctl reboot"]
    expect_disconnect = true
    skip_clean        = true
  }
}
