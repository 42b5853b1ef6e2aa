# The plugins the templates under packer/ need, pinned, for Packer 1.7 and
# later (where the builders are plugins): install them once with
#
#   packer init packer/plugins.pkr.hcl
#
# and build any template directory as usual (packer build packer/aws).
# This file lives outside the template directories on purpose: Debian's
# Packer 1.6.6, which has these builders built in, has no packer init and
# rejects a required_plugins block, and keeping it here lets every template
# validate and build with that Packer too. packer/packer_test.go checks that
# each builder the templates use is listed here with an exact version.
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "= 1.8.0"
    }
    googlecompute = {
      source  = "github.com/hashicorp/googlecompute"
      version = "= 1.2.5"
    }
    hcloud = {
      source  = "github.com/hetznercloud/hcloud"
      version = "= 1.6.0"
    }
    openstack = {
      source  = "github.com/hashicorp/openstack"
      version = "= 1.1.2"
    }
    digitalocean = {
      source  = "github.com/digitalocean/digitalocean"
      version = "= 1.4.0"
    }
    qemu = {
      source  = "github.com/hashicorp/qemu"
      version = "= 1.1.0"
    }
  }
}
